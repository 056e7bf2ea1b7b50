"""The sweep puts transfers right: a job whose message was lost (or sent while the broker was down) is sent
again, a stale running one too, and export zips are removed once they have been kept long enough."""
import base64
import datetime as dt
import json
import os
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from exchange import transfers
from exchange.export import Selection
from exchange.models import Transfer
from recon.sweep import sweep
from tests.exchange.study_data import DESIGN, build_study

pytestmark = pytest.mark.django_db(transaction=True)


def sent_transfers(queue) -> list[tuple[str, int]]:
    """(task name, transfer id) of each message waiting in the broker's ingest queue."""
    sent = []
    for raw in queue.lrange("ingest", 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        sent.append((message["headers"]["task"], args[0]))
    return sent


def test_a_queued_job_whose_message_was_lost_is_sent_again_by_the_sweep(private_redis, settings, study, coordinator):
    settings.SWEEP_RESEND_AFTER = 600
    build_study(study, design=DESIGN[:1], scans=False)
    transfer = transfers.start_export(study, Selection(), coordinator)
    queue = private_redis.client()
    assert sent_transfers(queue) == [("exchange.export_bids", transfer.pk)]
    queue.flushdb()

    assert "BIDS" not in str(sweep())  # a fresh queued job is left alone: its message may be on its way
    assert queue.llen("ingest") == 0

    Transfer.objects.filter(pk=transfer.pk).update(created_at=transfer.created_at - dt.timedelta(seconds=601))
    assert f"resent BIDS transfers [{transfer.pk}]" in str(sweep())
    assert sent_transfers(queue) == [("exchange.export_bids", transfer.pk)]


def test_the_sweep_leaves_a_live_running_job_alone_and_resends_a_stale_one(private_redis, settings, study, coordinator):
    transfer = Transfer.objects.create(kind=Transfer.Kind.IMPORT, study=study, requested_by=coordinator,
                                       status=Transfer.Status.RUNNING, heartbeat_at=timezone.now())
    queue = private_redis.client()
    assert transfers.resend_lost(only_stale=True) == [] and queue.llen("ingest") == 0
    stale = timezone.now() - dt.timedelta(seconds=settings.RECON_STALE_AFTER_SECONDS + 1)
    Transfer.objects.filter(pk=transfer.pk).update(heartbeat_at=stale)
    assert transfers.resend_lost(only_stale=True) == [transfer.pk]
    assert sent_transfers(queue) == [("exchange.import_bids", transfer.pk)]


def test_an_export_started_while_the_broker_is_down_waits_and_is_sent_later(private_redis, settings, as_viewer, study):
    settings.SWEEP_RESEND_AFTER = 0
    build_study(study, design=DESIGN[:1], scans=False)
    private_redis.stop()

    started = time.monotonic()
    response = as_viewer.post(reverse("bids_export", args=[study.pk]), follow=True)
    took = time.monotonic() - started
    transfer = Transfer.objects.get(study=study)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == transfer.get_absolute_url()
    assert b"It waits for a worker" in response.content and transfer.status == "queued"
    assert took < 5, f"the request waited {took:.1f} s for the broker"

    private_redis.start()
    assert f"resent BIDS transfers [{transfer.pk}]" in str(sweep())
    assert sent_transfers(private_redis.client()) == [("exchange.export_bids", transfer.pk)]


def aged(path, seconds: float):
    if not path.exists():
        path.write_bytes(b"PK")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_the_sweep_removes_exports_kept_long_enough(settings, media, as_viewer, study, coordinator):
    settings.BIDS_EXPORT_KEPT_FOR = 3600
    build_study(study, design=DESIGN[:1], scans=False)
    old, fresh = (transfers.start_export(study, Selection(), coordinator) for _ in range(2))
    for transfer in (old, fresh):
        transfers.work(transfer.pk)
    Transfer.objects.filter(pk=old.pk).update(finished_at=timezone.now() - dt.timedelta(hours=2))
    old.refresh_from_db()
    old_zip = aged(old.file, 2 * 3600)
    killed = aged(transfers.exports_dir() / f"{old.uid}.zip.tmp-0f0e", 2 * 3600)  # a killed worker's partial zip
    writing = transfers.exports_dir() / f"{fresh.uid}.zip.tmp-5678"
    writing.write_bytes(b"PK")

    assert "removed 2 expired exports" in str(sweep())
    assert not old_zip.exists() and not killed.exists() and writing.exists()
    fresh.refresh_from_db()
    assert fresh.file.is_file()
    page = as_viewer.get(old.get_absolute_url())
    assert b"expired: export again" in page.content
    assert as_viewer.get(reverse("bids_download", args=[study.pk, old.uid])).status_code == 404
