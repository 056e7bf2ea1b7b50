"""The coordinator's whole path in headless Chromium, with a real worker, on a clean database.

Log in, create a patient, enter an exam, upload a multi-echo scan, watch its reconstruction finish,
place the four ROIs, and find the patient in the dashboard's table and plots. Screenshots of every
page land in test-artifacts/e2e-*.png.
"""
import numpy as np
import pytest
from playwright.sync_api import expect

from clinical.models import Patient
from clinical.scanio.synthetic import write_nifti_series
from tests.conftest import log_in, screenshot, wait_for, wait_for_plots
from tests.recon_data import phantom

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def roi_centre(name: str) -> np.ndarray:
    head = phantom()
    return (head.affine @ np.r_[np.argwhere(head.rois[name]).mean(axis=0), 1])[:3].round(1)


def test_a_coordinators_whole_path(page, workers, coordinator, study, tmp_path):
    workers.start()
    log_in(page, coordinator.username)
    screenshot(page, "e2e-1-home")
    page.get_by_role("link", name=study.name).click()
    page.get_by_role("link", name="New patient").click()
    page.fill("#id_code", "ALS-E2E")
    page.select_option("#id_diagnosis", "ALS")
    page.fill("#id_onset_month", "2022-02")
    page.get_by_role("button", name="Save patient").click()
    page.wait_for_selector("text=Patient ALS-E2E created.")

    page.get_by_role("link", name="New exam").click()
    page.fill("#id_date", "2024-03-01")
    page.fill("#id_examiner", "Dr End-to-End")
    page.select_option("#id_mas_upper_right", "1+")
    page.select_option("#id_reflex_biceps_right", "3")
    page.fill("#id_penn_umn_score", "12")
    screenshot(page, "e2e-2-exam")
    page.get_by_role("button", name="Save exam").click()
    expect(page.locator("#exams tr.exam td.spasticity")).to_contain_text("present", use_inner_text=True)

    head = phantom()
    # Anonymised sidecars carry no acquisition date, so the page asks for one.
    files = write_nifti_series(tmp_path / "scan", head.magnitude, head.phase, head.te_s, head.affine,
                               field_strength_t=head.b0_tesla, identifying=False)
    page.get_by_role("link", name="Upload scan").click()
    page.fill("#id_scan_date", "2024-03-05")
    page.set_input_files("#id_files", [str(f) for f in files])
    screenshot(page, "e2e-3-upload")
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("#scan-facts")).to_be_visible()
    expect(page.locator("#nearest-exam")).to_contain_text("4 days before the scan", use_inner_text=True)

    page.wait_for_selector("#runs tr.run .status-succeeded", timeout=180000)
    screenshot(page, "e2e-4-reconstructed")
    for name in ("LMC", "RMC", "LCT", "RCT"):
        x, y, z = roi_centre(name)
        page.select_option("#roi-sphere select[name=name]", name)
        page.fill("#roi-sphere input[name=x]", str(x))
        page.fill("#roi-sphere input[name=y]", str(y))
        page.fill("#roi-sphere input[name=z]", str(z))
        page.fill("#roi-sphere input[name=radius]", "6")
        page.get_by_role("button", name="Place sphere").click()
        page.wait_for_selector(f"text=Saved {name} v1")

    def measured() -> bool:
        page.reload()
        return page.locator("#roi-values tr.roi .mean").count() == 4

    wait_for(measured, timeout=60, interval=1)
    screenshot(page, "e2e-5-roi-values")

    page.goto(f"/studies/{study.pk}/")
    page.get_by_role("link", name="Dashboard").click()
    wait_for_plots(page)
    expect(page.locator("#dataset")).to_contain_text("ALS-E2E", use_inner_text=True)
    links = page.locator("#plot-groups svg a")
    expect(links).to_have_count(2)  # the one patient, in the motor and the control panel
    patient = Patient.objects.get(study=study, code="ALS-E2E")
    assert (links.first.get_attribute("xlink:href") or links.first.get_attribute("href")) == patient.get_absolute_url()
    screenshot(page, "e2e-6-dashboard")
