"""The canonical, de-identified scan returned by :func:`read_upload`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nibabel as nib
import numpy as np

from qsm.inputs import b0_direction, voxel_sizes

from .ondisk import read_volume


@dataclass
class DecodedScan:
    """What a format reader (DICOM or NIfTI) assembled, before the common checks of :class:`ScanData`.

    ``source_format`` is ``"dicom"``, ``"nifti"`` or ``"bids"``; ``notes`` are the reader's remarks
    for the coordinator (e.g. a sidecar that was missing), reported as warnings; ``acquired_at``
    is the scanner's acquisition date and time (its local clock, naive), when a header has it.
    ``volumes`` holds the ``"magnitude"`` and ``"phase"`` files (see :attr:`ScanData.volumes`).
    """

    volumes: dict[str, Path]
    affine: np.ndarray
    echo_times_s: list[float]
    sidecar: dict
    field_strength_t: float | None
    source_format: str
    notes: list[str] = field(default_factory=list)
    acquired_at: datetime | None = None


@dataclass
class ScanData:
    """A multi-echo GRE scan in canonical form.

    Attributes
    ----------
    volumes : dict of str to Path
        ``"magnitude"`` (arbitrary scanner units) and ``"phase"`` (radians in [-pi, pi)):
        uncompressed float32 (X, Y, Z, E) NIfTI files in the work directory, written echo by
        echo so that no whole series is ever held in memory.  :attr:`magnitude` and
        :attr:`phase` map them as arrays.
    affine : np.ndarray
        4x4 voxel-to-world matrix, RAS+ millimetres (nibabel convention).
    echo_times_s : list of float
        Strictly increasing echo times in seconds, one per echo.
    field_strength_t : float or None
        Main field in tesla, if the scanner recorded it.
    source_format : str
        ``"dicom"``, ``"nifti"`` or ``"bids"``.
    sidecar : dict
        De-identified acquisition parameters (BIDS-style keys).
    pixel_sha256 : str
        SHA-256 of ``magnitude`` then ``phase`` as float32 C-order (X, Y, Z, E) bytes;
        the same series uploaded in any container hashes the same.
    warnings : list of str
        Protocol deviations that do not prevent use (LORIS "violations").
    deidentified : Path
        Directory (inside the work directory) holding the de-identified
        originals under neutral names, e.g. ``dicom/magnitude/e1/0001.dcm``.
    acquired_at : datetime or None
        Acquisition date and time from the headers (DICOM AcquisitionDateTime or
        AcquisitionDate + AcquisitionTime, sidecar AcquisitionDateTime), on the
        scanner's clock; None when no header records it.  Kept out of ``sidecar``,
        which stays free of dates.
    """

    volumes: dict[str, Path]
    affine: np.ndarray
    echo_times_s: list[float]
    field_strength_t: float | None
    source_format: str
    sidecar: dict
    pixel_sha256: str
    deidentified: Path
    warnings: list[str] = field(default_factory=list)
    acquired_at: datetime | None = None

    @property
    def magnitude(self) -> np.memmap:
        """float32 (X, Y, Z, E) magnitude, memory-mapped: what is touched is read, and stays resident while mapped."""
        return read_volume(self.volumes["magnitude"])

    @property
    def phase(self) -> np.memmap:
        """float32 (X, Y, Z, E) phase in radians, memory-mapped like :attr:`magnitude`."""
        return read_volume(self.volumes["phase"])

    @property
    def matrix(self) -> tuple[int, int, int]:
        """Number of voxels along the three spatial axes."""
        x, y, z = self.magnitude.shape[:3]
        return int(x), int(y), int(z)

    @property
    def n_echoes(self) -> int:
        """Number of echoes."""
        return int(self.magnitude.shape[3])

    @property
    def voxel_size_mm(self) -> tuple[float, float, float]:
        """Voxel edge lengths in mm (column norms of the affine)."""
        return voxel_sizes(self.affine)

    @property
    def orientation(self) -> str:
        """Axis codes of the voxel axes, e.g. ``"RAS"`` or ``"LPS"``."""
        return "".join(nib.aff2axcodes(self.affine))

    @property
    def b0_direction(self) -> tuple[float, float, float]:
        """Unit vector of the main field B0 (scanner +z) in voxel axes; (0, 0, 1) for axial RAS."""
        x, y, z = b0_direction(self.affine)
        return float(x), float(y), float(z)
