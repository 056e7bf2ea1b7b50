"""Size limits applied to an upload before anything is extracted."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on what one upload may contain.

    Parameters
    ----------
    max_total_bytes : int
        Total size of the uploaded files as received (zips still compressed).
    max_files : int
        Number of files, counting every zip member and every loose file.
    max_uncompressed_bytes : int
        Total size of the zip members once extracted (checked against the
        sizes declared in the archive, then again while streaming, since the
        declared sizes can lie).
    max_compression_ratio : float
        Largest allowed uncompressed/compressed ratio, for the archive as a
        whole and for any single member of at least 1 MiB (small members such
        as an all-zero DICOM slice legitimately compress far better).
    """

    max_total_bytes: int = 4 * GIB
    max_files: int = 20_000
    max_uncompressed_bytes: int = 8 * GIB
    max_compression_ratio: float = 100.0
