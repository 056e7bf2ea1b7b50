"""Scan upload through the web form: stored whole and de-identified, or refused with nothing left behind."""
import datetime as dt
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinical.models import ScanSession
from tests.conftest import ingested
from tests.scan_data import ECHO_TIMES_S, dicom_zip, nifti_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]
IDENTIFYING = [b"Doe^Jane", b"MRN12345"]


def as_upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def upload(client, study, patient, files: list[Path], **fields):
    data = {"scan_date": "", "files": [as_upload(p) for p in files], **fields}  # the date is in the headers
    return ingested(client, client.post(reverse("scan_upload", args=[study.pk, patient.pk]), data))


def stored_files(media: Path) -> list[Path]:
    return [p for p in Path(media).rglob("*") if p.is_file()]


def test_a_dicom_zip_is_stored_converted_and_shown(as_coordinator, study, patient, tmp_path, media):
    patient.exams.create(date=dt.date(2024, 3, 1), examiner="Dr A")
    response = upload(as_coordinator, study, patient, [dicom_zip(tmp_path)])
    scan = ScanSession.objects.get()
    assert response["Location"] == scan.get_absolute_url()
    assert scan.echo_times_ms == [t * 1000 for t in ECHO_TIMES_S]
    assert scan.matrix == [24, 24, 12] and scan.voxel_size_mm == [1.0, 1.0, 1.5]
    assert scan.source_format == "dicom" and float(scan.field_strength_t) == 3.0
    for kind in ScanSession.FILES:
        assert scan.path(kind).is_file(), kind
    page = as_coordinator.get(scan.get_absolute_url()).content.decode()
    assert "5.0, 10.0, 15.0, 20.0 ms" in page
    assert "2024-03-01 (14 days before the scan)" in page
    assert scan.pixel_sha256 in page


def test_stored_headers_carry_no_identifying_data(as_coordinator, study, patient, tmp_path):
    upload(as_coordinator, study, patient, [dicom_zip(tmp_path)])
    scan = ScanSession.objects.get()
    with zipfile.ZipFile(scan.path("original")) as archive:
        blobs = [archive.read(name) for name in archive.namelist()]
    blobs += [scan.path("sidecar").read_bytes()]
    for blob in blobs:
        for needle in IDENTIFYING:
            assert needle not in blob
    assert b"ALS-001" in scan.path("sidecar").read_bytes() or any(b"ALS-001" in b for b in blobs)


def test_nifti_files_with_sidecars_are_accepted(as_coordinator, study, patient, tmp_path):
    response = upload(as_coordinator, study, patient, nifti_files(tmp_path))
    assert response.status_code == 302
    assert ScanSession.objects.get().source_format == "nifti"


def test_a_duplicate_series_is_refused_with_a_link(as_coordinator, study, patient, tmp_path, media):
    upload(as_coordinator, study, patient, [dicom_zip(tmp_path)])
    first = ScanSession.objects.get()
    before = stored_files(media)
    response = upload(as_coordinator, study, patient, [dicom_zip(tmp_path, name="again.zip")])
    body = response.content.decode()
    assert "already uploaded" in body and first.get_absolute_url() in body
    assert ScanSession.objects.count() == 1
    assert stored_files(media) == before


def test_a_bad_upload_leaves_no_rows_and_no_files(as_coordinator, study, patient, tmp_path, media):
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    response = upload(as_coordinator, study, patient, [junk])
    body = response.content.decode()
    assert "notes.txt" in body and "Nothing was saved." in body
    assert not ScanSession.objects.exists() and not ScanSession.history.exists()
    assert stored_files(media) == []


def test_phase_in_degrees_is_refused_with_the_command_line_message(as_coordinator, study, patient, tmp_path, media):
    response = upload(as_coordinator, study, patient, nifti_files(tmp_path, degrees=True))
    body = response.content.decode()
    assert ("gre_e4_ph.nii.gz: phase spans -179.996..179.968, which looks like degrees; "
            "export phase in radians (-pi..pi)") in body
    assert "Nothing was saved." in body
    assert not ScanSession.objects.exists() and stored_files(media) == []


def test_a_zip_with_a_path_escape_is_refused(as_coordinator, study, patient, tmp_path, media):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../etc/evil.dcm", b"x")
    response = upload(as_coordinator, study, patient, [evil])
    assert "../../etc/evil.dcm" in response.content.decode()
    assert not ScanSession.objects.exists() and stored_files(media) == []


def test_an_upload_over_the_size_limit_is_refused_before_reading(as_coordinator, study, patient, tmp_path, settings):
    settings.SCAN_UPLOAD_MAX_BYTES = 1000
    response = upload(as_coordinator, study, patient, [dicom_zip(tmp_path)])
    assert response.status_code == 413
    assert "larger than" in response.content.decode()
    assert not ScanSession.objects.exists()


def test_a_future_scan_date_is_refused(as_coordinator, study, patient, tmp_path):
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    response = upload(as_coordinator, study, patient, [dicom_zip(tmp_path)], scan_date=future)
    assert "The scan date is in the future." in response.content.decode()
    assert not ScanSession.objects.exists()


def test_viewers_cannot_upload(as_viewer, study, patient, tmp_path):
    assert upload(as_viewer, study, patient, [dicom_zip(tmp_path)]).status_code == 403
    assert not ScanSession.objects.exists()


def test_files_go_only_to_members(client, as_coordinator, study, patient, outsider, viewer, tmp_path):
    upload(as_coordinator, study, patient, [dicom_zip(tmp_path)])
    scan = ScanSession.objects.get()
    url = reverse("scan_file", args=[study.pk, scan.pk, "magnitude"])
    client.force_login(viewer)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == scan.path("magnitude").read_bytes()
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    assert client.get(scan.get_absolute_url()).status_code == 404
    assert client.get(f"/media/{scan.directory}/magnitude.nii.gz").status_code == 404
