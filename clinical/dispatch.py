"""Sending Celery tasks so that a broker outage cannot break the request that saved the work.

The row (an ingest, a run, a transfer) is saved first; its task is sent once the transaction
commits. If the broker cannot be reached the send is logged and given up: the row stays queued and
the sweep (recon.sweep) sends it again later. This is the one place tasks are sent from; it lives
in the lowest app so that every app above can use it. Tasks are sent by name, so that the code
saving a row never imports the task module that works on it (the task module imports that code).
"""
from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction
from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)

# What a send raises when the broker is down: kombu wraps connection errors in OperationalError;
# the others are what a connection lost half-way can leave unwrapped.
BROKER_DOWN = (OperationalError, ConnectionError, OSError, TimeoutError)


def send_now(task: str, *args) -> bool:
    """Send the task named ``task`` with ``args``; on a broker error log a warning and return False."""
    try:
        current_app.send_task(task, args=args)
    except BROKER_DOWN as exc:
        log.warning("%s%s: broker unreachable, not sent (the sweep sends it later): %s", task, args, exc)
        return False
    return True


def send_on_commit(task: str, *args) -> None:
    """Send the task named ``task`` once the surrounding transaction commits; never raises for a broker outage."""
    transaction.on_commit(lambda: send_now(task, *args))
