"""Read-only pages answer 405 to POST, PUT and DELETE; every page links a favicon that exists."""
from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from recon.models import ReconRun
from tests.recon_data import phantom_scan

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(study, patient, media) -> list[str]:
    scan = phantom_scan(patient)
    run = ReconRun.objects.create(scan=scan, params={}, status=ReconRun.Status.SUCCEEDED)
    return [
        reverse("home"), reverse("study", args=[study.pk]), patient.get_absolute_url(), scan.get_absolute_url(),
        reverse("redcap_data", args=[study.pk]), reverse("redcap_dictionary", args=[study.pk]),
        reverse("import_template"), reverse("jobs", args=[study.pk]), reverse("viewer", args=[study.pk, scan.pk]),
        reverse("run_status", args=[study.pk, run.pk]), reverse("dashboard", args=[study.pk]),
        reverse("dataset_csv", args=[study.pk]),
    ]


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_it_refuses_writes_to_read_only_pages(as_coordinator, pages, method):
    answers = {url: getattr(as_coordinator, method)(url).status_code for url in pages}
    assert answers == {url: 405 for url in pages}


def test_it_still_shows_them(as_coordinator, pages):
    assert {url: as_coordinator.get(url).status_code for url in pages} == {url: 200 for url in pages}


def test_every_page_links_a_favicon_that_exists(as_coordinator, study):
    html = as_coordinator.get(reverse("study", args=[study.pk])).content.decode()
    assert 'rel="icon"' in html
    assert finders.find("favicon.svg")


def test_favicon_ico_redirects_to_it_without_login(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
