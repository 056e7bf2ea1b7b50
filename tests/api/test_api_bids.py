"""BIDS over the API: members start an export job, coordinators an import job (202 and Location); the job
says its progress, then its outcome, and an export's zip is downloaded from it."""
from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from clinical.models import Patient, Role, ScanSession
from exchange.models import Transfer
from recon.models import ReconRun
from tests.api.conftest import token_client
from tests.exchange.conftest import run_jobs, zip_members
from tests.exchange.study_data import DESIGN, build_study

pytestmark = pytest.mark.django_db(transaction=True)  # the jobs run here, and their progress thread must see them


def export(client, study, query=None):
    query = "&".join(f"{k}={v}" for k, values in (query or {}).items()
                     for v in (values if isinstance(values, list) else [values]))
    return client.post(f"/api/v1/studies/{study.pk}/export/bids?{query}")


def import_zip(client, study, name: str, data: bytes):
    return client.post(f"/api/v1/studies/{study.pk}/import/bids", {"file": SimpleUploadedFile(name, data)},
                       format="multipart")


def waited(client, started) -> dict:
    """What a client waiting on the job finally reads (the job runs here, as a worker would run it)."""
    assert started.status_code == 202, started.content
    assert started.json()["status"] == "queued" and started["Location"].endswith(f"/transfers/{started.json()['id']}")
    run_jobs()
    job = client.get(started["Location"])
    assert job.status_code == 200
    return job.json()


def downloaded(client, job: dict) -> dict[str, bytes]:
    response = client.get(job["download"], HTTP_ACCEPT="application/zip")
    assert response.status_code == 200 and response.streaming  # from the job's file, not built in memory
    assert response["Content-Type"] == "application/zip"
    return zip_members(b"".join(response.streaming_content))


def test_a_selection_is_exported_by_a_job_and_downloaded(study, viewer):
    build_study(study, design=DESIGN, scans=False)
    api = token_client(viewer)
    started = export(api, study, {"diagnosis": "PLS", "patient": ["PLS-02"]})
    job = waited(api, started)
    assert job["status"] == "succeeded" and job["percent"] == 100 and job["kind"] == "export"
    assert job["result"] == {"participants": 1, "sessions": 0, "with_derivatives": 0}
    assert job["download"].startswith("http://testserver/api/v1/") and job["download"].endswith("/download")
    response = api.get(job["download"])
    assert response["Content-Disposition"] == 'attachment; filename="motor-cortex-qsm-bids.zip"'
    table = downloaded(api, job)["participants.tsv"].decode()
    assert [line.split("\t")[0] for line in table.splitlines()] == ["participant_id", "sub-PLS02"]


def test_an_empty_or_unknown_selection_is_refused_before_a_job(study, viewer):
    build_study(study, design=DESIGN[:2], scans=False)
    api = token_client(viewer)
    empty = export(api, study, {"diagnosis": "HC"})
    assert empty.status_code == 400 and "No patient matches" in empty.json()["non_field_errors"][0]
    unknown = export(api, study, {"patient": ["ALS-01", "ALS-99"], "date_from": "soon"})
    assert unknown.status_code == 400
    assert unknown.json()["patient"] == ["No patient ALS-99 in this study; check the study codes."]
    assert "date_from" in unknown.json()
    assert not Transfer.objects.exists()


def test_a_coordinator_imports_an_exported_study(study, other_study, coordinator, media):
    build_study(study, design=DESIGN[:2], user=coordinator)
    api = token_client(coordinator)
    files = downloaded(api, waited(api, export(api, study)))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        for name, data in files.items():
            out.writestr(f"dataset/{name}", data)
    other_study.add_member(coordinator, Role.COORDINATOR)
    job = waited(api, import_zip(api, other_study, "study.zip", archive.getvalue()))
    assert job["status"] == "succeeded" and job["download"] is None, job
    result = job["result"]
    assert {key: result[key] for key in ("patients", "exams", "scans", "rois", "external_values")} == {
        "patients": 2, "exams": 4, "scans": 2, "rois": 8, "external_values": 1}
    assert result["summary"].startswith("2 patients, 4 exams, 2 scan sessions")
    assert job["message"] == f"Imported study.zip: {result['summary']}."
    scans = ScanSession.objects.filter(study=other_study)
    assert sorted(scans.values_list("patient__code", flat=True)) == ["ALS-01", "ALS-02"]
    assert {scan.uploaded_by for scan in scans} == {coordinator}
    assert ReconRun.objects.filter(scan__study=other_study, status=ReconRun.Status.QUEUED).count() == 2


def test_a_bad_dataset_is_refused_whole_with_every_problem(study, other_study, coordinator):
    build_study(study, design=DESIGN[:3], scans=False)
    api = token_client(coordinator)
    files = downloaded(api, waited(api, export(api, study)))
    files["participants.tsv"] = files["participants.tsv"].replace(b"\t1951\t", b"\t2190\t")
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as out:
        for name, data in files.items():
            out.writestr(f"dataset/{name}", data)
    other_study.add_member(coordinator, Role.COORDINATOR)
    job = waited(api, import_zip(api, other_study, "broken.zip", broken.getvalue()))
    assert job["status"] == "failed"
    assert job["problems"] == ["participants.tsv, line 3: birth_year: Birth year 2190 is in the future.",
                               "participants.tsv, line 3: onset_month: Symptom onset is before the birth year."]
    not_a_zip = waited(api, import_zip(api, other_study, "notes.zip", b"not a zip at all"))
    assert not_a_zip["status"] == "failed" and "notes.zip" in " ".join(not_a_zip["problems"])
    assert not Patient.objects.filter(study=other_study).exists()


def test_an_oversized_dataset_is_refused_before_it_is_read(study, coordinator, settings):
    settings.SCAN_UPLOAD_MAX_BYTES = 1000
    response = import_zip(token_client(coordinator), study, "big.zip", b"x" * 2000)
    assert response.status_code == 413 and "import it in parts" in response.json()["detail"]
    assert not Patient.objects.exists() and not Transfer.objects.exists()


def test_jobs_are_seen_only_by_members_and_imports_started_only_by_coordinators(study, viewer, outsider):
    build_study(study, design=DESIGN[:1], scans=False)
    job = export(token_client(viewer), study).json()
    run_jobs()
    outsiders = token_client(outsider)
    for suffix in ("", "/download"):
        response = outsiders.get(f"/api/v1/studies/{study.pk}/transfers/{job['id']}{suffix}")
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    refused = import_zip(token_client(viewer), study, "study.zip", b"PK")
    assert refused.status_code == 403 and Transfer.objects.count() == 1
