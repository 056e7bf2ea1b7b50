"""The scan date and the scanner facts come from the headers; a typed date is only a fallback, never an override."""
import datetime as dt
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from clinical.models import ScanSession
from tests.scan_data import dicom_folder, dicom_zip, folder_upload, nifti_files
from tests.conftest import ingested

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]
HEADER_DATE = "2024-03-15"  # what clinical.scanio.synthetic writes with identifying=True


def upload(client, study, patient, files: list[Path], **fields):
    data = {"scan_date": "", "files": [SimpleUploadedFile(p.name, p.read_bytes()) for p in files], **fields}
    return ingested(client, client.post(reverse("scan_upload", args=[study.pk, patient.pk]), data))


def scans_on_disk(media) -> list[Path]:
    return [p for p in (Path(media) / "scans").rglob("*") if p.is_file()] if (Path(media) / "scans").exists() else []


def test_a_blank_date_is_taken_from_the_headers(as_coordinator, study, patient, tmp_path):
    response = upload(as_coordinator, study, patient, [dicom_zip(tmp_path)])
    scan = ScanSession.objects.get()
    assert response["Location"] == scan.get_absolute_url()
    assert scan.scan_date == dt.date(2024, 3, 15)
    assert timezone.localtime(scan.acquired_at).replace(tzinfo=None) == dt.datetime(2024, 3, 15, 10, 15, 30, 250000)


def test_it_refuses_a_typed_date_that_disagrees_with_the_header(as_coordinator, study, patient, tmp_path, media):
    response = upload(as_coordinator, study, patient, [dicom_zip(tmp_path)], scan_date="2024-03-16")
    body = response.content.decode()
    assert response.status_code == 200
    assert ("The headers of series.zip say the scan was acquired on 2024-03-15; you typed 2024-03-16. "
            "Correct the date or leave it blank.") in body
    assert not ScanSession.objects.exists() and not ScanSession.history.exists() and scans_on_disk(media) == []


def test_a_typed_date_that_agrees_with_the_header_is_accepted(as_coordinator, study, patient, tmp_path):
    assert upload(as_coordinator, study, patient, nifti_files(tmp_path), scan_date=HEADER_DATE).status_code == 302
    assert ScanSession.objects.get().scan_date == dt.date(2024, 3, 15)


def test_the_date_is_required_only_when_no_header_has_one(as_coordinator, study, patient, tmp_path, media):
    files, _ = folder_upload(dicom_folder(tmp_path, identifying=False))
    url = reverse("scan_upload", args=[study.pk, patient.pk])
    body = ingested(as_coordinator, as_coordinator.post(url, {"scan_date": "", "files": files})).content.decode()
    assert f"The headers of IM_0001 and {len(files) - 1} other files do not record when the scan was acquired; " \
           "type the scan date." in body
    assert not ScanSession.objects.exists() and scans_on_disk(media) == []
    files, _ = folder_upload(dicom_folder(tmp_path, seed=1, identifying=False))
    assert ingested(as_coordinator, as_coordinator.post(url, {"scan_date": "2024-02-01", "files": files})).status_code == 302
    scan = ScanSession.objects.get()
    assert scan.scan_date == dt.date(2024, 2, 1) and scan.acquired_at is None
    assert "typed; the headers record no date" in as_coordinator.get(scan.get_absolute_url()).content.decode()


def test_scanner_facts_come_from_the_headers_and_are_shown(as_coordinator, study, patient, tmp_path):
    upload(as_coordinator, study, patient, [dicom_zip(tmp_path)])
    scan = ScanSession.objects.get()
    assert (scan.manufacturer, scan.model_name, scan.software_version) == ("SIEMENS", "Prisma", "syngo MR E11")
    assert (scan.scanner, scan.protocol_name, float(scan.field_strength_t)) == ("SIEMENS Prisma", "qsm_megre", 3.0)
    page = as_coordinator.get(scan.get_absolute_url()).content.decode()
    assert "2024-03-15 10:15:30 (from the headers)" in page
    assert "SIEMENS Prisma, software syngo MR E11" in page and "qsm_megre" in page
    assert scan.history.get().acquired_at == scan.acquired_at  # audited with the row


def test_it_refuses_a_typed_field_strength_that_disagrees_with_the_header(as_coordinator, study, patient, tmp_path):
    body = upload(as_coordinator, study, patient, [dicom_zip(tmp_path)], field_strength_t="1.5").content.decode()
    assert "The headers of series.zip say the field strength is 3.0 T; you typed 1.5 T." in body
    assert not ScanSession.objects.exists()
