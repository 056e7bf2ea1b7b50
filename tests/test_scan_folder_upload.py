"""A whole DICOM folder: series folders that repeat file names are stored whole, and client paths go nowhere else."""
import datetime as dt
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinical.models import ScanSession
from clinical.scans import safe_relative_path, save_uploads
from tests.scan_data import dicom_folder, folder_upload
from tests.conftest import ingested

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def test_a_folder_whose_series_repeat_file_names_is_stored(as_coordinator, study, patient, tmp_path):
    files, paths = folder_upload(dicom_folder(tmp_path))
    assert len({f.name for f in files}) < len(files)  # IM_0001 in both series folders
    response = ingested(as_coordinator, as_coordinator.post(
        reverse("scan_upload", args=[study.pk, patient.pk]),
        {"scan_date": "", "folder": files, "folder_paths": json.dumps(paths)}))
    scan = ScanSession.objects.get()
    assert response["Location"] == scan.get_absolute_url()
    assert scan.n_echoes == 4 and scan.scan_date == dt.date(2024, 3, 15)


def test_repeated_names_without_paths_are_kept_apart(as_coordinator, study, patient, tmp_path):
    files, _ = folder_upload(dicom_folder(tmp_path))
    response = ingested(as_coordinator, as_coordinator.post(reverse("scan_upload", args=[study.pk, patient.pk]),
                                                            {"scan_date": "", "files": files}))
    assert response.status_code == 302 and ScanSession.objects.get().n_echoes == 4


@pytest.mark.parametrize("name, kept", [
    ("../../etc/passwd", "etc/passwd"), ("/abs/IM_0001", "abs/IM_0001"), ("C:\\exam\\..\\IM_0001", "C:/exam/IM_0001"),
    ("exam/./s5/IM_0001", "exam/s5/IM_0001"), ("..", "file-3"),
])
def test_client_paths_cannot_leave_the_upload_folder(name, kept):
    assert safe_relative_path(name, 3).as_posix() == kept


def test_paths_that_do_not_match_the_files_are_not_used(as_coordinator, study, patient, tmp_path, media):
    files, paths = folder_upload(dicom_folder(tmp_path))
    forged = ["../../outside/" + Path(p).name for p in paths][:-1]  # one short: ignored altogether
    ingested(as_coordinator, as_coordinator.post(reverse("scan_upload", args=[study.pk, patient.pk]),
                                                 {"scan_date": "", "folder": files, "folder_paths": json.dumps(forged)}))
    assert not (Path(media).parent / "outside").exists() and ScanSession.objects.count() == 1


def test_saved_uploads_stay_inside_their_folder(tmp_path):
    uploads = [SimpleUploadedFile("IM_0001", b"a"), SimpleUploadedFile("IM_0001", b"b")]
    saved = save_uploads(uploads, tmp_path / "in", ["../../IM_0001", "/IM_0001"])
    assert [p.relative_to(tmp_path / "in").as_posix() for p in saved] == ["IM_0001", "2/IM_0001"]
    assert [p.read_bytes() for p in saved] == [b"a", b"b"]
