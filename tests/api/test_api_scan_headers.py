"""Scans over the API: the date and the scanner facts come from the headers, as on the page."""
from __future__ import annotations

import datetime as dt

import pytest

from clinical.models import Patient, ScanSession
from tests.api.conftest import token_client
from tests.scan_data import dicom_zip

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(client, patient, files, **fields):
    return client.post(f"/api/v1/studies/{patient.study_id}/scans/", {"patient": patient.pk, "files": files, **fields},
                       format="multipart")


def test_the_api_takes_the_date_and_the_scanner_facts_from_the_headers(coordinator, patient, tmp_path):
    api = token_client(coordinator)
    with dicom_zip(tmp_path).open("rb") as archive:
        response = upload(api, patient, [archive])
    assert response.status_code == 201, response.json()
    scan = api.get(f"/api/v1/studies/{patient.study_id}/scans/{response.json()['id']}/").json()
    assert scan["scan_date"] == "2024-03-15" and scan["acquired_at"].startswith("2024-03-15T10:15:30.25")
    assert (scan["manufacturer"], scan["model_name"], scan["software_version"]) == ("SIEMENS", "Prisma", "syngo MR E11")
    assert (scan["protocol_name"], scan["field_strength_t"], scan["sequence_name"]) == ("qsm_megre", 3.0, "")


def test_the_api_refuses_a_typed_date_that_disagrees_with_the_header(coordinator, patient, tmp_path):
    with dicom_zip(tmp_path).open("rb") as archive:
        response = upload(token_client(coordinator), patient, [archive], scan_date="2024-03-16")
    assert response.status_code == 400
    assert response.json()["scan_date"] == [
        "The headers of series.zip say the scan was acquired on 2024-03-15; you typed 2024-03-16. "
        "Correct the date or leave it blank. Nothing was saved."]
    assert not ScanSession.objects.exists()


def test_the_api_starts_the_first_reconstruction_with_the_given_parameters(coordinator, patient, tmp_path):
    with dicom_zip(tmp_path).open("rb") as archive:
        response = upload(token_client(coordinator), patient, [archive], inversion="iswim")
    assert response.status_code == 201, response.json()
    assert ScanSession.objects.get().recon_runs.get().params["inversion"] == "iswim"
