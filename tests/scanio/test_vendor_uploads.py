"""Every vendor's export, as uploaded, is stored right: echo times, phase in radians, affine, date.

The fixtures (clinical.scanio.synthetic_vendors) follow each vendor's conventions; the upload goes
through read_upload, so dcm2niix, the vendor phase rule of qsm.inputs and the de-identification
all take part.  Targets of issue 14: echo times to 1e-3 ms, circular phase error < 0.01 rad,
affine to 0.01 mm, the acquisition date and time.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pydicom
import pytest

from clinical.scanio.synthetic import IDENTIFYING_VALUES, zip_dir
from clinical.scanio.synthetic_vendors import write_vendor_series

from .conftest import assert_matches, axial_affine, make_truth, oblique_affine

#: 32 x 32 frames at least: openjpeg cannot encode smaller JPEG 2000 frames.
SHAPE = (36, 32, 8)
ECHO_TIMES_S = (0.0041, 0.0093, 0.0145)
ACQUIRED = datetime(2023, 11, 7, 8, 42, 5, 500000)
CASES = [
    ("siemens-classic", "explicit"), ("siemens-classic", "rle"), ("siemens-classic", "jpeg-lossless"),
    ("siemens-classic", "jpegls"),
    ("siemens-classic-unsigned", "explicit"),
    ("siemens-xa-enhanced", "explicit"), ("siemens-xa-enhanced", "rle"), ("siemens-xa-enhanced", "jpeg2000"),
    ("siemens-xa-enhanced", "jpeg-lossless"),
    ("philips-enhanced", "explicit"), ("philips-enhanced", "jpeg2000"), ("philips-enhanced", "jpegls"),
    ("ge-classic", "explicit"), ("ge-classic", "rle"), ("ge-classic", "jpeg-lossless"),
]


def upload(tmp_path, ingest, flavour, affine=None, **options):
    truth = make_truth(axial_affine() if affine is None else affine, echo_times_s=ECHO_TIMES_S, shape=SHAPE)
    write_vendor_series(tmp_path / "export", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine,
                        flavour=flavour, acquired_at=ACQUIRED, **options)
    return truth, ingest([zip_dir(tmp_path / "export", tmp_path / "export.zip")])


def assert_stored_right(scan, truth) -> None:
    assert_matches(scan, truth, phase_tol=0.01, affine_tol=0.01)
    np.testing.assert_allclose(scan.echo_times_s, truth.echo_times_s, atol=1e-6)
    assert scan.acquired_at == ACQUIRED
    assert scan.source_format == "dicom" and scan.field_strength_t == 3.0


@pytest.mark.parametrize("flavour, transfer_syntax", CASES)
def test_it_stores_each_vendor_and_transfer_syntax_right(tmp_path, ingest, flavour, transfer_syntax):
    truth, scan = upload(tmp_path, ingest, flavour, transfer_syntax=transfer_syntax)
    assert_stored_right(scan, truth)


@pytest.mark.parametrize("flavour", ["siemens-xa-enhanced", "philips-enhanced", "ge-classic"])
def test_it_keeps_an_oblique_anisotropic_slab_in_place(tmp_path, ingest, flavour):
    affine = oblique_affine(voxel=(0.75, 0.75, 1.2), tilt_deg=17.0, yaw_deg=-12.0)
    truth, scan = upload(tmp_path, ingest, flavour, affine)
    assert_stored_right(scan, truth)
    rotation = truth.affine[:3, :3] / np.array([0.75, 0.75, 1.2])
    assert np.abs(np.abs(scan.b0_direction) - np.abs(rotation.T @ [0, 0, 1])).max() < 1e-4


@pytest.mark.parametrize("flavour", ["siemens-classic", "ge-classic", "philips-enhanced"])
def test_it_joins_an_export_with_one_series_per_echo(tmp_path, ingest, flavour):
    truth, scan = upload(tmp_path, ingest, flavour, echoes_per_series=True)
    assert_stored_right(scan, truth)


def test_it_reads_ge_magnitude_and_phase_in_separate_series(tmp_path, ingest):
    truth, scan = upload(tmp_path, ingest, "ge-classic", shared_series=False)
    assert_stored_right(scan, truth)


@pytest.mark.parametrize("flavour", ["siemens-xa-enhanced", "philips-enhanced"])
def test_it_stores_enhanced_originals_without_identifying_values(tmp_path, ingest, flavour):
    _, scan = upload(tmp_path, ingest, flavour)
    stored = sorted(scan.deidentified.rglob("*.dcm"))
    assert stored
    for path in stored:
        blob = path.read_bytes()
        assert not [v for v in IDENTIFYING_VALUES.values() if v.encode() in blob], path
        assert pydicom.dcmread(path, stop_before_pixels=True).PatientID == "MND-0042"


def test_it_refuses_ge_phase_that_is_not_milliradians(tmp_path, ingest):
    truth = make_truth(axial_affine(), echo_times_s=ECHO_TIMES_S, shape=SHAPE)
    files = write_vendor_series(tmp_path / "export", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine,
                                flavour="ge-classic")
    phase_files = [f for f in files if pydicom.dcmread(f, stop_before_pixels=True)[0x0043, 0x102F].value in (1, b"\x01\x00")]
    for path in phase_files:
        ds = pydicom.dcmread(path)
        ds.RescaleSlope, ds.RescaleIntercept = 2, 0
        ds.save_as(path)
    with pytest.raises(Exception) as info:
        ingest(files)
    assert info.value.name in {f.name for f in phase_files}
    assert "milliradians in which GE MEDICAL SYSTEMS stores phase" in info.value.problem
