"""BIDS over the API: members export a study or a selection as a streamed zip, coordinators import one."""
from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from clinical.models import Patient, Role, ScanSession
from recon.models import ReconRun
from tests.api.conftest import token_client
from tests.exchange.study_data import DESIGN, build_study

pytestmark = pytest.mark.django_db


def export(client, study, query=None):
    return client.get(f"/api/v1/studies/{study.pk}/export/bids", query or {}, HTTP_ACCEPT="application/zip")


def import_zip(client, study, name: str, data: bytes):
    return client.post(f"/api/v1/studies/{study.pk}/import/bids", {"file": SimpleUploadedFile(name, data)},
                       format="multipart")


def members(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return {item.split("/", 1)[1]: zf.read(item) for item in zf.namelist()}


def test_a_selection_is_streamed_as_a_bids_zip(study, viewer):
    build_study(study, design=DESIGN, scans=False)
    response = export(token_client(viewer), study, {"diagnosis": "PLS", "patient": ["PLS-02"]})
    assert response.status_code == 200 and response.streaming  # from a temporary file, not built in memory
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="motor-cortex-qsm-bids.zip"'
    table = members(b"".join(response.streaming_content))["participants.tsv"].decode()
    assert [line.split("\t")[0] for line in table.splitlines()] == ["participant_id", "sub-PLS02"]


def test_an_empty_or_unknown_selection_is_refused(study, viewer):
    build_study(study, design=DESIGN[:2], scans=False)
    api = token_client(viewer)
    empty = export(api, study, {"diagnosis": "HC"})
    assert empty.status_code == 400 and "No patient matches" in empty.json()["non_field_errors"][0]
    unknown = export(api, study, {"patient": ["ALS-01", "ALS-99"], "date_from": "soon"})
    assert unknown.status_code == 400
    assert unknown.json()["patient"] == ["No patient ALS-99 in this study; check the study codes."]
    assert "date_from" in unknown.json()


def test_a_coordinator_imports_an_exported_study(study, other_study, coordinator):
    build_study(study, design=DESIGN[:2], user=coordinator)
    archive = b"".join(export(token_client(coordinator), study).streaming_content)
    other_study.add_member(coordinator, Role.COORDINATOR)
    response = import_zip(token_client(coordinator), other_study, "study.zip", archive)
    assert response.status_code == 200, response.json()
    result = response.json()
    assert {key: result[key] for key in ("patients", "exams", "scans", "rois", "external_values")} == {
        "patients": 2, "exams": 4, "scans": 2, "rois": 8, "external_values": 1}
    assert result["summary"].startswith("2 patients, 4 exams, 2 scan sessions")
    scans = ScanSession.objects.filter(study=other_study)
    assert sorted(scans.values_list("patient__code", flat=True)) == ["ALS-01", "ALS-02"]
    assert {scan.uploaded_by for scan in scans} == {coordinator}
    assert ReconRun.objects.filter(scan__study=other_study, status=ReconRun.Status.QUEUED).count() == 2


def test_a_bad_dataset_is_refused_whole_with_every_problem(study, other_study, coordinator):
    build_study(study, design=DESIGN[:3], scans=False)
    files = members(b"".join(export(token_client(coordinator), study).streaming_content))
    files["participants.tsv"] = files["participants.tsv"].replace(b"\t1951\t", b"\t2190\t")
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as out:
        for name, data in files.items():
            out.writestr(f"dataset/{name}", data)
    other_study.add_member(coordinator, Role.COORDINATOR)
    api = token_client(coordinator)
    response = import_zip(api, other_study, "broken.zip", broken.getvalue())
    assert response.status_code == 400
    assert response.json()["file"] == ["participants.tsv, line 3: birth_year: Birth year 2190 is in the future.",
                                       "participants.tsv, line 3: onset_month: Symptom onset is before the birth year."]
    not_a_zip = import_zip(api, other_study, "notes.zip", b"not a zip at all")
    assert not_a_zip.status_code == 400 and "notes.zip" in " ".join(not_a_zip.json()["file"])
    assert not Patient.objects.filter(study=other_study).exists()


def test_an_oversized_dataset_is_refused_before_it_is_read(study, coordinator, settings):
    settings.SCAN_UPLOAD_MAX_BYTES = 1000
    response = import_zip(token_client(coordinator), study, "big.zip", b"x" * 2000)
    assert response.status_code == 413 and "import it in parts" in response.json()["detail"]
    assert not Patient.objects.exists()
