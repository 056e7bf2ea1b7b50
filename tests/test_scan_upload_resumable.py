"""A scan whose files were sent ahead with tus: the page and the API ingest it like any upload."""
import json

import pytest
from django.urls import reverse

from clinical.models import Ingest, ScanSession
from clinical.tus import TusUpload
from tests.api.conftest import stored_scan, token_client
from tests.conftest import ingested
from tests.scan_data import dicom_zip

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def sent_ahead(user, study, tmp_path) -> str:
    """A finished tus upload of a DICOM zip, as the endpoint leaves it; its id."""
    body = dicom_zip(tmp_path).read_bytes()
    upload = TusUpload.create(user, study, "series.zip", len(body))
    upload.data.write_bytes(body)
    return upload.id


def test_the_page_ingests_files_sent_ahead(as_coordinator, coordinator, study, patient, tmp_path):
    upload_id = sent_ahead(coordinator, study, tmp_path)
    response = ingested(as_coordinator, as_coordinator.post(reverse("scan_upload", args=[study.pk, patient.pk]),
                                                            {"tus_uploads": json.dumps([upload_id])}))
    scan = ScanSession.objects.get()
    assert response["Location"] == scan.get_absolute_url() and scan.n_echoes == 4
    assert Ingest.objects.get().files[0]["name"] == "series.zip" and TusUpload.load(upload_id) is None


def test_the_api_ingests_files_sent_ahead(coordinator, study, patient, tmp_path):
    api = token_client(coordinator)
    upload_id = sent_ahead(coordinator, study, tmp_path)
    response = api.post(f"/api/v1/studies/{study.pk}/scans/",
                        {"patient": patient.pk, "tus_uploads": json.dumps([upload_id])}, format="multipart")
    assert stored_scan(api, response)["source_format"] == "dicom"


def test_someone_elses_or_unfinished_uploads_are_refused_and_kept(as_coordinator, coordinator, viewer, study,
                                                                   patient, tmp_path):
    theirs = sent_ahead(viewer, study, tmp_path)
    body = as_coordinator.post(reverse("scan_upload", args=[study.pk, patient.pk]),
                               {"tus_uploads": json.dumps([theirs])}).content.decode()
    assert "is unknown or has expired" in body and not Ingest.objects.exists()
    unfinished = TusUpload.create(coordinator, study, "series.zip", 1000)
    response = token_client(coordinator).post(f"/api/v1/studies/{study.pk}/scans/",
                                              {"patient": patient.pk, "tus_uploads": json.dumps([unfinished.id])},
                                              format="multipart")
    assert response.status_code == 400 and "series.zip has not finished uploading" in response.json()["tus_uploads"][0]
    assert TusUpload.load(theirs) and TusUpload.load(unfinished.id)  # nothing taken


def test_a_wrong_typed_field_leaves_the_uploads_to_use_again(coordinator, study, patient, tmp_path):
    upload_id = sent_ahead(coordinator, study, tmp_path)
    response = token_client(coordinator).post(
        f"/api/v1/studies/{study.pk}/scans/",
        {"patient": patient.pk, "tus_uploads": json.dumps([upload_id]), "scan_date": "2999-01-01"}, format="multipart")
    assert response.status_code == 400 and "future" in response.json()["scan_date"][0]
    assert TusUpload.load(upload_id).complete


def test_files_and_uploads_sent_ahead_do_not_mix(coordinator, study, patient, tmp_path):
    response = token_client(coordinator).post(f"/api/v1/studies/{study.pk}/scans/", {"patient": patient.pk},
                                              format="multipart")
    assert response.status_code == 400 and "tus_uploads" in response.json()["files"][0]
