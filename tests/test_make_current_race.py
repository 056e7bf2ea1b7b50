"""Concurrent "make current" requests for runs of one scan: every one is answered, one run ends current.

Real threads against PostgreSQL, each request on its own connection; SQLite runs writers
one at a time anyway, so the race needs PostgreSQL (``DATABASE_URL=postgres://...``).
"""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.urls import reverse

from clinical.models import Patient
from recon.models import ReconRun
from tests.api.conftest import token_client
from tests.recon_data import phantom_scan

REQUESTS = 20
RUNS = 4

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
                       reason="the race needs PostgreSQL: set DATABASE_URL=postgres://..."),
]


@pytest.fixture
def runs(study, settings, tmp_path) -> list[ReconRun]:
    """Succeeded runs of one scan, none of them current."""
    settings.MEDIA_ROOT = tmp_path / "media"
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    scan = phantom_scan(patient)
    return [ReconRun.objects.create(scan=scan, params={}, status=ReconRun.Status.SUCCEEDED) for _ in range(RUNS)]


def page_request(user, run: ReconRun):
    """A logged-in page client's POST, ready to send (the session is made here, not in the race)."""
    client = Client(raise_request_exception=False)
    client.force_login(user)
    url = reverse("run_action", args=[run.scan.study_id, run.pk, "make-current"])
    return lambda: client.post(url).status_code


def api_request(user, run: ReconRun):
    """A token client's POST, ready to send."""
    api = token_client(user)
    api.raise_request_exception = False
    url = f"/api/v1/studies/{run.scan.study_id}/runs/{run.pk}/make-current"
    return lambda: api.post(url).status_code


def test_only_one_of_twenty_concurrent_make_current_wins(runs, investigator):
    # Half by page (302 back to the scan), half by API (200), spread over the scan's runs.
    sends = [(page_request if i % 2 == 0 else api_request)(investigator, runs[i % RUNS]) for i in range(REQUESTS)]
    start = threading.Barrier(REQUESTS)
    answers: list[int | None] = [None] * REQUESTS

    def request(index: int) -> None:
        try:
            start.wait(timeout=30)
            answers[index] = sends[index]()
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=request, args=(i,)) for i in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == [302 if i % 2 == 0 else 200 for i in range(REQUESTS)]
    assert ReconRun.objects.filter(scan=runs[0].scan, is_current=True).count() == 1
