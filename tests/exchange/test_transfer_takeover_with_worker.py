"""A worker SIGKILLed in the middle of a BIDS import: its job stops beating, the sweep sends it again and
another worker takes it over; the study is imported once, from the same zip."""
import os
import signal

import pytest

from exchange import transfers
from exchange.export import Selection, export_study
from exchange.models import Transfer
from clinical.upload_handler import IncomingUploadedFile
from recon.sweep import sweep
from tests.conftest import FAST_RECOVERY, ARTIFACTS, start_worker, stop_worker, wait_for
from tests.exchange.study_data import DESIGN, build_study

pytestmark = pytest.mark.worker


def test_an_import_whose_worker_is_killed_is_taken_over_and_imported_once(
        private_redis, transactional_db, settings, study, other_study, coordinator):
    settings.RECON_STALE_AFTER_SECONDS = float(FAST_RECOVERY["RECON_STALE_AFTER_SECONDS"])
    ARTIFACTS.mkdir(exist_ok=True)
    build_study(study, coordinator, design=DESIGN)
    private_redis.client().delete("recon")  # this test is about the import, not the study's reconstructions
    upload = IncomingUploadedFile("study.zip", "application/zip", 0, None)
    export_study(study, Selection(), upload)
    upload.flush()
    transfer = transfers.start_import(other_study, upload, coordinator)

    first = start_worker(queues="celery,ingest", hostname="bids-killed", extra_env=FAST_RECOVERY)
    second = None
    try:
        def storing_scans():
            transfer.refresh_from_db()
            return transfer.stage == "storing scan sessions" and transfer.percent >= 30

        wait_for(storing_scans, timeout=60, interval=0.1)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool process, mid-transaction
        first.wait()
        transfer.refresh_from_db()
        assert transfer.status == "running" and transfer.attempts == 1
        assert not other_study.patients.exists()  # its transaction died with it

        second = start_worker(queues="celery,ingest", hostname="bids-takeover", extra_env=FAST_RECOVERY)

        def taken_over():
            sweep()  # what beat does every SWEEP_INTERVAL: re-send the job once its heartbeat is stale
            transfer.refresh_from_db()
            return transfer.status == "succeeded"

        wait_for(taken_over, timeout=90, interval=1)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        if second is not None:
            stop_worker(second)
    assert transfer.attempts == 2 and not transfer.upload.exists()
    assert transfer.result["patients"] == len(DESIGN) and transfer.result["scans"] == len(DESIGN)
    assert sorted(other_study.patients.values_list("code", flat=True)) == sorted(code for code, _, _ in DESIGN)
    assert other_study.scans.count() == len(DESIGN)
    assert Transfer.objects.count() == 1
