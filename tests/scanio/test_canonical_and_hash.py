"""Canonical files written by write_canonical, and the duplicate-detection hash."""

from __future__ import annotations

import hashlib
import json

import nibabel as nib
import numpy as np
import pytest

from clinical.scanio import write_canonical
from clinical.scanio.synthetic import write_dicom_series

from .conftest import STUDY_CODE, make_truth


@pytest.fixture(scope="module")
def scans(tmp_path_factory, standard_dicom):
    from clinical.scanio import UploadLimits, read_upload

    root = tmp_path_factory.mktemp("hash")

    def read(paths):
        return read_upload(paths, root, limits=UploadLimits(), study_code=STUDY_CODE)

    other = make_truth(seed=1)
    other_files = write_dicom_series(root / "other", other.magnitude, other.phase, other.echo_times_s, other.affine)
    return {"files": read(standard_dicom.files), "zip": read([standard_dicom.zip]), "other": read(other_files)}


def test_same_series_as_files_or_zip_hashes_the_same(scans):
    assert scans["files"].pixel_sha256 == scans["zip"].pixel_sha256
    assert len(scans["files"].pixel_sha256) == 64


def test_different_series_hashes_differently(scans):
    assert scans["other"].pixel_sha256 != scans["files"].pixel_sha256


def test_hash_is_over_canonical_magnitude_then_phase(scans):
    scan = scans["zip"]
    expected = hashlib.sha256(scan.magnitude.astype(np.float32).tobytes() + scan.phase.astype(np.float32).tobytes())
    assert scan.pixel_sha256 == expected.hexdigest()


def test_write_canonical_files(tmp_path, scans):
    scan = scans["zip"]
    files = write_canonical(scan, tmp_path / "out")
    assert files == {
        "magnitude": tmp_path / "out" / "magnitude.nii.gz",
        "phase": tmp_path / "out" / "phase.nii.gz",
        "sidecar": tmp_path / "out" / "scan.json",
        "original": tmp_path / "out" / "original.zip",
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in files.values())
    magnitude, phase = nib.load(files["magnitude"]), nib.load(files["phase"])
    for image, array in ((magnitude, scan.magnitude), (phase, scan.phase)):
        assert image.get_data_dtype() == np.float32 and image.shape == (24, 24, 12, 4)
        np.testing.assert_array_equal(image.get_fdata(dtype=np.float32), array)
        np.testing.assert_allclose(image.affine, scan.affine, atol=1e-5)
    phase_values = phase.get_fdata(dtype=np.float32)
    assert phase_values.min() >= -np.float32(np.pi) and phase_values.max() < np.float32(np.pi)
    sidecar = json.loads(files["sidecar"].read_text())
    assert sidecar["EchoTime"] == pytest.approx([0.004, 0.008, 0.012, 0.016])
    assert sidecar["Matrix"] == [24, 24, 12] and sidecar["Orientation"] == "RAS"
    assert sidecar["B0DirectionVoxel"] == pytest.approx([0, 0, 1])
    assert sidecar["PixelSHA256"] == scan.pixel_sha256
    for key in ("MagneticFieldStrength", "Manufacturer", "ManufacturersModelName", "ProtocolName",
                "SeriesDescription", "ImageType"):
        assert sidecar[key], key
