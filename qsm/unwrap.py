"""Spatial phase unwrapping: exact path-following (default) or Laplacian.

Both functions take one wrapped 3D phase image in radians.  The pipeline
unwraps a single image, the echo-to-echo phase difference (see
:mod:`qsm.echo`), and resolves the echoes temporally from it.

References
----------
.. [1] Abdul-Rahman HS, Gdeisat MA, Burton DR, Lalor MJ, Lilley F, Moore CJ.
   Fast and robust three-dimensional best path phase unwrapping algorithm.
   Appl Opt 2007;46:6623-6635 (the algorithm behind
   ``skimage.restoration.unwrap_phase``).
.. [2] Schofield MA, Zhu Y. Fast phase unwrapping algorithm for
   interferometric applications. Opt Lett 2003;28:1194-1196 (Laplacian).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.restoration import unwrap_phase

from .dipole import irfft3, kspace_axes, rfft3
from .grid import bounding_box

METHODS = ("path", "laplacian")


def unwrap_path(phase: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Exact best-path (reliability-sorted) 3D unwrapping inside ``mask``.

    Parameters
    ----------
    phase : ndarray
        Wrapped phase, radians, 3D.
    mask : ndarray of bool
        Voxels to unwrap; the rest is ignored and returned as 0.

    Returns
    -------
    ndarray
        float32 unwrapped phase: ``phase + 2 pi n`` with integer ``n`` per
        voxel, up to one global multiple of 2 pi per connected component.
    """
    _check_3d(phase, mask)
    # The unwrapper builds its voxel and edge tables for every input voxel,
    # masked or not: give it the mask's box plus the one voxel of neighbours
    # its reliability measure reads (same result, less time and memory).
    box = bounding_box(mask, margin=1)
    inside = mask[box]
    unwrapped = np.ma.getdata(unwrap_phase(np.ma.array(phase[box], mask=~inside)))
    out = np.zeros(phase.shape, dtype=np.float32)
    out[box] = np.where(inside, unwrapped, 0.0)
    return out


def unwrap_laplacian(phase: np.ndarray, mask: np.ndarray, voxel_size: Sequence[float]) -> np.ndarray:
    """Laplacian unwrapping, ``lap^-1[cos(phi) lap sin(phi) - sin(phi) lap cos(phi)]``.

    Fast and insensitive to noise, but not exact: the result is the true phase
    minus a harmonic function, which background removal discards anyway.

    Parameters
    ----------
    phase : ndarray
        Wrapped phase, radians, 3D.
    mask : ndarray of bool
        Voxels to return; the transform runs over the whole array.
    voxel_size : sequence of float
        mm.

    Returns
    -------
    ndarray
        float32 unwrapped phase inside ``mask``, 0 outside.
    """
    _check_3d(phase, mask)
    kx, ky, kz = kspace_axes(phase.shape, voxel_size)
    laplacian = -4 * np.pi**2 * (kx**2 + ky**2 + kz**2)
    inverse = np.zeros_like(laplacian)
    np.divide(1.0, laplacian, out=inverse, where=laplacian != 0)
    sin, cos = np.sin(phase).astype(np.float32), np.cos(phase).astype(np.float32)
    lap_sin = irfft3(rfft3(sin) * laplacian, phase.shape)
    lap_cos = irfft3(rfft3(cos) * laplacian, phase.shape)
    unwrapped = irfft3(rfft3(cos * lap_sin - sin * lap_cos) * inverse, phase.shape)
    return np.where(mask, unwrapped, 0.0).astype(np.float32)


def _check_3d(phase: np.ndarray, mask: np.ndarray) -> None:
    if phase.ndim != 3 or mask.shape != phase.shape:
        raise ValueError(f"need a 3D phase and a mask of the same shape, got {phase.shape} and {mask.shape}")
