// The upload form: a files picker, a folder picker and a drop zone that takes files or folders.
// Django keeps only base names, so the relative paths inside a folder go along in #id_folder_paths
// (DICOM exports repeat names such as IM_0001 in every series folder).
// Where tus-js-client works, the files are sent first, each resumable in chunks (a dropped link retries
// from the bytes the server holds; choosing the same files again after a reload resumes them too), and
// the form goes without them, naming the finished uploads in tus_uploads. Without JavaScript the form
// posts the files itself.
(function () {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("id_files");
  const folder = document.getElementById("id_folder");
  const folderPaths = document.getElementById("id_folder_paths");
  const list = document.getElementById("chosen");
  const form = document.getElementById("upload-form");
  if (!zone || !input) return;

  function showChosen() {
    const chosen = [...Array.from(input.files), ...Array.from(folder.files)];
    const paths = JSON.parse(folderPaths.value || "[]");
    list.replaceChildren(...chosen.slice(0, 20).map((f, i) => {
      const li = document.createElement("li");
      const name = i >= input.files.length ? paths[i - input.files.length] || f.name : f.name;
      li.textContent = `${name} (${(f.size / 1048576).toFixed(1)} MB)`;
      return li;
    }));
    if (chosen.length > 20) list.append(`… and ${chosen.length - 20} more`);
  }

  function useFolder(files, paths) {
    const transfer = new DataTransfer();
    files.forEach((f) => transfer.items.add(f));
    folder.files = transfer.files;
    folderPaths.value = JSON.stringify(paths);
  }

  // Every file under a dropped folder, with its path from the dropped item.
  function walk(entry, found) {
    if (entry.isFile) {
      return new Promise((resolve) => entry.file((f) => { found.push([f, entry.fullPath.replace(/^\//, "")]); resolve(); }, resolve));
    }
    const reader = entry.createReader();
    return new Promise((resolve) => {
      const next = () => reader.readEntries(async (entries) => {
        if (!entries.length) return resolve();
        await Promise.all(entries.map((e) => walk(e, found)));
        next();
      }, resolve);
      next();
    });
  }

  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    // Entries must be taken before the first await: the drop's data is cleared afterwards.
    const entries = Array.from(e.dataTransfer.items || []).map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
    if (entries.some((entry) => entry.isDirectory)) {
      const found = [];
      await Promise.all(entries.map((entry) => walk(entry, found)));
      input.value = "";
      useFolder(found.map(([f]) => f), found.map(([, path]) => path));
    } else {
      input.files = e.dataTransfer.files;
    }
    showChosen();
  });
  input.addEventListener("change", showChosen);
  folder.addEventListener("change", () => {
    folderPaths.value = JSON.stringify(Array.from(folder.files).map((f) => f.webkitRelativePath || f.name));
    showChosen();
  });
  const button = document.getElementById("upload-button");
  const progress = document.getElementById("progress");
  const bar = document.getElementById("tus-progress");
  const tusField = form.querySelector("[name=tus_uploads]");
  const useTus = Boolean(window.tus && window.tus.isSupported && form.dataset.tusEndpoint && tusField);
  const MB = 1048576;
  const PARALLEL = 3; // DICOM folders are thousands of small files: a few at a time hides the latency
  const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000, 60000, 60000];
  const finishedIds = new Map(); // files already sent are not sent again when the button is pressed again

  // [file, path inside the chosen folder or its name] for everything chosen.
  function chosenFiles() {
    const paths = JSON.parse(folderPaths.value || "[]");
    return [...Array.from(input.files).map((f) => [f, f.name]),
      ...Array.from(folder.files).map((f, i) => [f, paths[i] || f.webkitRelativePath || f.name])];
  }

  function sendOne(file, path, examBytes, onProgress) {
    const endpoint = new URL(form.dataset.tusEndpoint, window.location.href).href;
    return new Promise((resolve, reject) => {
      const upload = new window.tus.Upload(file, {
        endpoint,
        chunkSize: Number(form.dataset.chunkBytes) || 16 * MB,
        retryDelays: RETRY_DELAYS,
        metadata: { filename: path, study: form.dataset.study, exam_bytes: String(examBytes) },
        headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
        // The path tells apart the IM_0001 of each series folder; the study keeps studies apart.
        fingerprint: () => Promise.resolve(
          ["qsmstudy", endpoint, form.dataset.study, path, file.size, file.lastModified].join("|")),
        removeFingerprintOnSuccess: true,
        onProgress,
        onSuccess: () => resolve(upload.url.split("/").pop()),
        onError: (error) => {
          // A refusal (4xx: too large, not allowed) names the file itself; anything else was the link or the server.
          const response = error.originalResponse;
          const refusal = response && response.getStatus() < 500 ? response.getBody() : "";
          reject(new Error(refusal ||
            `${path} could not be sent (${error.message}). Press the button again to resume.`));
        },
      });
      upload.findPreviousUploads().then((previous) => {
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
        upload.start();
      });
    });
  }

  async function sendAll(chosen) {
    const total = chosen.reduce((sum, [f]) => sum + f.size, 0);
    const sent = new Array(chosen.length).fill(0);
    const ids = new Array(chosen.length);
    let next = 0;
    let finished = 0;
    const show = () => {
      const done = sent.reduce((a, b) => a + b, 0);
      bar.value = total ? (100 * done) / total : 100;
      progress.textContent = `Sending ${(done / MB).toFixed(1)} of ${(total / MB).toFixed(1)} MB ` +
        `(${finished} of ${chosen.length} files)… a dropped connection resumes by itself.`;
    };
    let failed = false;
    async function worker() {
      while (next < chosen.length && !failed) {
        const index = next++;
        const [file, path] = chosen[index];
        const key = [path, file.size, file.lastModified].join("|");
        if (!finishedIds.has(key)) {
          try {
            finishedIds.set(key, await sendOne(file, path, total, (bytes) => { sent[index] = bytes; show(); }));
          } catch (error) {
            failed = true; // the other workers finish their file and stop
            throw error;
          }
        }
        ids[index] = finishedIds.get(key);
        sent[index] = file.size;
        finished += 1;
        show();
      }
    }
    bar.hidden = false;
    show();
    // Settled, not just failed: pressing the button again must not race uploads still running.
    const outcomes = await Promise.allSettled(Array.from({ length: Math.min(PARALLEL, chosen.length) }, worker));
    const failure = outcomes.find((outcome) => outcome.status === "rejected");
    if (failure) throw failure.reason;
    return ids;
  }

  form.addEventListener("submit", async (event) => {
    const chosen = chosenFiles();
    button.disabled = true;
    if (!useTus || !chosen.length) {
      progress.textContent = "Uploading and checking… large DICOM sets take a minute.";
      return;
    }
    event.preventDefault();
    try {
      tusField.value = JSON.stringify(await sendAll(chosen));
    } catch (error) {
      progress.textContent = `Upload stopped: ${error.message}`;
      button.disabled = false;
      return;
    }
    // The files are on the server: the form goes without them.
    input.value = "";
    folder.value = "";
    folderPaths.value = "[]";
    progress.textContent = "All files sent; checking… large DICOM sets take a minute.";
    form.submit();
  });
})();
