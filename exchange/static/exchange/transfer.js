// A BIDS export or import job's page: poll its status JSON until it is finished, showing progress,
// then the download link (export), the notes (import) or the problems (a refused import).
(function () {
  const FINISHED = new Set(["succeeded", "failed"]);
  const box = document.getElementById("transfer");
  if (!box) return;
  const $ = (id) => document.getElementById(id);

  function list(element, items) {
    element.replaceChildren(...items.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    element.hidden = items.length === 0;
  }

  function show(s) {
    box.dataset.status = s.status;
    const state = $("transfer-state");
    state.textContent = s.state;
    state.className = `status-${s.status}`;
    $("transfer-waiting").hidden = s.status !== "queued";
    $("transfer-bar").hidden = s.status === "failed";
    if ($("transfer-study")) $("transfer-study").hidden = s.status !== "succeeded";
    $("transfer-progress").value = s.percent;
    $("transfer-stage").textContent = s.stage;
    $("transfer-message").textContent = s.message;
    list($("transfer-problems"), s.problems || []);
    list($("transfer-notes"), (s.result && s.result.notes) || []);
    if (s.download) {
      $("download-link").href = s.download;
      $("download-link").textContent = `Download ${s.file_name}`;
      $("transfer-download").hidden = false;
    }
  }

  async function poll() {
    try {
      const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) show(await response.json());
    } catch (e) { /* network hiccup: try again next tick */ }
    if (!FINISHED.has(box.dataset.status)) setTimeout(poll, 1000);
  }
  if (!FINISHED.has(box.dataset.status)) setTimeout(poll, 500);
})();
