"""In headless Chromium (WebGL2 in software): open the viewer, draw an ROI, save it, see its value."""
import datetime as dt
import re

import nibabel as nib
import numpy as np
import pytest
from playwright.sync_api import expect

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
    expect(page.locator("body[data-viewer-ready=true]")).to_be_attached(timeout=60000)
    expect(page.locator("#viewer-status")).to_contain_text("χ overlay", use_inner_text=True)

    canvas = page.locator("#viewer-canvas")
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(cx, cy)  # crosshair: the value under the cursor is shown in ppb
    expect(page.locator("#cursor-ppb")).to_have_text(re.compile(r"^-?\d+(\.\d+)?$"), use_inner_text=True)

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
    expect(page.locator("#draw-result")).to_have_attribute("data-state", "saved")
    expect(page.locator("#draw-result")).to_contain_text("Saved LMC v1", use_inner_text=True)

    roi = RoiDefinition.objects.get(scan=scan, name="LMC")
    assert roi.source == "drawn" and roi.voxels > 20
    mask = np.asarray(nib.load(roi.path).dataobj) > 0
    assert len(np.unique(np.argwhere(mask)[:, 2])) == 1  # painted on one axial slice
    wait_for(lambda: RoiValue.objects.filter(roi=roi, run=run).exists(), timeout=60)

    page.goto(scan.get_absolute_url())
    row = page.locator("#roi-values tr.roi[data-roi=LMC]")
    value = RoiValue.objects.get(roi=roi, run=run)
    expect(row.locator(".mean")).to_have_text(f"{value.mean_ppb:.1f}", use_inner_text=True)
    screenshot(page, "scan-roi-values")
