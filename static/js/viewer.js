// Scan viewer: magnitude background, chi overlay (ppm), ROI drawing saved to the server as NIfTI.
(async function () {
  const cfg = JSON.parse(document.getElementById("viewer-config").textContent);
  const status = document.getElementById("viewer-status");
  const $ = (id) => document.getElementById(id);
  const csrf = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1];

  const nv = new niivue.Niivue({ backColor: [0.08, 0.08, 0.1, 1], show3Dcrosshair: true, isColorbar: !!cfg.chi,
                                 dragAndDropEnabled: false });
  window.qsmViewer = nv; // handy from the console
  await nv.attachTo("viewer-canvas");
  const volumes = [{ url: cfg.background, name: "magnitude_echo1.nii.gz", colormap: "gray" }];
  if (cfg.chi) {
    const limit = cfg.chi_limit_ppm;
    volumes.push({ url: cfg.chi, name: "chi.nii.gz", colormap: "warm", colormapNegative: "winter",
                   cal_min: limit / 20, cal_max: limit, opacity: 0.7 });
  }
  await nv.loadVolumes(volumes);
  nv.volumes.forEach((v, i) => { v.colorbarVisible = i === 1; }); // the χ scale only
  nv.updateGLVolume();
  if (cfg.drawing) await nv.loadDrawingFromUrl(cfg.drawing);
  else nv.createEmptyDrawing();
  nv.setSliceType(nv.sliceTypeAxial);
  status.textContent = cfg.chi ? "Magnitude with χ overlay (ppm)." : "Magnitude.";
  document.body.dataset.viewerReady = "true";

  nv.onLocationChange = (data) => {
    const [x, y, z] = data.mm;
    $("cursor-mm").textContent = `RAS ${x.toFixed(1)}, ${y.toFixed(1)}, ${z.toFixed(1)} mm`;
    const chi = data.values && data.values[1];
    $("cursor-ppb").textContent = chi ? (1000 * chi.value).toFixed(1) : "—";
  };

  document.querySelectorAll("[data-slice]").forEach((button) =>
    button.addEventListener("click", () => nv.setSliceType(niivue.SLICE_TYPE[button.dataset.slice])));
  $("chi-opacity")?.addEventListener("input", (e) => nv.setOpacity(1, Number(e.target.value)));
  $("chi-limit")?.addEventListener("change", (e) => {
    const limit = Math.max(0.001, Number(e.target.value));
    nv.volumes[1].cal_min = limit / 20;
    nv.volumes[1].cal_max = limit;
    nv.updateGLVolume();
  });

  if (!cfg.save) return;
  const pen = () => nv.setPenValue(Number($("draw-label").value), $("draw-fill").checked);
  $("draw-enabled").addEventListener("change", (e) => { nv.setDrawingEnabled(e.target.checked); pen(); });
  $("draw-label").addEventListener("change", pen);
  $("draw-fill").addEventListener("change", pen);
  $("draw-undo").addEventListener("click", () => nv.drawUndo());
  $("draw-save").addEventListener("click", async () => {
    const result = $("draw-result");
    result.textContent = "Saving…";
    const bytes = await nv.saveImage({ filename: "", isSaveDrawing: true, volumeByIndex: 0 });
    if (!bytes) { result.textContent = "Nothing drawn yet."; return; }
    const body = new FormData();
    body.append("drawing", new Blob([bytes], { type: "application/octet-stream" }), "drawing.nii");
    const response = await fetch(cfg.save, { method: "POST", body, headers: { "X-CSRFToken": csrf } });
    const answer = await response.json();
    result.textContent = response.ok
      ? `Saved ${answer.saved.join(", ") || "nothing new"}${answer.unchanged.length ? ` (unchanged: ${answer.unchanged.join(", ")})` : ""}.`
      : answer.error;
    result.dataset.state = response.ok ? "saved" : "error";
  });
})();
