"""BIDS transfer jobs in tests: run in-process (the task itself) or by a real worker on a private broker."""
from __future__ import annotations

import io
import zipfile

import pytest

from celery import current_app

from exchange.models import Transfer
from exchange.transfers import TASKS
from tests.conftest import ARTIFACTS, start_worker, stop_worker


def run_jobs() -> list[str]:
    """Run every queued transfer's task in this process, as a worker would; return what each answered.

    The tests that call it use the transactional database: a job's progress thread writes from its
    own connection, which must see the job's row.
    """
    queued = Transfer.objects.filter(status=Transfer.Status.QUEUED).order_by("pk")
    return [current_app.tasks[TASKS[t.kind]].apply(args=[t.pk]).get() for t in queued]


def zip_members(data: bytes) -> dict[str, bytes]:
    """The members of a BIDS zip by their path under its top folder."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name.split("/", 1)[1]: zf.read(name) for name in zf.namelist()}


@pytest.fixture
def ingest_worker(private_redis, transactional_db):
    """A real worker on the queues of reconstruction and transfers, on this test's own broker."""
    ARTIFACTS.mkdir(exist_ok=True)
    process = start_worker(queues="celery,recon,ingest", hostname="bids")
    yield process
    stop_worker(process)
