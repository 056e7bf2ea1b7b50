// Live state of an upload being ingested: poll its status JSON; show the scan when stored.
(function () {
  const box = document.getElementById("ingest");
  if (!box) return;
  const FINISHED = new Set(["stored", "refused"]);

  function show(s) {
    const status = document.getElementById("ingest-status");
    status.textContent = s.label;
    status.className = `status-${s.status}`;
    document.getElementById("ingest-stage").textContent = s.stage === s.status ? "" : s.stage;
    box.dataset.status = s.status;
    if (s.status === "stored") window.location.assign(s.scan_url);
    else if (s.status === "refused") window.location.reload();  // the page lists the reasons and what to do
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
