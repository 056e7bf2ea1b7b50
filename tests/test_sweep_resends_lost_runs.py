"""A queued run whose message was lost (the broker's data flushed) is sent again by the sweep, once."""
import datetime as dt

import pytest

from clinical.models import Patient
from recon.models import ReconRun
from recon.sweep import sweep
from tests.recon_data import phantom_scan
from tests.test_recon_broker_down import sent_run_ids


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))


def test_a_queued_run_whose_message_was_lost_is_sent_again_by_the_sweep(
        transactional_db, private_redis, settings, media, patient):
    settings.SWEEP_RESEND_AFTER = 600
    run = phantom_scan(patient).recon_runs.get()
    queue = private_redis.client()
    assert sent_run_ids(queue) == [run.pk]
    queue.flushdb()

    assert sweep().resent == []  # a fresh queued run is left alone: its message may be on its way
    assert queue.llen("recon") == 0

    ReconRun.objects.filter(pk=run.pk).update(created_at=run.created_at - dt.timedelta(seconds=601))
    assert sweep().resent == [run.pk]
    assert queue.llen("recon") == 1 and sent_run_ids(queue) == [run.pk]


def test_the_sweep_leaves_a_live_running_run_alone_and_resends_a_stale_one(
        transactional_db, private_redis, settings, media, patient):
    run = phantom_scan(patient).recon_runs.get()
    queue = private_redis.client()
    queue.flushdb()
    now = dt.datetime.now(dt.timezone.utc)
    ReconRun.objects.filter(pk=run.pk).update(status=ReconRun.Status.RUNNING, heartbeat_at=now)
    assert sweep().resent == [] and queue.llen("recon") == 0
    stale = now - dt.timedelta(seconds=settings.RECON_STALE_AFTER_SECONDS + 1)
    ReconRun.objects.filter(pk=run.pk).update(heartbeat_at=stale)
    assert sweep().resent == [run.pk] and sent_run_ids(queue) == [run.pk]
