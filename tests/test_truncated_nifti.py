"""A truncated or damaged NIfTI (scan or label image) is refused by name on the page, the API and the command line."""
from __future__ import annotations

import datetime as dt
import gzip
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from clinical.models import Patient, ScanSession
from recon.models import RoiDefinition
from tests.api.conftest import token_client, waited_for
from tests.recon_data import phantom, phantom_scan
from tests.scan_data import nifti_files
from tests.conftest import ingested

ROOT = Path(__file__).resolve().parent.parent
DAMAGED = "gre_e2_ph"
#: How the file is damaged -> (file extension, what the message says).
DAMAGES = {
    "truncated .nii.gz": (".nii.gz", "is truncated or damaged (gzip stream ends early)"),
    "corrupt .nii.gz": (".nii.gz", "is truncated or damaged (gzip data are corrupt)"),
    "truncated .nii": (".nii", "is truncated or damaged (voxel data end early)"),
}


@pytest.fixture(params=list(DAMAGES), ids=list(DAMAGES))
def damage(request) -> tuple[str, str, str]:
    """The damage, the damaged file's name and the problem the message must give."""
    extension, problem = DAMAGES[request.param]
    return request.param, DAMAGED + extension, problem


def damaged_series(folder: Path, damage: str) -> list[Path]:
    """dcm2niix-style files whose second phase echo lost its second half or had it overwritten.

    The header (the first 352 bytes) stays intact, so the file opens and fails only when
    its voxels are read.
    """
    files = nifti_files(folder)
    if damage.endswith(".nii"):
        files = [_gunzipped(path) for path in files]
    [target] = [path for path in files if path.name.startswith(DAMAGED + ".nii")]
    data = target.read_bytes()
    half = len(data) // 2
    if damage.startswith("truncated"):
        target.write_bytes(data[:half])
    else:
        target.write_bytes(data[:half] + bytes(b ^ 0x5A for b in data[half:-8]) + data[-8:])
    return files


def _gunzipped(path: Path) -> Path:
    if not path.name.endswith(".gz"):
        return path
    plain = path.with_name(path.name[: -len(".gz")])
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    path.unlink()
    return plain


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.mark.django_db
def test_the_page_refuses_a_damaged_nifti_by_name(coordinator, study, patient, tmp_path, damage):
    kind, name, problem = damage
    client = Client(raise_request_exception=False)
    client.force_login(coordinator)
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in damaged_series(tmp_path, kind)]
    response = ingested(client, client.post(reverse("scan_upload", args=[study.pk, patient.pk]),
                                            {"scan_date": "2024-03-05", "files": files}))
    body = response.content.decode()
    # A refused ingest lists its reasons on its page, as every other refusal does.
    assert response.status_code == 200 and "errorlist" in body
    assert f"{name}: {problem}; upload the file again." in body and "Nothing was saved." in body
    assert not ScanSession.objects.exists()


@pytest.mark.django_db
def test_the_api_refuses_a_truncated_nifti_by_name(coordinator, patient, tmp_path, damage):
    kind, name, problem = damage
    api = token_client(coordinator)
    api.raise_request_exception = False
    handles = [path.open("rb") for path in damaged_series(tmp_path, kind)]
    try:
        response = api.post(f"/api/v1/studies/{patient.study_id}/scans/",
                            {"patient": patient.pk, "scan_date": "2024-03-05", "files": handles}, format="multipart")
    finally:
        for handle in handles:
            handle.close()
    refused = waited_for(api, response)
    assert refused["status"] == "refused"
    assert refused["errors"] == {"files": [f"{name}: {problem}; upload the file again."]}
    assert not ScanSession.objects.exists()


def test_the_command_line_exits_2_with_one_line(tmp_path, damage):
    kind, name, problem = damage
    files = damaged_series(tmp_path, kind)
    images = [path for path in files if ".nii" in path.name]
    magnitude = [str(path) for path in images if "_ph." not in path.name]
    phase = [str(path) for path in images if "_ph." in path.name]
    out = tmp_path / "out" / "chi.nii.gz"
    out.parent.mkdir()
    done = subprocess.run([sys.executable, "-m", "qsm", "--mag", *magnitude, "--phase", *phase, "--out", str(out),
                           "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"qsm: error: {tmp_path / ('nifti-0/' + name)}: {problem}; "
                                   "copy or convert the file again.")
    assert not any(out.parent.iterdir())


@pytest.mark.django_db
@pytest.mark.parametrize("compress", [False, True], ids=["nii", "nii.gz"])
def test_a_truncated_label_image_is_refused_by_name(coordinator, patient, compress):
    head = phantom()
    scan = phantom_scan(patient)
    data = nib.Nifti1Image(np.zeros(head.chi.shape, np.uint8), head.affine).to_bytes()
    data = data[: len(data) // 2]  # a whole gzip stream of a cut file: decompressing it works, reading does not
    name = "rois.nii.gz" if compress else "rois.nii"
    upload = SimpleUploadedFile(name, gzip.compress(data) if compress else data)
    client = Client(raise_request_exception=False)
    client.force_login(coordinator)
    response = client.post(reverse("roi_upload", args=[scan.study_id, scan.pk]),
                           {"file": upload, "mapping": "1=LMC"}, follow=True)
    assert response.status_code == 200
    assert (f"{name}: is truncated or damaged (voxel data end early); save the label image again. "
            "Nothing was saved.") in response.content.decode()
    assert not RoiDefinition.objects.exists()


@pytest.mark.django_db
def test_a_nifti_cut_inside_its_header_is_refused_without_server_paths(coordinator, study, patient, tmp_path):
    files = nifti_files(tmp_path)
    [target] = [path for path in files if path.name == DAMAGED + ".nii.gz"]
    target.write_bytes(target.read_bytes()[:100])
    client = Client(raise_request_exception=False)
    client.force_login(coordinator)
    response = ingested(client, client.post(
        reverse("scan_upload", args=[study.pk, patient.pk]),
        {"scan_date": "2024-03-05", "files": [SimpleUploadedFile(p.name, p.read_bytes()) for p in files]}))
    body = response.content.decode()
    assert response.status_code == 200
    assert f"{DAMAGED}.nii.gz: is not a readable NIfTI file (" in body and "upload the file dcm2niix wrote" in body
    assert "/tmp" not in body and str(settings.MEDIA_ROOT) not in body
    assert not ScanSession.objects.exists()
