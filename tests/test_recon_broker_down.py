"""A run created while the broker is down is saved, the request answers normally, and the sweep sends it later."""
import base64
import datetime as dt
import json
import time

import pytest

from clinical.models import Patient
from recon.models import ReconRun
from recon.sweep import sweep
from tests.api.conftest import token_client
from tests.recon_data import phantom_scan


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))


def test_a_run_created_while_the_broker_is_down_is_saved_and_sent_later(
        transactional_db, private_redis, settings, media, patient, investigator):
    settings.SWEEP_RESEND_AFTER = 0
    scan = phantom_scan(patient)  # its first run is sent while the broker is up
    queue = private_redis.client()
    assert queue.llen("recon") == 1
    queue.delete("recon")
    private_redis.stop()

    started = time.monotonic()
    response = token_client(investigator).post(
        f"/api/v1/studies/{patient.study_id}/runs/", {"scan": scan.pk, "inversion": "iswim"}, format="json")
    took = time.monotonic() - started
    assert response.status_code == 201, response.content
    run = ReconRun.objects.get(pk=response.json()["id"])
    assert run.status == ReconRun.Status.QUEUED
    assert took < 5, f"the request waited {took:.1f} s for the broker"

    private_redis.start()
    assert queue.llen("recon") == 0
    swept = sweep()
    assert run.pk in swept.resent
    assert queue.llen("recon") == len(swept.resent)  # the new run and the scan's first run, still queued
    assert run.pk in sent_run_ids(queue)


def sent_run_ids(queue) -> list[int]:
    """The run ids of the reconstruct tasks waiting in the broker's recon queue."""
    ids = []
    for raw in queue.lrange("recon", 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "recon.reconstruct"
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        ids.append(args[0])
    return ids
