"""In headless Chromium: the scan page shows a run go from queued to succeeded, live."""
import datetime as dt

import pytest
from playwright.sync_api import expect

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
    expect(status).to_have_text("queued", use_inner_text=True)
    screenshot(page, "recon-queued")

    workers.start()
    expect(page.locator("#runs tr.run .status-succeeded")).to_be_visible(timeout=120000)
    run = ReconRun.objects.get(scan=scan)
    assert run.status == ReconRun.Status.SUCCEEDED
    assert loaded_image_width(page, f"#run-output-{run.pk} img") > 0
    expect(page.locator("#runs tr.run").first).to_contain_text("current", use_inner_text=True)
    screenshot(page, "recon-succeeded")


def test_a_viewer_sees_runs_but_no_buttons(page, workers, viewer, study):
    patient = Patient.objects.create(study=study, code="ALS-009", diagnosis="ALS")
    scan = phantom_scan(patient)
    log_in(page, viewer.username)
    page.goto(scan.get_absolute_url())
    expect(page.locator("#runs tr.run")).to_have_count(1)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator("#new-run")).to_have_count(0)
