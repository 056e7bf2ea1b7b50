"""Sending recon tasks so that a broker outage cannot break the request that created the run.

The run is saved first; its task is sent once the transaction commits. If the broker cannot be
reached the send is logged and given up: the run stays queued and the sweep (recon.sweep) sends
it again later.
"""
from __future__ import annotations

import logging

from django.db import transaction
from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)

# What a send raises when the broker is down: kombu wraps connection errors in OperationalError;
# the others are what a connection lost half-way can leave unwrapped.
BROKER_DOWN = (OperationalError, ConnectionError, OSError, TimeoutError)


def send_now(task, run_id: int) -> bool:
    """Send ``task(run_id)``; on a broker error log a warning and return False."""
    try:
        task.delay(run_id)
    except BROKER_DOWN as exc:
        log.warning("run %s: broker unreachable, %s not sent (the sweep sends it later): %s", run_id, task.name, exc)
        return False
    return True


def send_on_commit(task, run_id: int) -> None:
    """Send ``task(run_id)`` once the surrounding transaction commits; never raises for a broker outage."""
    transaction.on_commit(lambda: send_now(task, run_id))
