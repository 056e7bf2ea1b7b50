"""In headless Chromium: one DICOM export per vendor, chosen as a folder, stored with the headers' facts."""
import datetime as dt

import pytest
from playwright.sync_api import expect

from clinical.models import Patient, ScanSession
from clinical.scanio.synthetic_vendors import write_vendor_series
from tests.conftest import finish_ingest, log_in
from tests.scanio.conftest import axial_affine, make_truth

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ACQUIRED = dt.datetime(2023, 11, 7, 8, 42, 5)
#: flavour -> how the scan page names the scanner (DICOM Manufacturer and model).
VENDORS = {
    "siemens-xa-enhanced": "Siemens Healthineers MAGNETOM Prisma",
    "philips-enhanced": "Philips Medical Systems Ingenia",
    "ge-classic": "GE MEDICAL SYSTEMS DISCOVERY MR750",
    "siemens-classic": "SIEMENS Prisma",
}


@pytest.mark.parametrize("flavour", list(VENDORS))
def test_a_coordinator_uploads_each_vendors_export(page, coordinator, study, tmp_path, settings, flavour):
    settings.MEDIA_ROOT = tmp_path / "media"
    patient = Patient.objects.create(study=study, code="ALS-007", diagnosis="ALS", onset_month=dt.date(2022, 5, 1))
    truth = make_truth(axial_affine(), echo_times_s=(0.0041, 0.0093, 0.0145), shape=(36, 32, 8))
    export = tmp_path / f"{flavour}-export"
    write_vendor_series(export, truth.magnitude, truth.phase, truth.echo_times_s, truth.affine, flavour=flavour,
                        acquired_at=ACQUIRED)
    log_in(page, coordinator.username)
    page.goto(patient.get_absolute_url())
    page.get_by_role("link", name="Upload scan").click()
    page.set_input_files("#id_folder", str(export))
    page.get_by_role("button", name="Upload and check").click()
    finish_ingest(page)
    facts = page.locator("#scan-facts")
    expect(facts).to_contain_text("2023-11-07 08:42:05 (from the headers)", use_inner_text=True)
    expect(facts).to_contain_text(VENDORS[flavour], use_inner_text=True)
    scan = ScanSession.objects.get()
    assert scan.echo_times_ms == [4.1, 9.3, 14.5] and scan.manufacturer in VENDORS[flavour]
