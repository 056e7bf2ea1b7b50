"""Small synthetic multi-echo GRE series for upload tests, written with clinical.scanio.synthetic."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile

from clinical.scanio.synthetic import write_dicom_series, write_nifti_series

ECHO_TIMES_S = [0.005, 0.010, 0.015, 0.020]


def gre_arrays(shape=(24, 24, 12), seed: int = 0, echo_times=ECHO_TIMES_S):
    """Magnitude (decaying sphere) and wrapped phase (a smooth field) for each echo."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    inside = (grid**2).sum(axis=0) < 0.8
    field_hz = 40 * grid[0] + 25 * grid[2] ** 2 + rng.normal(0, 0.5, shape)
    magnitude = np.stack([1000 * inside * np.exp(-t / 0.04) + 20 for t in echo_times], axis=-1)
    phase = np.stack([np.angle(np.exp(1j * (2 * np.pi * field_hz * t + 0.3))) for t in echo_times], axis=-1)
    affine = np.diag([1.0, 1.0, 1.5, 1.0])
    affine[:3, 3] = [-12, -12, -9]
    return magnitude.astype(np.float32), phase.astype(np.float32), affine


def dicom_zip(folder: Path, seed: int = 0, name: str = "series.zip") -> Path:
    magnitude, phase, affine = gre_arrays(seed=seed)
    src = folder / f"dicom-{seed}"
    write_dicom_series(src, magnitude, phase, ECHO_TIMES_S, affine, identifying=True)
    target = folder / name
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(src).as_posix())
    return target


def nifti_files(folder: Path, seed: int = 0, degrees: bool = False) -> list[Path]:
    """dcm2niix-style files; ``degrees=True`` stores the phase in degrees, a scale that must be refused."""
    magnitude, phase, affine = gre_arrays(seed=seed)
    phase = np.degrees(phase) if degrees else phase
    out = folder / f"nifti-{seed}"
    write_nifti_series(out, magnitude, phase, ECHO_TIMES_S, affine, layout="per-echo")
    return sorted(p for p in out.rglob("*") if p.is_file())


def dicom_folder(folder: Path, seed: int = 0, identifying: bool = True) -> Path:
    """A DICOM export as scanners write it: one subfolder per series, the same file names in each."""
    magnitude, phase, affine = gre_arrays(seed=seed)
    flat = folder / f"flat-{seed}"
    written = write_dicom_series(flat, magnitude, phase, ECHO_TIMES_S, affine, identifying=identifying)
    exam = folder / f"exam-{seed}"
    for series in sorted({path.name.split("_")[0] for path in written}):
        target = exam / f"series-{series}"
        target.mkdir(parents=True)
        for index, path in enumerate(sorted(p for p in written if p.name.startswith(series)), start=1):
            path.rename(target / f"IM_{index:04d}")
    return exam


def folder_upload(folder: Path) -> tuple[list, list[str]]:
    """The folder's files as the browser sends them, and the relative paths upload.js records."""
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    relative = [f"{folder.name}/{p.relative_to(folder).as_posix()}" for p in paths]
    return [SimpleUploadedFile(p.name, p.read_bytes()) for p in paths], relative
