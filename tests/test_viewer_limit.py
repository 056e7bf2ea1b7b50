"""The viewer's chi display limit is fixed when a run is published, the same as its preview's."""
import datetime as dt

import nibabel as nib
import numpy as np
import pytest
from django.urls import reverse

from clinical.models import Patient
from recon.previews import symmetric_limit
from tests.recon_data import phantom_scan, reconstructed


@pytest.fixture
def run(study):
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    return reconstructed(phantom_scan(patient))


def limit_from_files(run) -> float:
    chi = np.asarray(nib.load(run.output_path("chi")).dataobj)
    mask = np.asarray(nib.load(run.output_path("mask")).dataobj) > 0
    return symmetric_limit(chi, mask)


def viewer_limit_shown(client, run) -> float:
    response = client.get(reverse("viewer", args=[run.scan.study_id, run.scan_id]))
    assert response.status_code == 200
    return response.context["config"]["chi_limit_ppm"]


def test_it_stores_the_limit_of_the_published_chi(run):
    assert run.display_limit_ppm == limit_from_files(run) >= 0.05


def test_the_viewer_shows_the_stored_limit(as_coordinator, run):
    assert viewer_limit_shown(as_coordinator, run) == run.display_limit_ppm


def test_a_run_published_without_a_limit_gets_it_from_its_files_once(as_coordinator, run):
    expected = run.display_limit_ppm
    type(run).objects.filter(pk=run.pk).update(display_limit_ppm=None)
    assert viewer_limit_shown(as_coordinator, run) == expected
    run.refresh_from_db()
    assert run.display_limit_ppm == expected
