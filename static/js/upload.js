// The upload form: a files picker, a folder picker and a drop zone that takes files or folders.
// Django keeps only base names, so the relative paths inside a folder go along in #id_folder_paths
// (DICOM exports repeat names such as IM_0001 in every series folder).
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
  form.addEventListener("submit", () => {
    document.getElementById("upload-button").disabled = true;
    document.getElementById("progress").textContent = "Uploading and checking… large DICOM sets take a minute.";
  });
})();
