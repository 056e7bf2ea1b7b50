"""In headless Chromium: the scan page shows a run go from queued to succeeded, live."""
import datetime as dt

import pytest

from clinical.models import Patient
from recon.models import ReconRun
from tests.conftest import loaded_image_width, log_in, screenshot
from tests.recon_data import phantom_scan

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_the_scan_page_follows_a_run_to_success(page, workers, coordinator, study):
    patient = Patient.objects.create(study=study, code="PLS-002", diagnosis="PLS", onset_month=dt.date(2019, 1, 1))
    scan = phantom_scan(patient)
    log_in(page, coordinator.username)
    page.goto(scan.get_absolute_url())
    status = page.locator("#runs tr.run .run-status")
    assert status.inner_text() == "queued"
    screenshot(page, "recon-queued")

    workers.start()
    page.wait_for_selector("#runs tr.run .status-succeeded", timeout=120000)
    run = ReconRun.objects.get(scan=scan)
    assert run.status == ReconRun.Status.SUCCEEDED
    assert loaded_image_width(page, f"#run-output-{run.pk} img") > 0
    assert "current" in page.locator("#runs tr.run").first.inner_text()
    screenshot(page, "recon-succeeded")


def test_a_viewer_sees_runs_but_no_buttons(page, workers, viewer, study):
    patient = Patient.objects.create(study=study, code="ALS-009", diagnosis="ALS")
    scan = phantom_scan(patient)
    log_in(page, viewer.username)
    page.goto(scan.get_absolute_url())
    assert page.locator("#runs tr.run").count() == 1
    assert page.get_by_role("button", name="Cancel").count() == 0
    assert page.locator("#new-run").count() == 0
