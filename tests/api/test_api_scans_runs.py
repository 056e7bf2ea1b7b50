"""Scans and reconstructions over the API: upload as on the page, start, follow, cancel, retry, download."""
from __future__ import annotations

import datetime as dt

import pytest

from django.core.files.uploadedfile import SimpleUploadedFile

from clinical.models import Patient, ScanSession
from recon.models import ReconRun
from tests.api.conftest import stored_scan, token_client, waited_for
from tests.scan_data import dicom_zip, nifti_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))


def upload(client, patient, files, **fields):
    body = {"patient": patient.pk, "files": files, **fields}  # the date comes from the headers
    return client.post(f"/api/v1/studies/{patient.study_id}/scans/", body, format="multipart")


def test_an_uploaded_scan_is_stored_and_queued(coordinator, patient, tmp_path):
    api = token_client(coordinator)
    with dicom_zip(tmp_path).open("rb") as archive:
        response = upload(api, patient, [archive], site="Ottawa")
    assert response.json()["status"] == "received" and response.json()["patient"] == patient.pk
    scan = stored_scan(api, response)
    assert scan["echo_times_ms"] == [5.0, 10.0, 15.0, 20.0] and scan["site"] == "Ottawa"
    assert scan["uploaded_by"] == coordinator.username
    assert ScanSession.history.get().history_user == coordinator  # audited like the page's uploads
    runs = api.get(f"/api/v1/studies/{patient.study_id}/runs/", {"scan": scan["id"]}).json()["results"]
    assert [r["status"] for r in runs] == ["queued"]
    listed = api.get(f"/api/v1/studies/{patient.study_id}/scans/", {"patient": patient.pk}).json()
    assert [s["id"] for s in listed["results"]] == [scan["id"]]
    magnitude = api.get(f"/api/v1/studies/{patient.study_id}/scans/{scan['id']}/files/magnitude",
                        HTTP_ACCEPT="application/octet-stream")
    assert magnitude.status_code == 200 and magnitude["Content-Type"] == "application/octet-stream"
    assert b"".join(magnitude.streaming_content)[:2] == b"\x1f\x8b"


def test_nifti_files_with_sidecars_come_as_one_repeated_field(coordinator, patient, tmp_path):
    paths = nifti_files(tmp_path)
    handles = [path.open("rb") for path in paths]
    api = token_client(coordinator)
    try:
        response = upload(api, patient, handles)
    finally:
        for handle in handles:
            handle.close()
    scan = stored_scan(api, response)
    assert len(paths) > 2 and scan["source_format"] == "nifti" and len(scan["echo_times_ms"]) == 4


def test_a_bad_or_repeated_upload_names_the_files_and_saves_nothing(coordinator, patient, tmp_path):
    api = token_client(coordinator)
    (tmp_path / "notes.txt").write_text("not a scan")
    with (tmp_path / "notes.txt").open("rb") as junk:
        refused = waited_for(api, upload(api, patient, [junk]))
    assert refused["status"] == "refused" and "notes.txt" in refused["errors"]["files"][0]
    assert not ScanSession.objects.exists()
    archive = dicom_zip(tmp_path)
    with archive.open("rb") as first:
        scan = stored_scan(api, upload(api, patient, [first]))
    with archive.open("rb") as again:
        refused = waited_for(api, upload(api, patient, [again]))
    assert refused["status"] == "refused" and "already uploaded" in refused["errors"]["files"][0]
    assert refused["duplicate_of"] == scan["id"] and ScanSession.objects.count() == 1


def test_phase_in_degrees_is_refused_with_the_command_line_message(coordinator, patient, tmp_path):
    handles = [path.open("rb") for path in nifti_files(tmp_path, degrees=True)]
    api = token_client(coordinator)
    try:
        refused = waited_for(api, upload(api, patient, handles))
    finally:
        for handle in handles:
            handle.close()
    message = refused["errors"]["files"][0]
    assert refused["status"] == "refused"
    assert message.startswith("gre_e4_ph.nii.gz: phase spans -179.996..179.968, which looks like degrees; ")
    assert message.endswith("(-4096..4095).") and not ScanSession.objects.exists()


def test_upload_form_rules_apply(coordinator, patient, tmp_path):
    with dicom_zip(tmp_path).open("rb") as archive:
        response = upload(token_client(coordinator), patient, [archive], scan_date="2999-01-01")
    assert response.status_code == 400 and "future" in response.json()["scan_date"][0]


def test_an_oversized_upload_is_refused_before_reading(coordinator, patient, tmp_path, settings):
    settings.SCAN_UPLOAD_MAX_BYTES = 1000
    with dicom_zip(tmp_path).open("rb") as archive:
        response = upload(token_client(coordinator), patient, [archive])
    assert response.status_code == 413 and "SCAN_UPLOAD_MAX_BYTES" in response.json()["detail"]


def test_an_investigator_starts_follows_cancels_and_retries_a_run(seeded, investigator):
    api = token_client(investigator)
    base = f"/api/v1/studies/{seeded['study'].pk}/runs/"
    response = api.post(base, {"scan": seeded["scan"].pk, "inversion": "iswim", "background": "pdf"}, format="json")
    assert response.status_code == 201, response.json()
    run = response.json()
    assert run["status"] == "queued" and run["params"]["inversion"] == "iswim" and run["created_by"] == "ivan"
    assert api.get(f"{base}{run['id']}/").json()["status"] == "queued"
    cancelled = api.post(f"{base}{run['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.post(f"{base}{run['id']}/cancel")
    assert again.status_code == 409 and "cannot be cancelled" in again.json()["detail"]
    assert api.post(f"{base}{run['id']}/make-current").status_code == 409
    retried = api.post(f"{base}{run['id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    assert [r["id"] for r in api.get(base, {"status": "queued", "scan": seeded["scan"].pk}).json()["results"]] == [
        run["id"], seeded["run"].pk]
    missing = api.get(f"{base}{run['id']}/files/chi")
    assert missing.status_code == 404 and missing.json()["detail"] == f"Run {run['id']} has no chi output."


def test_unknown_run_parameters_are_refused(seeded, coordinator):
    response = token_client(coordinator).post(f"/api/v1/studies/{seeded['study'].pk}/runs/",
                                              {"scan": seeded["scan"].pk, "inversion": "magic"}, format="json")
    assert response.status_code == 400 and "inversion" in response.json()
    assert ReconRun.objects.count() == 1


def test_two_files_with_one_name_are_both_read(coordinator, patient):
    files = [SimpleUploadedFile("echo.nii", b"one"), SimpleUploadedFile("echo.nii", b"two")]
    api = token_client(coordinator)
    response = upload(api, patient, files)
    assert [f["name"] for f in response.json()["files"]] == ["echo.nii", "2/echo.nii"]
    refused = waited_for(api, response)
    assert "two files with the same name" not in refused["errors"]["files"][0]
    assert "echo.nii" in refused["errors"]["files"][0] and not ScanSession.objects.exists()
