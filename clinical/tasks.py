"""Celery tasks of the ingest queue: checking and storing received uploads (clinical.ingests)."""
from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from . import ingests
from .scanio.errors import without_paths

log = logging.getLogger(__name__)


@shared_task(bind=True, name="clinical.ingest", acks_late=True, reject_on_worker_lost=True,
             soft_time_limit=settings.INGEST_SOFT_TIME_LIMIT, time_limit=settings.INGEST_SOFT_TIME_LIMIT + 300)
def ingest_task(self, ingest_id: int) -> str:
    """Check and store one received upload. Idempotent: a finished ingest is left alone, a live one checked later."""
    claim = ingests.claim(ingest_id)
    if claim in ("missing", "finished"):
        return claim
    if claim == "busy":
        self.apply_async((ingest_id,), countdown=settings.RECON_STALE_AFTER_SECONDS)
        return "busy"
    heartbeat = ingests.heartbeat(claim)
    heartbeat.start()
    try:
        return ingests.perform(claim).status
    except ingests.TakenOver:
        return "taken over"
    except Exception as exc:  # transient (database, disk): back off and try again
        if self.request.retries >= settings.RECON_MAX_RETRIES:
            ingests.give_up(ingest_id, f"The files could not be processed after {self.request.retries + 1} attempts "
                                       f"({exc.__class__.__name__}: {without_paths(str(exc))}); upload them again or "
                                       "tell an administrator.")
            return "refused"
        log.warning("ingest %s: transient failure, retrying: %s", ingest_id, exc)
        ingests.release(claim)
        raise self.retry(exc=exc, countdown=min(600, 10 * 2**self.request.retries))
    finally:
        heartbeat.stopped.set()
