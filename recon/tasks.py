"""The reconstruction job's orchestration: its tasks, queueing, retry, chaining and the sweep's re-sends.

The run's database state and work live in recon.jobs (and ROI storage in recon.rois); this module
imports them and never the reverse, so the flow reads one way: a view calls :func:`queue_run`, the
``recon.reconstruct`` task claims and reconstructs the run, then chains ``recon.measure_rois``.
Every send goes through clinical.dispatch after the transaction commits; a lost one is re-sent by
the sweep (recon.sweep), which this module runs on worker start and from beat.
"""
from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.conf import settings

from clinical.dispatch import send_now, send_on_commit

from . import jobs, rois
from .models import ReconRun
from .sweep import sweep

log = logging.getLogger(__name__)
RECONSTRUCT, MEASURE = "recon.reconstruct", "recon.measure_rois"


def queue_run(scan, params: dict | None = None, user=None) -> ReconRun:
    """Create a run and send its task once the surrounding transaction commits."""
    run = jobs.create_run(scan, params, user)
    send_on_commit(RECONSTRUCT, run.pk)
    return run


def queue_first_run(scan, params: dict | None, user) -> ReconRun:
    """Every newly stored scan is reconstructed: with the ingest's parameters, or the defaults."""
    return queue_run(scan, params, user=user)


def retry(run: ReconRun) -> bool:
    """Send a failed or cancelled run again (same parameters, same row)."""
    if not jobs.reset_for_retry(run):
        return False
    send_on_commit(RECONSTRUCT, run.pk)
    return True


def make_current(run: ReconRun) -> bool:
    """Use this succeeded run for analysis and measure the ROIs on it; False for a run that did not succeed."""
    if not run.make_current():
        return False
    send_on_commit(MEASURE, run.pk)
    return True


@shared_task(
    bind=True,
    name=RECONSTRUCT,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.RECON_SOFT_TIME_LIMIT,
    time_limit=settings.RECON_SOFT_TIME_LIMIT + 300,
)
def reconstruct_task(self, run_id: int) -> str:
    """Reconstruct one run, then measure its ROIs. Idempotent: a finished run is left alone, a live one checked later."""
    claim = jobs.claim(run_id)
    if claim in ("missing", "finished"):
        return claim
    if claim == "busy":
        # Another worker is beating on it; look again once it could have gone stale.
        self.apply_async((run_id,), countdown=settings.RECON_STALE_AFTER_SECONDS)
        return "busy"
    heartbeat = jobs.heartbeat(claim)
    heartbeat.start()
    try:
        jobs.reconstruct_run(claim)
    except jobs.Cancelled:
        return "cancelled"
    except SoftTimeLimitExceeded:
        jobs.fail(run_id, f"Stopped after the {settings.RECON_SOFT_TIME_LIMIT} s time limit; "
                          "check the scan's size or raise RECON_SOFT_TIME_LIMIT.", claim.token)
        return "failed"
    except ValueError as exc:  # bad data (InputError is a ValueError): retrying cannot help
        jobs.fail(run_id, str(exc), claim.token)
        return "failed"
    except Exception as exc:  # transient (database, disk, broker): back off and try again
        if self.request.retries >= settings.RECON_MAX_RETRIES:
            jobs.fail(run_id, f"Gave up after {self.request.retries + 1} attempts: {exc.__class__.__name__}: {exc}",
                      claim.token)
            return "failed"
        log.warning("run %s: transient failure, retrying: %s", run_id, exc)
        jobs.release(claim)
        raise self.retry(exc=exc, countdown=min(600, 10 * 2**self.request.retries))
    finally:
        heartbeat.stopped.set()
    send_now(MEASURE, run_id)  # the run is published (committed): its ROI values follow it
    return "succeeded"


@shared_task(name=MEASURE, acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def measure_rois_task(run_id: int) -> int:
    """ROI statistics of a succeeded run (chained after reconstruction, and after ROI or current-run changes)."""
    run = ReconRun.objects.succeeded().filter(pk=run_id).select_related("scan").first()
    return len(rois.measure(run)) if run else 0


@worker_ready.connect
def sweep_on_start(sender=None, **kwargs) -> None:
    """A restarted worker picks up runs and ingests whose worker died (the embedded broker cannot
    redeliver), and removes what killed uploads and runs left behind (recon.sweep)."""
    if sender is None or not {"recon", "ingest"} & set(sender.app.amqp.queues.consume_from or {}):
        return
    swept = sweep(worker_start=True)
    if swept.resent or swept.ingests:
        log.info("requeued runs %s, ingests %s", swept.resent, swept.ingests)


@shared_task(name="recon.sweep", ignore_result=True)
def sweep_task() -> str:
    """The periodic sweep (CELERY_BEAT_SCHEDULE): re-send lost runs and ingests, remove old leftovers."""
    return str(sweep())
