"""Write a :class:`ScanData` to its canonical files."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from .model import ScanData
from .ondisk import gzip_file


def write_canonical(scan: ScanData, outdir: Path) -> dict[str, Path]:
    """Write the canonical NIfTI files, sidecar and de-identified originals.

    Each file is written under a temporary name and renamed into place, so
    a failure leaves no partial file behind.  The NIfTI files are the assembled
    volumes compressed block by block, so writing holds no array in memory.

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
        "magnitude": lambda path: gzip_file(scan.volumes["magnitude"], path),
        "phase": lambda path: gzip_file(scan.volumes["phase"], path),
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
