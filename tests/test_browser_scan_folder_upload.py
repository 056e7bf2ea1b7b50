"""In headless Chromium: choose a whole DICOM folder, leave the date blank, and confirm the header facts."""
import datetime as dt

import re

import pytest
from playwright.sync_api import expect

from clinical.models import Patient, ScanSession
from tests.conftest import finish_ingest, log_in, screenshot
from tests.scan_data import dicom_folder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_coordinator_uploads_a_dicom_folder_without_typing_the_date(page, coordinator, study, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    patient = Patient.objects.create(study=study, code="ALS-004", diagnosis="ALS", onset_month=dt.date(2022, 5, 1))
    log_in(page, coordinator.username)
    page.goto(patient.get_absolute_url())
    page.get_by_role("link", name="Upload scan").click()
    page.set_input_files("#id_folder", str(dicom_folder(tmp_path)))  # series-IM005/IM_0001, series-IM006/IM_0001, ...
    # Paths inside the folder.
    expect(page.locator("#chosen")).to_contain_text("exam-0/series-IM005/IM_00", use_inner_text=True)
    screenshot(page, "scan-upload-folder")
    page.get_by_role("button", name="Upload and check").click()
    finish_ingest(page)
    facts = page.locator("#scan-facts")
    expect(facts).to_contain_text("2024-03-15 10:15:30 (from the headers)", use_inner_text=True)
    for fact in ("SIEMENS Prisma, software syngo MR E11", "qsm_megre", "3.0 T"):
        expect(facts).to_contain_text(fact, use_inner_text=True)
    expect(page.locator("h1")).to_have_text(re.compile(r"^\s*Scan of 2024-03-15"), use_inner_text=True)
    screenshot(page, "scan-page-header-facts")
    assert ScanSession.objects.get().patient == patient
