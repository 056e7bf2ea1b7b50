// Live progress of reconstruction runs: poll each unfinished run's status JSON.
(function () {
  const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
  const rows = Array.from(document.querySelectorAll("tr.run[data-run-id]"));

  function update(row, s) {
    const before = row.dataset.status;
    row.dataset.status = s.status;
    const status = row.querySelector(".run-status");
    status.textContent = s.status;
    status.className = `run-status status-${s.status}`;
    row.querySelector("progress").value = s.percent;
    row.querySelector(".run-stage").textContent = s.stage;
    row.querySelector(".run-elapsed").textContent = s.elapsed_seconds === null ? "" : `${Math.round(s.elapsed_seconds)} s`;
    row.querySelector(".run-error").textContent = s.error;
    // A newly finished run brings previews, downloads and buttons: show them.
    if (!FINISHED.has(before) && FINISHED.has(s.status)) window.location.reload();
  }

  async function poll() {
    const pending = rows.filter((r) => !FINISHED.has(r.dataset.status));
    await Promise.all(pending.map(async (row) => {
      try {
        const response = await fetch(row.dataset.statusUrl, { headers: { Accept: "application/json" } });
        if (response.ok) update(row, await response.json());
      } catch (e) { /* network hiccup: try again next tick */ }
    }));
    if (rows.some((r) => !FINISHED.has(r.dataset.status))) setTimeout(poll, 1500);
  }
  if (rows.some((r) => !FINISHED.has(r.dataset.status))) setTimeout(poll, 1000);
})();
