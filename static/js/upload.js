// Drag-and-drop onto the upload form: dropped files replace the file input's selection.
(function () {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("id_files");
  const list = document.getElementById("chosen");
  const form = document.getElementById("upload-form");
  if (!zone || !input) return;

  function showChosen() {
    list.replaceChildren(...Array.from(input.files).slice(0, 20).map((f) => {
      const li = document.createElement("li");
      li.textContent = `${f.name} (${(f.size / 1048576).toFixed(1)} MB)`;
      return li;
    }));
    if (input.files.length > 20) list.append(`… and ${input.files.length - 20} more`);
  }
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    input.files = e.dataTransfer.files;
    showChosen();
  });
  input.addEventListener("change", showChosen);
  form.addEventListener("submit", () => {
    document.getElementById("upload-button").disabled = true;
    document.getElementById("progress").textContent = "Uploading and checking… large DICOM sets take a minute.";
  });
})();
