"""In headless Chromium (WebGL2 in software): open the viewer, draw an ROI, save it, see its value."""
import datetime as dt

import nibabel as nib
import numpy as np
import pytest

from clinical.models import Patient
from recon.models import ReconRun, RoiDefinition, RoiValue
from tests.conftest import log_in, screenshot, wait_for
from tests.recon_data import phantom_scan

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_a_coordinator_draws_an_roi_and_sees_its_value(page, recon_worker, coordinator, study):
    patient = Patient.objects.create(study=study, code="ALS-010", diagnosis="ALS", onset_month=dt.date(2021, 1, 1))
    scan = phantom_scan(patient)
    run = scan.recon_runs.get()
    wait_for(lambda: ReconRun.objects.get(pk=run.pk).status == ReconRun.Status.SUCCEEDED, timeout=120)

    log_in(page, coordinator.username)
    page.goto(scan.get_absolute_url())
    page.get_by_role("link", name="Open the viewer to draw ROIs").click()
    page.wait_for_selector("body[data-viewer-ready=true]", timeout=60000)
    assert "χ overlay" in page.locator("#viewer-status").inner_text()

    canvas = page.locator("#viewer-canvas")
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(cx, cy)  # crosshair: the value under the cursor is shown in ppb
    page.wait_for_function("document.getElementById('cursor-ppb').textContent !== '—'")
    float(page.locator("#cursor-ppb").inner_text())

    page.check("#draw-enabled")
    page.select_option("#draw-label", label="LMC")
    page.check("#draw-fill")
    page.mouse.move(cx - 40, cy - 40)
    page.mouse.down()
    for x, y in [(cx + 40, cy - 40), (cx + 40, cy + 40), (cx - 40, cy + 40), (cx - 40, cy - 40)]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    screenshot(page, "viewer-drawn")
    page.click("#draw-save")
    page.wait_for_selector("#draw-result[data-state=saved]")
    assert "Saved LMC v1" in page.locator("#draw-result").inner_text()

    roi = RoiDefinition.objects.get(scan=scan, name="LMC")
    assert roi.source == "drawn" and roi.voxels > 20
    mask = np.asarray(nib.load(roi.path).dataobj) > 0
    assert len(np.unique(np.argwhere(mask)[:, 2])) == 1  # painted on one axial slice
    wait_for(lambda: RoiValue.objects.filter(roi=roi, run=run).exists(), timeout=60)

    page.goto(scan.get_absolute_url())
    row = page.locator("#roi-values tr.roi[data-roi=LMC]")
    value = RoiValue.objects.get(roi=roi, run=run)
    assert row.locator(".mean").inner_text() == f"{value.mean_ppb:.1f}"
    screenshot(page, "scan-roi-values")
