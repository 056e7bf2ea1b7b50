"""Celery tasks of the recon queue."""
from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.conf import settings

from . import jobs

log = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="recon.reconstruct",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.RECON_SOFT_TIME_LIMIT,
    time_limit=settings.RECON_SOFT_TIME_LIMIT + 300,
)
def reconstruct_task(self, run_id: int) -> str:
    """Reconstruct one run. Idempotent: a finished run is left alone, a live one is checked on later."""
    claim = jobs.claim(run_id)
    if claim in ("missing", "finished"):
        return claim
    if claim == "busy":
        # Another worker is beating on it; look again once it could have gone stale.
        self.apply_async((run_id,), countdown=settings.RECON_STALE_AFTER_SECONDS)
        return "busy"
    heartbeat = jobs.Heartbeat(claim)
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
    return "succeeded"


@worker_ready.connect
def sweep_on_start(sender=None, **kwargs) -> None:
    """A restarted worker picks up runs and ingests whose worker died (the embedded broker cannot
    redeliver), and removes what killed uploads and runs left behind (recon.sweep)."""
    if sender is None or not {"recon", "ingest"} & set(sender.app.amqp.queues.consume_from or {}):
        return
    from .sweep import sweep

    swept = sweep(worker_start=True)
    if swept.resent or swept.ingests:
        log.info("requeued runs %s, ingests %s", swept.resent, swept.ingests)


@shared_task(name="recon.sweep", ignore_result=True)
def sweep_task() -> str:
    """The periodic sweep (CELERY_BEAT_SCHEDULE): re-send lost runs, remove old leftovers."""
    from .sweep import sweep

    return str(sweep())


@shared_task(name="recon.measure_rois", acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def measure_rois_task(run_id: int) -> int:
    """ROI statistics of a succeeded run (chained after reconstruction, and after ROI or current-run changes)."""
    from .models import ReconRun
    from .rois import measure

    run = ReconRun.objects.filter(pk=run_id, status=ReconRun.Status.SUCCEEDED).select_related("scan").first()
    return len(measure(run)) if run else 0
