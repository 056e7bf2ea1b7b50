"""Regions of interest on a susceptibility map: placement and statistics.

Conventions: affines map voxel indices to scanner RAS+ millimetres (nibabel); chi is in ppm and
statistics are reported in ppb (1 ppm = 1000 ppb). A label image must share the map's grid
(:func:`qsm.inputs.check_same_grid`), so that a voxel means the same place in both.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PPB_PER_PPM = 1000.0


def sphere_mask(shape: Sequence[int], affine: np.ndarray, centre_ras_mm: Sequence[float], radius_mm: float) -> np.ndarray:
    """Voxels whose centres lie within ``radius_mm`` of a point given in scanner RAS mm.

    Parameters
    ----------
    shape : sequence of 3 int
        Grid shape.
    affine : ndarray
        4x4 voxel-to-RAS-mm affine of the grid (oblique affines work: distances are measured in mm).
    centre_ras_mm : sequence of 3 float
        Sphere centre, RAS mm.
    radius_mm : float
        Radius, mm; must be positive.

    Returns
    -------
    ndarray of bool
    """
    if radius_mm <= 0:
        raise ValueError(f"radius must be positive, got {radius_mm} mm")
    if len(shape) != 3 or len(centre_ras_mm) != 3:
        raise ValueError("give a 3D grid shape and a centre with three coordinates (x, y, z in RAS mm)")
    affine = np.asarray(affine, dtype=float)
    centre_vox = np.linalg.solve(affine, np.r_[np.asarray(centre_ras_mm, dtype=float), 1.0])[:3]
    # Only scan the bounding box of the sphere: radius / smallest voxel edge voxels around the centre.
    reach = int(np.ceil(radius_mm / np.linalg.norm(affine[:3, :3], axis=0).min())) + 1
    lo = np.clip(np.floor(centre_vox).astype(int) - reach, 0, shape)
    hi = np.clip(np.ceil(centre_vox).astype(int) + reach + 1, 0, shape)
    mask = np.zeros(tuple(shape), dtype=bool)
    if np.any(hi <= lo):
        return mask
    ijk = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij"), axis=-1)
    ras = ijk @ affine[:3, :3].T + affine[:3, 3]
    inside = np.sum((ras - np.asarray(centre_ras_mm, dtype=float)) ** 2, axis=-1) <= radius_mm**2
    mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = inside
    return mask


def roi_statistics(chi_ppm: np.ndarray, mask: np.ndarray) -> dict[str, float | int | None]:
    """Summary of chi inside a mask, in ppb.

    Returns
    -------
    dict
        ``mean``, ``median``, ``sd`` (sample, ddof=1), ``q1``, ``q3``, ``p5``, ``p95`` in ppb
        (None when the ROI is empty; ``sd`` None below two voxels) and ``voxels``.
    """
    if chi_ppm.shape[:3] != mask.shape[:3]:
        raise ValueError(f"mask shape {mask.shape} does not match the map {chi_ppm.shape}")
    values = np.asarray(chi_ppm, dtype=np.float64)[np.asarray(mask, dtype=bool)] * PPB_PER_PPM
    if values.size == 0:
        return {k: None for k in ("mean", "median", "sd", "q1", "q3", "p5", "p95")} | {"voxels": 0}
    p5, q1, median, q3, p95 = np.percentile(values, [5, 25, 50, 75, 95])
    return {
        "mean": float(values.mean()),
        "median": float(median),
        "sd": float(values.std(ddof=1)) if values.size > 1 else None,
        "q1": float(q1),
        "q3": float(q3),
        "p5": float(p5),
        "p95": float(p95),
        "voxels": int(values.size),
    }
