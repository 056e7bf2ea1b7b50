"""Write a :class:`ScanData` to its canonical files."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np

from .model import ScanData

_NIFTI_SCANNER_XFORM = 1


def write_canonical(scan: ScanData, outdir: Path) -> dict[str, Path]:
    """Write the canonical NIfTI files, sidecar and de-identified originals.

    Each file is written under a temporary name and renamed into place, so
    a failure leaves no partial file behind.

    Parameters
    ----------
    scan : ScanData
        Result of :func:`read_upload`.
    outdir : Path
        Destination directory, created if needed.

    Returns
    -------
    dict of str to Path
        ``magnitude`` (4D float32 NIfTI), ``phase`` (4D float32 radians
        NIfTI), ``sidecar`` (``scan.json``) and ``original`` (zip of the
        de-identified originals).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    files = {
        "magnitude": outdir / "magnitude.nii.gz",
        "phase": outdir / "phase.nii.gz",
        "sidecar": outdir / "scan.json",
        "original": outdir / "original.zip",
    }
    writers = {
        "magnitude": lambda path: _save_nifti(scan.magnitude, scan.affine, path),
        "phase": lambda path: _save_nifti(scan.phase, scan.affine, path),
        "sidecar": lambda path: path.write_text(json.dumps(canonical_sidecar(scan), indent=2), encoding="utf-8"),
        "original": lambda path: zip_dir(scan.deidentified, path),
    }
    for key, destination in files.items():
        _write_atomically(destination, writers[key])
    return files


def canonical_sidecar(scan: ScanData) -> dict:
    """Return the sidecar written as ``scan.json``: acquisition plus derived values."""
    return {
        **scan.sidecar,
        "EchoTime": list(scan.echo_times_s),
        "MagneticFieldStrength": scan.field_strength_t,
        "SourceFormat": scan.source_format,
        "Matrix": list(scan.matrix),
        "VoxelSizeMm": list(scan.voxel_size_mm),
        "Orientation": scan.orientation,
        "B0DirectionVoxel": list(scan.b0_direction),
        "PixelSHA256": scan.pixel_sha256,
        "ProtocolWarnings": list(scan.warnings),
    }


def _write_atomically(destination: Path, write) -> None:
    partial = destination.with_name(f".partial-{destination.name}")
    try:
        write(partial)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


def _save_nifti(data: np.ndarray, affine: np.ndarray, path: Path) -> None:
    image = nib.Nifti1Image(data.astype(np.float32, copy=False), affine)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=_NIFTI_SCANNER_XFORM)
    image.set_sform(affine, code=_NIFTI_SCANNER_XFORM)
    nib.save(image, path)


def zip_dir(src: Path, dest: Path) -> Path:
    """Zip a directory tree (deflated, paths relative to ``src``).

    Parameters
    ----------
    src : Path
        Directory to archive.
    dest : Path
        Zip file to create.

    Returns
    -------
    Path
        ``dest``.
    """
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(src).rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(src).as_posix())
    return dest
