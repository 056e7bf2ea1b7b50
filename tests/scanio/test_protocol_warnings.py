"""Protocol deviations are accepted with a warning (LORIS MRI-violations style)."""

from __future__ import annotations

import pytest

from clinical.scanio.checks import protocol_warnings
from clinical.scanio.synthetic import write_nifti_series

from .conftest import axial_affine, make_truth

GOOD = dict(echo_times_s=[0.004, 0.008, 0.012, 0.016], voxel_size_mm=(1.0, 1.0, 1.0), field_strength_t=3.0,
            expected_field_strength_t=3.0)


def test_protocol_conforming_scan_has_no_warnings():
    assert protocol_warnings(**GOOD) == []


@pytest.mark.parametrize("change, says", [
    (dict(echo_times_s=[0.004, 0.008]), "only 2 echo(es)"),
    (dict(echo_times_s=[0.004, 0.008, 0.012, 0.0175]), "uneven echo spacing"),
    (dict(voxel_size_mm=(1.0, 1.0, 1.6)), "larger than 1.5 mm"),
    (dict(field_strength_t=1.5), "field strength 1.5 T differs from the study's 3 T"),
    (dict(field_strength_t=None), "did not record the field strength"),
])
def test_each_deviation_warns(change, says):
    warnings = protocol_warnings(**{**GOOD, **change})
    assert len(warnings) == 1 and says in warnings[0], warnings


def test_small_deviations_do_not_warn():
    assert protocol_warnings(**{**GOOD, "echo_times_s": [0.004, 0.008, 0.0121, 0.016],
                                "voxel_size_mm": (1.5, 1.5, 1.5), "field_strength_t": 2.91}) == []


def test_field_strength_without_expectation_does_not_warn():
    assert protocol_warnings(**{**GOOD, "field_strength_t": 7.0, "expected_field_strength_t": None}) == []


def test_read_upload_reports_warnings_and_still_accepts(tmp_path, ingest):
    echo_times = (0.004, 0.010)
    truth = make_truth(axial_affine(voxel=(1.0, 1.0, 2.0)), echo_times_s=echo_times)
    files = write_nifti_series(tmp_path / "nii", truth.magnitude, truth.phase, echo_times, truth.affine,
                               field_strength_t=None)
    scan = ingest(files, expected_field_strength_t=3.0)
    assert scan.n_echoes == 2
    assert len(scan.warnings) == 3
    assert any("only 2 echo" in w for w in scan.warnings)
    assert any("1.00x1.00x2.00 mm" in w for w in scan.warnings)
    assert any("did not record the field strength" in w for w in scan.warnings)
    assert scan.field_strength_t is None


def test_read_upload_warns_on_wrong_field_strength(ingest, standard_dicom):
    scan = ingest(standard_dicom.files, expected_field_strength_t=7.0)
    assert [w for w in scan.warnings if "field strength" in w] == ["field strength 3 T differs from the study's 7 T"]
