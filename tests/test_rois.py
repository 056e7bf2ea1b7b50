"""ROI definitions: uploaded label images, spheres, drawings; grid checks; versions; values."""
import datetime as dt
import gzip

import nibabel as nib
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinical.models import Patient
from recon import rois
from recon.models import RoiDefinition, RoiValue
from qsm.roi import roi_statistics
from tests.recon_data import phantom, phantom_scan, reconstructed

pytestmark = pytest.mark.django_db


@pytest.fixture
def scan(study):
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    return phantom_scan(patient)


@pytest.fixture
def run(scan):
    return reconstructed(scan)


def label_file(labels: np.ndarray, affine: np.ndarray, name: str = "rois.nii.gz") -> SimpleUploadedFile:
    data = gzip.compress(nib.Nifti1Image(labels.astype(np.uint8), affine).to_bytes())
    return SimpleUploadedFile(name, data)


def phantom_labels() -> np.ndarray:
    head = phantom()
    labels = np.zeros(head.chi.shape, np.uint8)
    for value, name in enumerate(["LMC", "RMC", "LCT", "RCT"], start=1):
        labels[head.rois[name]] = value
    return labels


def upload(client, scan, file, mapping="1=LMC, 2=RMC, 3=LCT, 4=RCT"):
    return client.post(reverse("roi_upload", args=[scan.study_id, scan.pk]), {"file": file, "mapping": mapping},
                       follow=True)


def test_an_uploaded_label_image_becomes_four_rois(as_coordinator, scan, run):
    response = upload(as_coordinator, scan, label_file(phantom_labels(), phantom().affine))
    assert "Saved LMC v1, RMC v1, LCT v1, RCT v1" in response.content.decode()
    head = phantom()
    for roi in RoiDefinition.objects.filter(scan=scan):
        mask = np.asarray(nib.load(roi.path).dataobj) > 0
        np.testing.assert_array_equal(mask, head.rois[roi.name])
        assert roi.voxels == head.rois[roi.name].sum() and roi.details["file"] == "rois.nii.gz"


def test_values_match_statistics_computed_by_hand(scan, run):
    head = phantom()
    rois.save_rois(scan, {"LMC": head.rois["LMC"]}, RoiDefinition.Source.UPLOADED, {})
    [value] = rois.measure(run)
    chi = np.asarray(nib.load(run.output_path("chi")).dataobj, dtype=np.float64)
    inside = chi[head.rois["LMC"]] * 1000
    assert value.mean_ppb == pytest.approx(inside.mean(), abs=1e-3)
    assert value.median_ppb == pytest.approx(np.median(inside), abs=1e-3)
    assert value.sd_ppb == pytest.approx(inside.std(ddof=1), abs=1e-3)
    assert value.voxels == inside.size and value.reference == "whole-brain mean"


def test_a_flipped_label_image_is_refused(as_coordinator, scan, run):
    affine = phantom().affine.copy()
    affine[:3, 0] *= -1
    response = upload(as_coordinator, scan, label_file(phantom_labels()[::-1], affine))
    assert "flipped along voxel axis i" in response.content.decode()
    assert not RoiDefinition.objects.exists()


def test_a_label_image_on_another_grid_is_refused(as_coordinator, scan, run):
    response = upload(as_coordinator, scan, label_file(np.zeros((10, 10, 10)), np.eye(4)))
    assert "differs from the scan" in response.content.decode() and "Nothing was saved" in response.content.decode()
    assert not RoiDefinition.objects.exists()


def test_a_bad_mapping_is_refused(as_coordinator, scan, run):
    body = upload(as_coordinator, scan, label_file(phantom_labels(), phantom().affine), "1=hand").content.decode()
    assert "&#x27;hand&#x27; is not one of this study&#x27;s ROI labels" in body
    body = upload(as_coordinator, scan, label_file(phantom_labels(), phantom().affine), "9=LMC").content.decode()
    assert "label value 9 (LMC) has no voxels" in body
    assert not RoiDefinition.objects.exists()


def test_a_sphere_is_placed_in_ras_and_kept_inside_the_brain(as_coordinator, scan, run):
    head = phantom()
    centre_vox = np.argwhere(head.rois["RMC"]).mean(axis=0)
    centre = (head.affine @ np.r_[centre_vox, 1])[:3].round(1)
    response = as_coordinator.post(reverse("roi_sphere", args=[scan.study_id, scan.pk]),
                                   {"name": "RMC", "x": centre[0], "y": centre[1], "z": centre[2], "radius": 6,
                                    "within_brain": "on"}, follow=True)
    assert "Saved RMC v1" in response.content.decode()
    roi = RoiDefinition.objects.get(name="RMC")
    mask = np.asarray(nib.load(roi.path).dataobj) > 0
    brain = np.asarray(nib.load(run.output_path("mask")).dataobj) > 0
    assert mask.any() and not (mask & ~brain).any()
    assert roi.details == {"centre_ras_mm": list(centre), "radius_mm": 6.0, "within_brain": True}


def test_a_sphere_outside_the_head_is_refused(as_coordinator, scan, run):
    response = as_coordinator.post(reverse("roi_sphere", args=[scan.study_id, scan.pk]),
                                   {"name": "LMC", "x": 900, "y": 0, "z": 0, "radius": 5}, follow=True)
    assert "The sphere holds no voxels" in response.content.decode()
    assert not RoiDefinition.objects.exists()


def test_editing_keeps_the_previous_version_and_values_follow_the_latest(scan, run):
    head = phantom()
    first = rois.save_rois(scan, {"LMC": head.rois["LMC"]}, RoiDefinition.Source.UPLOADED, {})[0]
    rois.measure(run)
    smaller = head.rois["LMC"].copy()
    smaller[tuple(np.argwhere(smaller)[0])] = False
    second = rois.save_rois(scan, {"LMC": smaller}, RoiDefinition.Source.DRAWN, {})[0]
    rois.measure(run)
    assert (first.version, second.version) == (1, 2)
    assert first.path.exists() and second.path.exists()
    assert RoiDefinition.latest_for(scan) == [second]
    assert RoiValue.objects.get(roi=second, run=run).voxels == first.voxels - 1
    assert RoiValue.objects.filter(roi=first, run=run).exists()  # the old value stays, tied to v1


def test_a_drawing_is_saved_per_label_and_unchanged_labels_are_not_versioned(as_coordinator, scan, run):
    head = phantom()
    labels = np.zeros(head.chi.shape, np.uint8)
    labels[head.rois["LMC"]] = 1
    labels[head.rois["RCT"]] = 4
    url = reverse("roi_drawing", args=[scan.study_id, scan.pk])
    drawing = nib.Nifti1Image(labels, head.affine).to_bytes()
    answer = as_coordinator.post(url, {"drawing": SimpleUploadedFile("drawing.nii", drawing)}).json()
    assert answer == {"saved": ["LMC v1", "RCT v1"], "unchanged": []}
    answer = as_coordinator.post(url, {"drawing": SimpleUploadedFile("drawing.nii", drawing)}).json()
    assert answer == {"saved": [], "unchanged": ["LMC", "RCT"]}
    back = nib.Nifti1Image.from_bytes(gzip.decompress(as_coordinator.get(url).content))
    np.testing.assert_array_equal(np.asarray(back.dataobj), labels)


def test_an_empty_or_misplaced_drawing_is_refused(as_coordinator, scan, run):
    url = reverse("roi_drawing", args=[scan.study_id, scan.pk])
    empty = nib.Nifti1Image(np.zeros(phantom().chi.shape, np.uint8), phantom().affine).to_bytes()
    response = as_coordinator.post(url, {"drawing": SimpleUploadedFile("d.nii", empty)})
    assert response.status_code == 400 and "The drawing is empty" in response.json()["error"]
    shifted = phantom().affine.copy()
    shifted[2, 3] += 5
    moved = nib.Nifti1Image(np.ones(phantom().chi.shape, np.uint8), shifted).to_bytes()
    response = as_coordinator.post(url, {"drawing": SimpleUploadedFile("d.nii", moved)})
    assert response.status_code == 400 and "affine" in response.json()["error"]
    assert not RoiDefinition.objects.exists()


def test_viewers_cannot_change_rois(as_viewer, scan, run):
    response = upload(as_viewer, scan, label_file(phantom_labels(), phantom().affine))
    assert response.status_code == 403
    assert as_viewer.get(reverse("viewer", args=[scan.study_id, scan.pk])).status_code == 200


def test_the_scan_and_patient_pages_show_values(as_coordinator, scan, run):
    rois.save_rois(scan, {"LMC": phantom().rois["LMC"]}, RoiDefinition.Source.UPLOADED, {})
    [value] = rois.measure(run)
    page = as_coordinator.get(scan.get_absolute_url()).content.decode()
    assert f"{value.mean_ppb:.1f}" in page
    patient_page = as_coordinator.get(scan.patient.get_absolute_url()).content.decode()
    assert "LMC v1" in patient_page and f"{value.mean_ppb:.1f}" in patient_page


def test_motor_cortex_values_recover_the_phantom_contrast(scan, run):
    head = phantom()
    rois.save_rois(scan, {name: head.rois[name] for name in ("LMC", "LCT")}, RoiDefinition.Source.UPLOADED, {})
    values = {v.roi.name: v.mean_ppb for v in rois.measure(run)}
    truth = {name: roi_statistics(head.chi, head.rois[name])["mean"] for name in ("LMC", "LCT")}
    assert values["LMC"] - values["LCT"] > 0.3 * (truth["LMC"] - truth["LCT"])
