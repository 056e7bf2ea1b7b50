"""An ingest's states: claimed once, delivered twice harmlessly, shown only to the study, cleaned up by the sweep."""
import datetime as dt
import os
import time

from pathlib import Path

import pytest
from django.urls import reverse
from django.utils.module_loading import import_string
from django.utils import timezone

from clinical import ingests
from clinical.models import Ingest, ScanSession
from clinical.tasks import ingest_task
from recon.sweep import sweep
from tests.api.conftest import token_client
from tests.scan_data import dicom_zip

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def received(client, study, patient, tmp_path) -> Ingest:
    with dicom_zip(tmp_path).open("rb") as archive:
        response = client.post(reverse("scan_upload", args=[study.pk, patient.pk]), {"files": [archive]})
    ingest = Ingest.objects.get()
    assert response["Location"] == ingest.get_absolute_url()
    return ingest


def test_the_request_only_receives_the_files(as_coordinator, study, patient, tmp_path):
    ingest = received(as_coordinator, study, patient, tmp_path)
    assert ingest.status == Ingest.Status.RECEIVED and not ScanSession.objects.exists()
    [entry] = ingest.files
    assert entry["name"] == "series.zip" and entry["bytes"] == (tmp_path / "series.zip").stat().st_size
    assert (ingest.folder / "files" / "series.zip").is_file() and len(entry["sha256"]) == 64
    status = as_coordinator.get(ingest.get_absolute_url(), HTTP_ACCEPT="application/json").json()
    assert status["status"] == "received" and status["label"] == "received, waiting for a worker"


def test_a_finished_ingest_delivered_again_is_left_alone(as_coordinator, study, patient, tmp_path):
    ingest = received(as_coordinator, study, patient, tmp_path)
    assert ingest_task.apply(args=[ingest.pk]).get() == "stored"
    assert ingest_task.apply(args=[ingest.pk]).get() == "finished"
    assert ScanSession.objects.count() == 1 and Ingest.objects.get().attempts == 1


def test_a_live_ingest_is_not_taken_twice_but_a_stale_one_is(as_coordinator, study, patient, tmp_path, settings):
    ingest = received(as_coordinator, study, patient, tmp_path)
    first = ingests.claim(ingest.pk)
    assert isinstance(first, ingests.Claim) and ingests.claim(ingest.pk) == "busy"
    stale = timezone.now() - dt.timedelta(seconds=settings.RECON_STALE_AFTER_SECONDS + 1)
    Ingest.objects.filter(pk=ingest.pk).update(heartbeat_at=stale)
    second = ingests.claim(ingest.pk)
    assert isinstance(second, ingests.Claim) and second.token != first.token
    with pytest.raises(ingests.TakenOver):
        ingests.perform(first)  # the first delivery finds it is no longer its own when it would store
    assert not ScanSession.objects.exists()
    assert ingests.perform(second).status == Ingest.Status.STORED and Ingest.objects.get().attempts == 2


def test_only_the_study_sees_an_ingest(client, as_coordinator, study, patient, outsider, viewer, tmp_path):
    ingest = received(as_coordinator, study, patient, tmp_path)
    api_url = f"/api/v1/studies/{study.pk}/ingests/{ingest.uid}"
    assert token_client(viewer).get(api_url).json()["status"] == "received"
    assert token_client(outsider).get(api_url).status_code == 404
    client.force_login(outsider)
    assert client.get(ingest.get_absolute_url()).status_code == 404
    other = reverse("ingest", args=[outsider.memberships.get().study_id, ingest.uid])
    assert client.get(other).status_code == 404


def test_the_sweep_removes_what_finished_and_killed_ingests_left(as_coordinator, study, patient, tmp_path, settings):
    ingest = received(as_coordinator, study, patient, tmp_path)
    Ingest.objects.filter(pk=ingest.pk).update(status=Ingest.Status.REFUSED)  # a worker killed before removing them
    orphan = ingest.folder.with_name("00000000-0000-0000-0000-000000000000")  # a request killed before its row
    (orphan / "files").mkdir(parents=True)
    (orphan / "files" / "part.zip").write_bytes(b"x")
    temporary = ingest.folder.parent.parent / "tmp" / "upload.zip"  # Django's file of a killed request
    temporary.parent.mkdir(parents=True, exist_ok=True)
    temporary.write_bytes(b"raw headers")
    settings.SWEEP_LEFTOVERS_AFTER = 3600
    sweep()
    assert not ingest.folder.exists() and orphan.exists() and temporary.exists()  # too recent to be abandoned
    hours_ago = time.time() - 7200
    for path in (orphan, temporary):
        os.utime(path, (hours_ago, hours_ago))
    sweep()
    assert not orphan.exists() and not temporary.exists()


def test_raw_uploads_are_streamed_into_the_incoming_folder_not_tmp(settings, media):
    handler = import_string(settings.FILE_UPLOAD_HANDLERS[0])()
    handler.new_file("file", "IM_0001.dcm", "application/dicom", 10, None)
    handler.receive_data_chunk(b"raw header", 0)
    received = handler.file_complete(10)
    path = Path(received.temporary_file_path())
    assert path.parent == media / ".incoming" / "tmp" and path.read_bytes() == b"raw header"
    received.close()
    assert not path.exists()


def test_the_patient_page_lists_uploads_not_stored_yet(as_coordinator, study, patient, tmp_path):
    ingest = received(as_coordinator, study, patient, tmp_path)
    page = as_coordinator.get(patient.get_absolute_url()).content.decode()
    assert ingest.get_absolute_url() in page and "received, waiting for a worker" in page
    ingest_task.apply(args=[ingest.pk])
    assert ingest.get_absolute_url() not in as_coordinator.get(patient.get_absolute_url()).content.decode()
