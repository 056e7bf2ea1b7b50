"""Fixtures for the scan-ingest tests: small synthetic GRE scans written at test time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from clinical.scanio import UploadLimits, read_upload
from clinical.scanio.synthetic import smooth_sphere

STUDY_CODE = "MND-0042"
SHAPE = (24, 24, 12)
ECHO_TIMES_S = (0.004, 0.008, 0.012, 0.016)
#: Quantisation of the 12-bit scanner phase scale.
PHASE_STEP = 2 * np.pi / 4096


@dataclass
class Truth:
    """What the generator was given: the expected result of ingest."""

    magnitude: np.ndarray
    phase: np.ndarray
    echo_times_s: tuple[float, ...]
    affine: np.ndarray


def axial_affine(voxel=(1.0, 1.0, 1.2)) -> np.ndarray:
    affine = np.diag([*voxel, 1.0])
    affine[:3, 3] = [-12.0, -14.0, -7.0]
    return affine


def oblique_affine(voxel=(0.9, 1.1, 1.3), tilt_deg=20.0, yaw_deg=10.0) -> np.ndarray:
    """RAS affine tilted about Right-Left then rotated about Superior (det > 0)."""
    tilt, yaw = np.deg2rad(tilt_deg), np.deg2rad(yaw_deg)
    about_x = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
    about_z = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = about_z @ about_x @ np.diag(voxel)
    affine[:3, 3] = [-10.5, 20.25, 33.0]
    return affine


def make_truth(affine=None, echo_times_s=ECHO_TIMES_S, shape=SHAPE, seed=0) -> Truth:
    magnitude, phase = smooth_sphere(shape, echo_times_s, seed=seed)
    return Truth(magnitude, phase, tuple(echo_times_s), axial_affine() if affine is None else affine)


def in_truth_order(scan, truth: Truth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitude, phase and affine of a scan with its voxel axes flipped/permuted to the truth's.

    A converter may store the voxels in another order (dcm2niix flips rows); the
    scan is right when the same world point holds the same value.
    """
    transform = nib.orientations.io_orientation(np.linalg.inv(truth.affine) @ scan.affine)
    shape = scan.magnitude.shape[:3]
    affine = scan.affine @ nib.orientations.inv_ornt_aff(transform, shape)
    return (nib.orientations.apply_orientation(scan.magnitude, transform),
            nib.orientations.apply_orientation(scan.phase, transform), affine)


def phase_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest circular difference between two phase arrays."""
    return float(np.abs(np.angle(np.exp(1j * (a.astype(np.float64) - b)))).max())


def assert_matches(scan, truth: Truth, *, phase_tol: float, affine_tol: float = 1e-4) -> None:
    """Same values at the same world points (voxel order may differ), same echo times."""
    assert scan.magnitude.dtype == np.float32 and scan.phase.dtype == np.float32
    magnitude, phase, affine = in_truth_order(scan, truth)
    assert magnitude.shape == truth.magnitude.shape == phase.shape
    np.testing.assert_allclose(magnitude, truth.magnitude, atol=1e-4)
    assert phase_error(phase, truth.phase) <= phase_tol
    assert scan.phase.min() >= -np.float32(np.pi) and scan.phase.max() < np.float32(np.pi)
    np.testing.assert_allclose(affine, truth.affine, atol=affine_tol)
    np.testing.assert_allclose(scan.echo_times_s, truth.echo_times_s, rtol=1e-9)
    assert scan.n_echoes == len(truth.echo_times_s)


@pytest.fixture
def truth() -> Truth:
    return make_truth()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def ingest(workdir: Path):
    """Call read_upload with the test study code and default limits."""

    def run(paths, *, limits: UploadLimits | None = None, **kwargs):
        return read_upload(
            [Path(p) for p in paths], workdir, limits=limits or UploadLimits(), study_code=STUDY_CODE, **kwargs
        )

    return run


@dataclass
class DicomUpload:
    """A DICOM series written once per test session; tests must not modify it."""

    truth: Truth
    files: list[Path]
    zip: Path

    def by_series(self, series_number: int) -> list[Path]:
        return [f for f in self.files if f.name.startswith(f"IM{series_number:03d}_")]


@pytest.fixture(scope="session")
def standard_dicom(tmp_path_factory) -> DicomUpload:
    from clinical.scanio.synthetic import write_dicom_series, zip_dir

    root = tmp_path_factory.mktemp("standard_dicom")
    truth = make_truth()
    files = write_dicom_series(root / "series", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine)
    return DicomUpload(truth, files, zip_dir(root / "series", root / "series.zip"))
