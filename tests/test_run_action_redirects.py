"""A run action's `next` is followed only to a path on this site, never to another host."""
from __future__ import annotations

import pytest
from django.urls import reverse

from recon.models import ReconRun
from tests.recon_data import phantom_scan

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(patient, media) -> ReconRun:
    return ReconRun.objects.create(scan=phantom_scan(patient), params={}, status=ReconRun.Status.SUCCEEDED)


def make_current(client, run: ReconRun, next_url: str):
    return client.post(reverse("run_action", args=[run.scan.study_id, run.pk, "make-current"]), {"next": next_url})


@pytest.mark.parametrize("outside", ["https://evil.example/phish", "//evil.example/x", "http:evil.example",
                                     "\\\\evil.example", "javascript:alert(1)"])
def test_it_does_not_redirect_to_another_host(client, investigator, run, outside):
    client.force_login(investigator)
    response = make_current(client, run, outside)
    assert response.status_code == 302
    assert response["Location"] == run.scan.get_absolute_url()


def test_it_follows_a_path_on_this_site(client, investigator, run):
    client.force_login(investigator)
    jobs = reverse("jobs", args=[run.scan.study_id]) + "?status=failed"
    assert make_current(client, run, jobs)["Location"] == jobs
