"""Celery tasks of BIDS transfers (queue "ingest", CELERY_TASK_ROUTES); the work is in exchange.transfers.

Both are idempotent: a delivery for a finished job does nothing and one for a job a live worker
holds leaves it alone, so the sweep may send them again whenever their message could be lost.
"""
from __future__ import annotations

from celery import shared_task

from . import transfers


@shared_task(name="exchange.export_bids", acks_late=True, reject_on_worker_lost=True)
def export_bids_task(transfer_id: int) -> str:
    """Write a BIDS export job's zip under MEDIA_ROOT/exports."""
    return transfers.work(transfer_id)


@shared_task(name="exchange.import_bids", acks_late=True, reject_on_worker_lost=True)
def import_bids_task(transfer_id: int) -> str:
    """Import a BIDS import job's uploaded zip, all or nothing, and remove the zip."""
    return transfers.work(transfer_id)
