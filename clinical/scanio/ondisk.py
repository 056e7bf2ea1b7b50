"""Whole scans on disk, one echo in memory.

A 1 GiB exam decodes to about 2 GiB of float32 magnitude and phase, too much to hold at once
in an ingest worker.  The assembled series are therefore written echo by echo to uncompressed
float32 NIfTI files in the work directory (:class:`EchoWriter`), hashed from there in slabs
(:func:`c_order_sha256`) and compressed from there into the canonical ``.nii.gz`` files
(:func:`gzip_file`).  Files are read with plain reads rather than memory maps: every page a map
touches stays in the process's resident set until it is unmapped.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np

_NIFTI_SCANNER_XFORM = 1
#: nibabel's own level for ``.nii.gz``: most of the size gain of higher levels at a fraction of the time.
GZIP_LEVEL = 1
_COPY_BLOCK = 1 << 22


class EchoWriter:
    """Write a float32 (X, Y, Z, E) NIfTI file one echo at a time, in echo order.

    Parameters
    ----------
    path : Path
        The uncompressed ``.nii`` file to create.
    shape : tuple of int
        (X, Y, Z, E).
    affine : np.ndarray
        Voxel-to-world matrix, stored as qform and sform (scanner coordinates).
    """

    def __init__(self, path: Path, shape: tuple[int, int, int, int], affine: np.ndarray) -> None:
        header = nib.Nifti1Header()
        header.set_data_dtype(np.float32)
        header.set_data_shape(shape)
        header.set_xyzt_units("mm", "sec")
        header.set_qform(affine, code=_NIFTI_SCANNER_XFORM)
        header.set_sform(affine, code=_NIFTI_SCANNER_XFORM)
        self.path, self.shape, self._written = Path(path), tuple(shape), 0
        self._file = self.path.open("wb")
        header.write_to(self._file)  # 348 bytes and the empty extension flag: voxels start at 352

    def write(self, echo: np.ndarray) -> None:
        """Append the next echo, a (X, Y, Z) array."""
        if echo.shape != self.shape[:3] or self._written == self.shape[3]:
            raise ValueError(f"echo {self._written + 1} of shape {echo.shape} does not fit {self.shape}")
        # The transpose of a Fortran-ordered array is C-contiguous, so its buffer is the NIfTI voxel order.
        self._file.write(np.asfortranarray(echo, dtype=np.float32).T.data)
        self._written += 1

    def close(self) -> None:
        """Close the file; raise if echoes are missing."""
        self._file.close()
        if self._written != self.shape[3]:
            raise ValueError(f"{self.path.name}: {self._written} of {self.shape[3]} echoes written")

    def __enter__(self) -> EchoWriter:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._file.close()


def read_volume(path: Path) -> np.memmap:
    """The voxels of a file written by :class:`EchoWriter`, memory-mapped read-only.

    Touching all of it maps all of it into memory: for whole-array use in tests and small scans.
    """
    voxels = nib.load(path).dataobj  # its offset is the file's; a loaded image's header says 0
    return np.memmap(path, dtype=voxels.dtype, mode="r", offset=voxels.offset, shape=voxels.shape, order="F")


def c_order_sha256(paths: list[Path], digest=None) -> str:
    """SHA-256 of the (X, Y, Z, E) voxels of each file in turn, as C-ordered float32 bytes.

    This is the byte order of the in-memory arrays the hash was first defined on, so hashes
    stay comparable.  The files hold echo after echo (Fortran order), so each slab of
    consecutive X rows, no larger than one echo, is gathered from every echo with plain
    reads, then hashed.

    Parameters
    ----------
    paths : list of Path
        Files written by :class:`EchoWriter`.
    digest : hashlib object, optional
        Updated in place (a new SHA-256 by default).

    Returns
    -------
    str
        The hex digest.
    """
    digest = digest or hashlib.sha256()
    for path in paths:
        voxels = nib.load(path).dataobj
        x, y, z, echoes = voxels.shape
        dtype, offset = voxels.dtype, voxels.offset
        plane = x * y * dtype.itemsize
        planes_per_read = max(1, _COPY_BLOCK // plane)
        rows = max(1, x // echoes)
        with Path(path).open("rb") as handle:
            for x0 in range(0, x, rows):
                slab = np.empty((min(rows, x - x0), y, z, echoes), dtype=np.float32)
                for echo in range(echoes):
                    for z0 in range(0, z, planes_per_read):
                        count = min(planes_per_read, z - z0)
                        handle.seek(offset + (echo * z + z0) * plane)
                        block = np.fromfile(handle, dtype=dtype, count=count * x * y).reshape(count, y, x)
                        slab[:, :, z0:z0 + count, echo] = block[:, :, x0:x0 + slab.shape[0]].transpose(2, 1, 0)
                digest.update(slab.data)
    return digest.hexdigest()


def gzip_file(source: Path, destination: Path) -> None:
    """Compress ``source`` into ``destination`` in blocks (no timestamp, so equal input gives equal bytes)."""
    with Path(source).open("rb") as raw, Path(destination).open("wb") as out, \
            gzip.GzipFile(filename="", fileobj=out, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as packed:
        shutil.copyfileobj(raw, packed, _COPY_BLOCK)


def gunzip_file(source: Path, destination: Path, limit: int) -> None:
    """Decompress ``source`` into ``destination`` in blocks, stopping after ``limit`` bytes.

    Raises
    ------
    EOFError, OSError, zlib.error
        When the stream is truncated or corrupt (wrap in :func:`qsm.io.reading_voxels`).
    """
    with gzip.open(source, "rb") as packed, Path(destination).open("wb") as out:
        copy_bytes(packed, out, limit)


def copy_bytes(source, destination, count: int) -> None:
    """Copy up to ``count`` bytes between open files in blocks; fewer when ``source`` ends first."""
    while count > 0:
        block = source.read(min(_COPY_BLOCK, count))
        if not block:
            return
        destination.write(block)
        count -= len(block)
