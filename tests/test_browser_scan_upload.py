"""In headless Chromium: upload a DICOM zip through the form, follow its ingest, and see the scan page."""
import datetime as dt

import pytest
from playwright.sync_api import expect

from clinical.models import Patient, ScanSession
from tests.conftest import loaded_image_width, log_in, run_ingests, screenshot
from tests.scan_data import dicom_zip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_coordinator_uploads_a_scan(page, coordinator, study, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    patient = Patient.objects.create(study=study, code="ALS-003", diagnosis="ALS", onset_month=dt.date(2022, 5, 1))
    log_in(page, coordinator.username)
    page.goto(patient.get_absolute_url())
    page.get_by_role("link", name="Upload scan").click()
    expect(page.locator("body")).to_contain_text("De-identification:")
    page.fill("#id_scan_date", "2024-03-15")  # as the headers say; a contradicting date is refused
    page.set_input_files("#id_files", [str(dicom_zip(tmp_path))])
    screenshot(page, "scan-upload-form")
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("#ingest-status")).to_have_text("received, waiting for a worker", use_inner_text=True)
    expect(page.locator("h1")).to_contain_text("series.zip", use_inner_text=True)
    screenshot(page, "scan-ingest-waiting")
    run_ingests()  # what the ingest worker does; the page polls and moves on to the scan by itself
    facts = page.locator("#scan-facts")
    for fact in ("5.0, 10.0, 15.0, 20.0 ms (4 echoes)", "24 × 24 × 12", "RAS"):
        expect(facts).to_contain_text(fact, use_inner_text=True)
    assert loaded_image_width(page, "#scan-preview") > 0
    screenshot(page, "scan-page")
    assert ScanSession.objects.get().patient == patient
