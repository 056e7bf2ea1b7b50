"""Background field removal: V-SHARP (default) and PDF.

Both take the total field (ppm) and the brain mask on the working grid and
return the local field (ppm), plus the mask where it is defined.

References
----------
.. [1] Schweser F, Deistung A, Lehr BW, Reichenbach JR. Quantitative imaging
   of intrinsic magnetic tissue properties using MRI signal phase: an approach
   to in vivo brain iron metabolism? NeuroImage 2011;54:2789-2807 (SHARP).
.. [2] Li W, Wu B, Liu C. Quantitative susceptibility mapping of human brain
   reflects spatial variation in tissue composition. NeuroImage
   2011;55:1645-1656 (variable-kernel SHARP).
.. [3] Wu B, Li W, Guidon A, Liu C. Whole brain susceptibility mapping using
   compressed sensing. Magn Reson Med 2012;67:137-147 (V-SHARP).
.. [5] Ozbay PS, Deistung A, Feng X, Nanz D, Reichenbach JR, Schweser F. A
   comprehensive numerical analysis of background phase correction with
   V-SHARP. NMR Biomed 2017;30:e3550.
.. [4] Liu T, Khalidov I, de Rochefort L, et al. A novel background field
   removal method for MRI using projection onto dipole fields (PDF). NMR
   Biomed 2011;24:1129-1136.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

from .dipole import dipole_kernel, irfft3, rfft3, sphere_kernel

METHODS = ("vsharp", "pdf")


def vsharp(
    field_ppm: np.ndarray,
    mask: np.ndarray,
    voxel_size: Sequence[float],
    radii_mm: Sequence[float] | None = None,
    threshold: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Variable-radius SHARP that keeps the brain surface.

    For each radius ``r`` the spherical-mean-value high-pass ``(delta - S_r) *
    field`` removes the harmonic background wherever a ball of radius ``r``
    fits in the mask, and a truncated deconvolution by ``1 - S_r`` (SHARP)
    recovers the local field there.  Each voxel takes the estimate of the
    largest ball that fits, so deep tissue gets the well-conditioned large
    kernel and the surface keeps data down to the smallest radius (one voxel by
    default: only the outermost layer is lost).

    Deconvolving each radius with its own kernel departs from Wu et al., who
    deconvolve the stitched high-pass field with the largest kernel only; on
    the phantom of :mod:`recon.qsm.phantom` that single deconvolution spread
    the surface inconsistency over the whole brain (docs/qsm.md).

    Parameters
    ----------
    field_ppm : ndarray
        Total field, ppm, 3D (zero-padded working grid).
    mask : ndarray of bool
        Brain mask.
    voxel_size : sequence of float
        mm.
    radii_mm : sequence of float, optional
        Ball radii; default 12 mm halved down to the largest voxel edge.
    threshold : float
        Truncation of ``1 - S(k)`` in the deconvolution (0.05 after Wu et al.).

    Returns
    -------
    local : ndarray
        float32 local field, ppm, zero outside ``valid``.
    valid : ndarray of bool
        The mask eroded by the smallest radius.
    """
    _check(field_ppm, mask)
    radii = sorted(_default_radii(voxel_size) if radii_mm is None else radii_mm, reverse=True)
    if radii[-1] < max(voxel_size) or threshold <= 0:
        raise ValueError(f"radii must be at least one voxel ({max(voxel_size)} mm) and threshold > 0")
    shape = field_ppm.shape
    field_k = rfft3(np.where(mask, field_ppm, 0).astype(np.float32))
    mask_k = rfft3(mask.astype(np.float32))
    local = np.zeros(shape, dtype=np.float32)
    covered = np.zeros(shape, dtype=bool)
    for radius in radii:
        response = 1 - sphere_kernel(shape, voxel_size, radius)
        fits = irfft3(mask_k * (1 - response), shape) > 0.999
        high_pass = np.where(fits, irfft3(field_k * response, shape), 0)
        inverse = np.zeros_like(response)
        np.divide(1.0, response, out=inverse, where=np.abs(response) > threshold)
        newly = fits & ~covered
        local[newly] = irfft3(rfft3(high_pass) * inverse, shape)[newly]
        covered |= fits
    return local, covered


def pdf(
    field_ppm: np.ndarray,
    mask: np.ndarray,
    voxel_size: Sequence[float],
    b0_dir: Sequence[float],
    weight: np.ndarray | None = None,
    max_iter: int = 60,
    tol: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray]:
    """Projection onto dipole fields.

    Fits the field inside the mask with dipoles *outside* it (weighted least
    squares, conjugate gradients on the normal equations) and subtracts that
    background.  Sources outside the working grid are out of reach, so keep a
    generous margin around the mask.

    Parameters
    ----------
    field_ppm : ndarray
        Total field, ppm.
    mask : ndarray of bool
        Brain mask.
    voxel_size : sequence of float
        mm.
    b0_dir : sequence of float
        B0 direction in the voxel frame.
    weight : ndarray, optional
        Data weight (e.g. normalised magnitude); 1 in the mask by default.
    max_iter : int
        CG iterations.
    tol : float
        CG relative tolerance.

    Returns
    -------
    local : ndarray
        float32 local field, ppm.
    valid : ndarray of bool
        ``mask`` (PDF keeps every voxel).
    """
    _check(field_ppm, mask)
    shape = field_ppm.shape
    kernel = dipole_kernel(shape, voxel_size, b0_dir)
    w2 = (mask if weight is None else mask * weight).astype(np.float32) ** 2
    outside = ~mask

    def dipole(x: np.ndarray) -> np.ndarray:
        return irfft3(rfft3(x) * kernel, shape)

    def normal(x: np.ndarray) -> np.ndarray:
        chi = np.where(outside, x.reshape(shape).astype(np.float32), 0)
        return np.where(outside, dipole(w2 * dipole(chi)), 0).ravel()

    rhs = np.where(outside, dipole(w2 * field_ppm.astype(np.float32)), 0).ravel()
    operator = LinearOperator((rhs.size, rhs.size), matvec=normal, dtype=np.float32)
    chi_background, _ = cg(operator, rhs, rtol=tol, maxiter=max_iter)
    background = dipole(np.where(outside, chi_background.reshape(shape).astype(np.float32), 0))
    return np.where(mask, field_ppm - background, 0).astype(np.float32), mask.copy()


def _default_radii(voxel_size: Sequence[float]) -> list[float]:
    """12 mm halved while at least one voxel, ending at the largest voxel edge."""
    smallest = float(max(voxel_size))
    radii = [12.0]
    while radii[-1] / 2 >= smallest:
        radii.append(radii[-1] / 2)
    if radii[-1] > smallest * 1.01:
        radii.append(smallest)
    return radii


def _check(field_ppm: np.ndarray, mask: np.ndarray) -> None:
    if field_ppm.ndim != 3 or mask.shape != field_ppm.shape or mask.dtype != bool:
        raise ValueError("need a 3D field and a boolean mask of the same shape")
    if not mask.any():
        raise ValueError("the mask is empty")
