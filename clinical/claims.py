"""Claiming a job's row for one delivery of its task: a token, a heartbeat, a takeover when stale.

Ingests (clinical.ingests) and reconstruction runs (recon.jobs) share it. A delivery claims the row
by storing a new token and marking it running; while it works, a :class:`Heartbeat` touches
``heartbeat_at``. A second delivery of a live row is told "busy", of a finished one "finished"; one
whose heartbeat is older than RECON_STALE_AFTER_SECONDS (its worker was killed) takes over, and the
first delivery, if it still runs, finds the row no longer held with its token. The model needs the
fields ``status``, ``claim``, ``heartbeat_at``, ``attempts``, ``started_at`` and a ``finished`` property.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone


@dataclass(frozen=True)
class Claim:
    pk: int
    token: uuid.UUID


def stale_after() -> timedelta:
    return timedelta(seconds=settings.RECON_STALE_AFTER_SECONDS)


def claim_row(model: type[models.Model], pk: int, running: str, **starting) -> Claim | str:
    """Take row ``pk`` for this delivery (status ``running``, plus the ``starting`` field values), or say
    why not: "missing", "finished" or "busy" (a live worker holds it)."""
    with transaction.atomic():
        row = model.objects.select_for_update().filter(pk=pk).first()
        if row is None:
            return "missing"
        if row.finished:
            return "finished"
        now = timezone.now()
        if row.status == running and row.heartbeat_at and now - row.heartbeat_at < stale_after():
            return "busy"
        row.claim, row.status, row.attempts = uuid.uuid4(), running, row.attempts + 1
        row.started_at, row.heartbeat_at = row.started_at or now, now
        for name, value in starting.items():
            setattr(row, name, value)
        row.save(update_fields=["claim", "status", "attempts", "started_at", "heartbeat_at", *starting])
        return Claim(row.pk, row.claim)


def held_by(model: type[models.Model], claim: Claim, running: str) -> models.QuerySet:
    """The row, if this claim still holds it (empty once cancelled, finished or taken over)."""
    return model.objects.filter(pk=claim.pk, claim=claim.token, status=running)


def unfinished(model: type[models.Model], waiting: str, running: str, waiting_before=None,
               only_stale: bool = False) -> list[int]:
    """Rows whose task may have been lost: ``waiting`` (created before ``waiting_before``, if given) or
    ``running`` (only with a stale heartbeat if ``only_stale``). Sending them again is harmless: a live
    row answers "busy" and a finished one is left alone (see :func:`claim_row`)."""
    queued = Q(status=waiting)
    if waiting_before is not None:
        queued &= Q(created_at__lt=waiting_before)
    live = Q(status=running)
    if only_stale:
        live &= Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=timezone.now() - stale_after())
    return list(model.objects.filter(queued | live).order_by("pk").values_list("pk", flat=True))


class Heartbeat(threading.Thread):
    """Touches heartbeat_at of the rows ``holding()`` gives while a job runs, so a live job is never taken over."""

    def __init__(self, holding: Callable[[], models.QuerySet]) -> None:
        super().__init__(daemon=True)
        self.holding, self.stopped = holding, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(settings.RECON_HEARTBEAT_SECONDS):
            self.holding().update(heartbeat_at=timezone.now())
        connection.close()  # this thread's own connection
