"""Each accepted upload form is read back to the arrays, affine and echo times it was made from."""

from __future__ import annotations

import json
import shutil
from datetime import datetime

import nibabel as nib
import numpy as np
import pytest

from clinical.scanio.synthetic import write_dicom_series, write_nifti_series, zip_dir

from .conftest import ECHO_TIMES_S, PHASE_STEP, STUDY_CODE, assert_matches, axial_affine, make_truth, oblique_affine


def test_dicom_zip(ingest, standard_dicom):
    scan = ingest([standard_dicom.zip])
    assert scan.source_format == "dicom"
    assert_matches(scan, standard_dicom.truth, phase_tol=PHASE_STEP)
    assert scan.field_strength_t == 3.0
    assert scan.sidecar["PatientID"] == STUDY_CODE
    assert scan.sidecar["EchoTime"] == pytest.approx(list(ECHO_TIMES_S))


def test_dicom_loose_files_with_and_without_extension(tmp_path, ingest, standard_dicom):
    renamed = []
    for index, source in enumerate(standard_dicom.files):
        target = tmp_path / (f"{source.name}.dcm" if index % 2 else source.name)
        shutil.copy(source, target)
        renamed.append(target)
    assert_matches(ingest(renamed), standard_dicom.truth, phase_tol=PHASE_STEP)


def test_oblique_dicom_keeps_affine_and_b0(tmp_path, ingest):
    truth = make_truth(oblique_affine())
    files = write_dicom_series(tmp_path / "series", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine)
    scan = ingest(files)
    assert_matches(scan, truth, phase_tol=PHASE_STEP)
    assert scan.voxel_size_mm == pytest.approx((0.9, 1.1, 1.3))
    # B0 = world +z seen from the voxel axes: rows of the rotation's transpose.
    rotation = truth.affine[:3, :3] / np.array([0.9, 1.1, 1.3])
    np.testing.assert_allclose(scan.b0_direction, rotation.T @ [0, 0, 1], atol=1e-6)
    assert abs(scan.b0_direction[2]) < 0.99


def test_axial_b0_along_the_slice_axis(ingest, standard_dicom):
    scan = ingest(standard_dicom.files)
    assert scan.orientation[2] == "S"
    assert scan.b0_direction == pytest.approx((0.0, 0.0, 1.0))


def test_lps_affine_orientation(tmp_path, ingest):
    affine = np.diag([-1.0, -1.0, 1.2, 1.0])
    truth = make_truth(affine)
    scan = ingest(write_dicom_series(tmp_path / "s", truth.magnitude, truth.phase, truth.echo_times_s, affine))
    assert scan.orientation[2] == "S"
    assert_matches(scan, truth, phase_tol=PHASE_STEP)


def test_whole_exam_zip_picks_gre_pair_over_localizer(tmp_path, ingest, truth):
    exam = tmp_path / "exam"
    study_uid = "1.2.826.0.1.3680043.8.498.4242"
    localizer_affine = np.array([[0, 0, 2.0, -10], [1.0, 0, 0, -20], [0, 1.0, 0, -20], [0, 0, 0, 1]])
    localizer = make_truth(localizer_affine, echo_times_s=(0.003,), shape=(32, 32, 3), seed=3)
    write_dicom_series(exam / "001_localizer", localizer.magnitude, None, (0.003,), localizer_affine,
                       series_number=1, protocol_name="localizer", study_uid=study_uid)
    write_dicom_series(exam / "005_gre", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine,
                       series_number=5, study_uid=study_uid)
    single_echo = make_truth(truth.affine, echo_times_s=(0.005,), seed=4)
    write_dicom_series(exam / "009_swi_1echo", single_echo.magnitude, single_echo.phase, (0.005,), truth.affine,
                       series_number=9, study_uid=study_uid)
    scan = ingest([zip_dir(exam, tmp_path / "exam.zip")])
    assert_matches(scan, truth, phase_tol=PHASE_STEP)
    assert scan.sidecar["SeriesNumber"] == 5 and scan.sidecar["PhaseSeriesNumber"] == 6


@pytest.mark.parametrize("affine", [axial_affine(), oblique_affine()], ids=["axial", "oblique"])
def test_per_echo_nifti(tmp_path, ingest, affine):
    truth = make_truth(affine)
    files = write_nifti_series(tmp_path / "nii", truth.magnitude, truth.phase, truth.echo_times_s, affine)
    scan = ingest(files)
    assert scan.source_format == "nifti"
    assert_matches(scan, truth, phase_tol=1e-6)
    assert scan.field_strength_t == 3.0


def test_4d_nifti_with_siemens_scaled_phase(tmp_path, ingest, truth):
    files = write_nifti_series(tmp_path / "nii", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine,
                               layout="4d", phase_scale="siemens")
    assert sorted(f.name for f in files) == ["gre.json", "gre.nii.gz", "gre_ph.json", "gre_ph.nii.gz"]
    assert_matches(ingest(files), truth, phase_tol=PHASE_STEP)


def test_bids_anat_zip(tmp_path, ingest, truth):
    anat = tmp_path / "sub-07" / "ses-1" / "anat"
    write_nifti_series(anat, truth.magnitude, truth.phase, truth.echo_times_s, truth.affine,
                       layout="bids", subject="07", session="1")
    scan = ingest([zip_dir(tmp_path / "sub-07", tmp_path / "bids.zip")])
    assert scan.source_format == "bids"
    assert_matches(scan, truth, phase_tol=1e-6)


def test_bids_zip_skips_other_images_with_a_note(tmp_path, ingest, truth):
    anat = tmp_path / "anat"
    write_nifti_series(anat, truth.magnitude, truth.phase, truth.echo_times_s, truth.affine, layout="bids")
    write_nifti_series(tmp_path / "t1", truth.magnitude[..., :1], truth.phase[..., :1], (0.003,), truth.affine,
                       layout="bids")
    (tmp_path / "t1" / "sub-01_echo-1_part-mag_MEGRE.nii.gz").rename(anat / "sub-01_T1w.nii.gz")
    (tmp_path / "t1" / "sub-01_echo-1_part-mag_MEGRE.json").rename(anat / "sub-01_T1w.json")
    scan = ingest([zip_dir(anat, tmp_path / "anat.zip")])
    assert_matches(scan, truth, phase_tol=1e-6)
    assert any("sub-01_T1w.nii.gz" in w and "ignored" in w for w in scan.warnings)


def test_nifti_phase_told_by_sidecar_image_type(tmp_path, ingest, truth):
    files = write_nifti_series(tmp_path / "nii", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine)
    renamed = []
    for path in files:
        target = path.with_name(path.name.replace("gre_e", "scan_e").replace("_ph", ""))
        if "_ph" in path.name:
            target = target.with_name(target.name.replace("scan_e", "other_e"))
            if path.suffix == ".json":
                sidecar = json.loads(path.read_text())
                sidecar["ImageType"] = "ORIGINAL\\PRIMARY\\P\\ND"
                path.write_text(json.dumps(sidecar))
        renamed.append(path.rename(target))
    assert not [p for p in renamed if "_ph" in p.name]
    assert_matches(ingest(renamed), truth, phase_tol=1e-6)


def test_real_and_imaginary_become_magnitude_and_phase(tmp_path, ingest, truth):
    files = []
    for part, values in (("real", np.cos(truth.phase)), ("imag", np.sin(truth.phase))):
        for echo, te in enumerate(truth.echo_times_s):
            stem = tmp_path / f"sub-01_echo-{echo + 1}_part-{part}_MEGRE"
            data = (truth.magnitude[..., echo] * values[..., echo]).astype(np.float32)
            nib.save(nib.Nifti1Image(data, truth.affine), f"{stem}.nii.gz")
            stem.with_suffix(".json").write_text(json.dumps({"EchoTime": te, "MagneticFieldStrength": 3}))
            files += [tmp_path / f"{stem.name}.nii.gz", stem.with_suffix(".json")]
    scan = ingest(files)
    assert_matches(scan, truth, phase_tol=1e-4)


def test_dicom_acquisition_date_and_time_come_from_the_headers(ingest, standard_dicom):
    assert ingest(standard_dicom.files).acquired_at == datetime(2024, 3, 15, 10, 15, 30, 250000)
