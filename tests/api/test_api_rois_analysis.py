"""ROIs, measurements and the analysis over the API: the same functions and numbers as the pages."""
from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dashboard.analysis import analyse
from dashboard.dataset import Filters, build_dataset
from recon.models import RoiDefinition
from qsm.roi import sphere_mask
from tests.api.conftest import token_client
from tests.dashboard.cohort import seed_cohort
from tests.recon_data import phantom

pytestmark = pytest.mark.django_db


def test_a_sphere_becomes_the_next_version_of_an_roi(seeded, coordinator):
    api = token_client(coordinator)
    body = {"scan": seeded["scan"].pk, "name": "LMC", "x": 10.0, "y": 0.0, "z": 20.0, "radius": 6,
            "within_brain": False}
    response = api.post(f"/api/v1/studies/{seeded['study'].pk}/rois/sphere", body, format="json")
    assert response.status_code == 201, response.json()
    [roi] = response.json()
    head = phantom()
    expected = sphere_mask(head.magnitude.shape[:3], head.affine, [10.0, 0.0, 20.0], 6)
    assert roi["name"] == "LMC" and roi["version"] == 2 and roi["source"] == "sphere"
    assert roi["voxels"] == int(expected.sum()) and roi["details"]["radius_mm"] == 6
    mask = api.get(f"/api/v1/studies/{seeded['study'].pk}/rois/{roi['id']}/mask")
    assert mask.status_code == 200
    listed = api.get(f"/api/v1/studies/{seeded['study'].pk}/rois/", {"name": "LMC"}).json()["results"]
    assert [r["version"] for r in listed] == [2, 1]


def test_sphere_problems_are_named(seeded, coordinator):
    api = token_client(coordinator)
    url = f"/api/v1/studies/{seeded['study'].pk}/rois/sphere"
    body = {"scan": seeded["scan"].pk, "name": "XYZ", "x": 0, "y": 0, "z": 0, "radius": 4}
    assert "name" in api.post(url, body, format="json").json()
    body = {**body, "name": "RMC"}  # inside the brain mask needs a finished reconstruction
    response = api.post(url, body, format="json")
    assert response.status_code == 400 and "finished reconstruction" in response.json()["non_field_errors"][0]
    assert not RoiDefinition.objects.filter(name="RMC").exists()


def test_a_label_image_upload_maps_values_to_names(seeded, coordinator):
    head = phantom()
    labels = np.zeros(head.chi.shape, np.uint8)
    labels[head.rois["RMC"]], labels[head.rois["RCT"]] = 2, 4
    data = gzip.compress(nib.Nifti1Image(labels, head.affine).to_bytes())
    api = token_client(coordinator)
    url = f"/api/v1/studies/{seeded['study'].pk}/rois/upload"
    response = api.post(url, {"scan": seeded["scan"].pk, "mapping": "2=RMC, 4=RCT",
                              "file": SimpleUploadedFile("labels.nii.gz", data)}, format="multipart")
    assert response.status_code == 201, response.json()
    assert sorted(r["name"] for r in response.json()) == ["RCT", "RMC"]
    response = api.post(url, {"scan": seeded["scan"].pk, "mapping": "1=NOPE",
                              "file": SimpleUploadedFile("labels.nii.gz", data)}, format="multipart")
    assert response.status_code == 400 and "NOPE" in response.json()["mapping"][0]
    flipped = gzip.compress(nib.Nifti1Image(labels, np.diag([-1.0, 1, 1, 1]) @ head.affine).to_bytes())
    response = api.post(url, {"scan": seeded["scan"].pk, "mapping": "2=RMC",
                              "file": SimpleUploadedFile("flipped.nii.gz", flipped)}, format="multipart")
    assert response.status_code == 400 and "flipped.nii.gz" in response.json()["file"][0]


def test_measurements_are_listed_with_their_roi_and_run(seeded, viewer):
    api = token_client(viewer)
    url = f"/api/v1/studies/{seeded['study'].pk}/roi-values/"
    [value] = api.get(url, {"name": "LMC", "run": seeded["run"].pk}).json()["results"]
    assert value["mean_ppb"] == 12.5 and value["roi_version"] == 1 and value["scan"] == seeded["scan"].pk
    assert api.get(url, {"name": "RMC"}).json()["count"] == 0
    assert api.get(url, {"current": "true"}).json()["count"] == 0  # the seeded run never became current


@pytest.mark.parametrize("query,filters,within", [
    ({}, Filters(), "spasticity"),
    ({"diagnosis": ["ALS"], "within": "all"}, Filters(diagnoses=["ALS"]), "all"),
    ({"diagnosis": ["ALS", "PLS"], "max_gap": 5, "date_from": "2024-01-01"},
     Filters(diagnoses=["ALS", "PLS"], max_gap_days=5, date_from=__import__("datetime").date(2024, 1, 1)),
     "spasticity"),
])
def test_the_analysis_is_the_dashboards(study, viewer, query, filters, within):
    seed_cohort(study)
    response = token_client(viewer).get(f"/api/v1/studies/{study.pk}/analysis", query)
    assert response.status_code == 200
    data = response.json()
    expected = analyse(build_dataset(study, filters), within)
    assert data["n_rows"] == expected["n_rows"] and data["n_patients"] == expected["n_patients"] > 0
    flat = [(section.title, c.as_dict()) for section in expected["sections"] for c in section.comparisons]
    assert [(c["section"], c["name"], c["p_value"], c["p_holm"]) for c in data["comparisons"]] == [
        (title, c["name"], c["p_value"], c["p_holm"]) for title, c in flat]
    assert [c["effects"] for c in data["comparisons"]] == [c["effects"] for _, c in flat]


def test_the_analysis_matches_the_unversioned_endpoint_and_refuses_bad_filters(study, viewer, client):
    seed_cohort(study)
    api = token_client(viewer)
    versioned = api.get(f"/api/v1/studies/{study.pk}/analysis", {"diagnosis": "PLS"}).json()
    client.force_login(viewer)
    page = client.get(f"/api/studies/{study.pk}/analysis", {"diagnosis": "PLS"}).json()
    assert versioned["comparisons"] == page["comparisons"] and versioned["filters"] == page["filters"]
    errors = api.get(f"/api/v1/studies/{study.pk}/analysis", {"date_from": "yesterday", "within": "x"}).json()
    assert set(errors) == {"date_from", "within"}
