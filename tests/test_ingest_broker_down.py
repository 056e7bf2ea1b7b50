"""Uploads while the broker is down: received and shown as waiting for a worker, sent by the sweep once it is back."""
import datetime as dt
import time

import pytest
from django.urls import reverse

from clinical.models import Ingest, Patient, ScanSession
from recon.sweep import sweep
from tests.api.conftest import token_client
from tests.conftest import wait_for
from tests.scan_data import dicom_zip

pytestmark = pytest.mark.worker


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))


def test_uploads_during_an_outage_wait_and_are_stored_when_it_ends(
        private_redis, workers, settings, client, coordinator, patient, tmp_path):
    settings.SWEEP_RESEND_AFTER = 0
    private_redis.stop()
    client.force_login(coordinator)
    started = time.monotonic()
    with dicom_zip(tmp_path / "page").open("rb") as archive:
        page = client.post(reverse("scan_upload", args=[patient.study_id, patient.pk]), {"files": [archive]})
    with dicom_zip(tmp_path / "api", seed=1).open("rb") as archive:
        api = token_client(coordinator).post(f"/api/v1/studies/{patient.study_id}/scans/",
                                             {"patient": patient.pk, "files": [archive]}, format="multipart")
    took = time.monotonic() - started
    assert page.status_code == 302 and api.status_code == 202, api.content
    assert took < 10, f"the requests waited {took:.1f} s for the broker"
    assert "received, waiting for a worker" in client.get(page["Location"]).content.decode()
    assert client.get("/healthz").json()["broker"].startswith("error")
    received = list(Ingest.objects.order_by("pk"))
    assert [i.status for i in received] == ["received", "received"] and all(i.folder.is_dir() for i in received)

    private_redis.start()  # back, but empty: the messages were never sent
    assert private_redis.client().llen("ingest") == 0
    assert sweep().ingests == [i.pk for i in received]
    workers.start()
    for ingest in received:
        wait_for(lambda: Ingest.objects.get(pk=ingest.pk).finished, timeout=60)
    assert [i.status for i in Ingest.objects.order_by("pk")] == ["stored", "stored"]
    assert ScanSession.objects.count() == 2
