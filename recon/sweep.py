"""The sweep: what a broker outage or a killed process leaves behind is put right periodically.

(a) Runs and ingests still queued SWEEP_RESEND_AFTER seconds after they were created (their message
    was lost: the broker was down at the send, or was flushed) and running ones whose worker stopped
    beating are sent again; the tasks' claims make a duplicate message harmless.
(b) Leftovers are removed: those untouched for SWEEP_LEFTOVERS_AFTER seconds (killed uploads under
    MEDIA_ROOT/.incoming, resumable uploads nobody finished, scan folders no row names, reconstruction
    staging folders of killed workers), the files of finished ingests a killed worker left, and
    expired held uploads.
(c) Whatever the apps above recon registered (register_sweeper): recon cannot import them.

It runs when a worker starts, from Celery beat (CELERY_BEAT_SCHEDULE; `runlocal` embeds beat in its
worker) and from `manage.py sweep` (cron).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from clinical import ingests
from clinical.held import remove_expired as remove_expired_held
from clinical.scans import remove_incoming_leftovers, remove_orphan_scan_folders, remove_untouched
from clinical.tus import remove_abandoned as remove_abandoned_tus

from clinical.dispatch import send_now

from . import jobs

log = logging.getLogger(__name__)
_sweepers: list[Callable[[bool], str]] = []


def register_sweeper(sweeper: Callable[[bool], str]) -> None:
    """Have the sweep call ``sweeper(worker_start)`` too; it answers what it did in words ('' for nothing).
    Apps above recon register theirs in their AppConfig.ready."""
    if sweeper not in _sweepers:
        _sweepers.append(sweeper)


@dataclass
class Swept:
    resent: list[int] = field(default_factory=list)
    ingests: list[int] = field(default_factory=list)
    incoming: int = 0
    staging: int = 0
    held: int = 0
    others: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join([f"resent runs {self.resent or 'none'}, ingests {self.ingests or 'none'}; removed "
                          f"{self.incoming} incoming, {self.staging} staging, {self.held} held leftovers", *self.others])


def requeue_orphans(queued_before=None, only_stale: bool = False) -> list[int]:
    """Send again every run that is queued or whose worker stopped beating; return the ids sent.
    With the broker down nothing is sent: the next sweep tries."""
    return [run_id for run_id in jobs.resend_candidates(queued_before, only_stale)
            if send_now("recon.reconstruct", run_id)]


def staging_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "recon"


def remove_staging_leftovers(older_than_s: float) -> int:
    """Delete staging folders (<run uid>.tmp-<claim>, see jobs.reconstruct_run) untouched for ``older_than_s``."""
    return remove_untouched(staging_root().glob("*/*.tmp-*") if staging_root().is_dir() else [], older_than_s)


def sweep(worker_start: bool = False) -> Swept:
    """Re-send lost runs and remove old leftovers. When a worker starts every queued or running run is
    sent (a dead worker's run may still look alive); otherwise only old queued and stale running ones."""
    swept = Swept()
    if worker_start:
        swept.resent = requeue_orphans()
        swept.ingests = ingests.resend_lost()
    else:
        before = timezone.now() - timedelta(seconds=settings.SWEEP_RESEND_AFTER)
        swept.resent = requeue_orphans(queued_before=before, only_stale=True)
        swept.ingests = ingests.resend_lost(received_before=before, only_stale=True)
    swept.incoming = sum(remove(settings.SWEEP_LEFTOVERS_AFTER) for remove in (
        remove_incoming_leftovers, ingests.remove_leftovers, remove_abandoned_tus, remove_orphan_scan_folders))
    swept.staging = remove_staging_leftovers(settings.SWEEP_LEFTOVERS_AFTER)
    swept.held = remove_expired_held()
    swept.others = [done for sweeper in _sweepers if (done := sweeper(worker_start))]
    if swept.resent or swept.ingests or swept.incoming or swept.staging or swept.held or swept.others:
        log.info("sweep: %s", swept)
    return swept
