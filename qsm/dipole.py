"""Dipole kernel and the real-FFT helpers shared by every field operation.

Conventions
-----------
Arrays are indexed in voxel order ``(i, j, k)``; k-space coordinates are in
cycles/mm along those voxel axes, so anisotropic voxels are handled exactly.
``b0_dir`` is the unit vector of the main field expressed in the orthonormal
frame of the voxel axes (see :func:`qsm.inputs.b0_direction`).  The kernel is
the Lorentz-sphere-corrected unit dipole

    D(k) = 1/3 - (k . b0_dir)^2 / |k|^2,   D(0) = 0,

so a relative field shift ``delta = D * chi`` has the units of ``chi`` (ppm in,
ppm out) and a uniform susceptibility produces no field.

References
----------
.. [1] Salomir R, de Senneville BD, Moonen CTW. A fast calculation method for
   magnetic field inhomogeneity due to an arbitrary distribution of bulk
   susceptibility. Concepts Magn Reson B 2003;19B:26-34.
.. [2] Marques JP, Bowtell R. Application of a Fourier-based method for rapid
   calculation of field inhomogeneity due to spatial variation of magnetic
   susceptibility. Concepts Magn Reson B 2005;25B:65-78.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import fft as sp_fft

#: Proton gyromagnetic ratio over 2 pi, in Hz/T (CODATA 2018).
GAMMA_BAR_HZ_PER_T = 42.577478518e6


def rfft3(volume: np.ndarray) -> np.ndarray:
    """Real 3D FFT over the first three axes on all cores (complex64 for float32 input)."""
    return sp_fft.rfftn(volume, axes=(0, 1, 2), workers=-1)


def irfft3(spectrum: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`rfft3` for a volume of spatial ``shape``."""
    return sp_fft.irfftn(spectrum, s=tuple(shape[:3]), axes=(0, 1, 2), workers=-1)


def kspace_axes(shape: Sequence[int], voxel_size: Sequence[float]) -> tuple[np.ndarray, ...]:
    """Broadcastable k-space coordinates (cycles/mm) in the :func:`rfft3` layout."""
    nx, ny, nz = shape[:3]
    vx, vy, vz = voxel_size
    kx = sp_fft.fftfreq(nx, vx).astype(np.float32)[:, None, None]
    ky = sp_fft.fftfreq(ny, vy).astype(np.float32)[None, :, None]
    kz = sp_fft.rfftfreq(nz, vz).astype(np.float32)[None, None, :]
    return kx, ky, kz


def dipole_kernel(
    shape: Sequence[int], voxel_size: Sequence[float], b0_dir: Sequence[float]
) -> np.ndarray:
    """Unit dipole kernel D(k) in the :func:`rfft3` layout.

    Parameters
    ----------
    shape : sequence of int
        Spatial shape of the (padded) volume.
    voxel_size : sequence of float
        Voxel edge lengths in mm along the three array axes.
    b0_dir : sequence of float
        Main-field direction in the voxel-axis frame; normalised here.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(nx, ny, nz // 2 + 1)``, zero at k = 0.
    """
    b = np.asarray(b0_dir, dtype=np.float64)
    if b.shape != (3,) or not np.linalg.norm(b) > 0:
        raise ValueError(f"b0_dir must be a non-zero 3-vector, got {b0_dir!r}")
    b = b / np.linalg.norm(b)
    kx, ky, kz = kspace_axes(shape, voxel_size)
    k2 = kx**2 + ky**2 + kz**2
    kb = kx * np.float32(b[0]) + ky * np.float32(b[1]) + kz * np.float32(b[2])
    k2[0, 0, 0] = 1.0  # avoid 0/0; D(0) is set below
    kernel = np.float32(1.0 / 3.0) - kb**2 / k2
    kernel[0, 0, 0] = 0.0
    _zero_nyquist(kernel, shape)
    return kernel.astype(np.float32, copy=False)


def _zero_nyquist(spectrum: np.ndarray, shape: Sequence[int]) -> None:
    """Zero the Nyquist planes of even-sized axes.

    There ``k`` and ``-k`` are the same sample, so an oblique kernel's
    ``kx * ky`` cross terms have no consistent sign; left in, they break
    Hermitian symmetry and ring across the whole volume from sharp edges.
    """
    for axis, n in enumerate(shape[:3]):
        if n % 2 == 0:
            index = [slice(None)] * 3
            index[axis] = n // 2 if axis < 2 else -1
            spectrum[tuple(index)] = 0.0


def forward_field(
    chi: np.ndarray, voxel_size: Sequence[float], b0_dir: Sequence[float]
) -> np.ndarray:
    """Relative field shift (units of ``chi``) of a susceptibility distribution.

    The convolution is periodic: pad ``chi`` beforehand when sources near the
    border matter.
    """
    kernel = dipole_kernel(chi.shape, voxel_size, b0_dir)
    return irfft3(rfft3(chi.astype(np.float32, copy=False)) * kernel, chi.shape)


def sphere_kernel(
    shape: Sequence[int], voxel_size: Sequence[float], radius_mm: float
) -> np.ndarray:
    """Spectrum (real, :func:`rfft3` layout) of a normalised ball of ``radius_mm``.

    The ball is centred on voxel (0, 0, 0) with periodic wrap, so multiplying a
    spectrum by it takes the spherical mean value around every voxel.

    The ball is mirror-symmetric along every axis, so its DFT is a sum of
    cosine products over the voxels of one octant, taken axis by axis: a few
    multiply-adds per output sample instead of building the ball on the whole
    grid and transforming it.
    """
    shape = tuple(shape[:3])
    reach = [min(n // 2, int(radius_mm / v) + 1) for n, v in zip(shape, voxel_size)]
    offsets = [np.arange(k + 1).astype(np.float32) * v for k, v in zip(reach, voxel_size)]
    octant = (
        offsets[0][:, None, None] ** 2 + offsets[1][None, :, None] ** 2 + offsets[2][None, None, :] ** 2
    ) <= np.float32(radius_mm) ** 2
    ball = octant.astype(np.float64)
    cosines = []
    for axis, (r, n) in enumerate(zip(reach, shape)):
        k = np.arange(r + 1)
        # octant sample k stands for voxels k and n - k: one voxel at k = 0 and k = n / 2
        ball *= np.where((k == 0) | (2 * k == n), 1.0, 2.0).reshape([-1 if a == axis else 1 for a in range(3)])
        frequencies = np.arange(n // 2 + 1 if axis == 2 else n)
        cosines.append(np.cos(2 * np.pi * np.outer(k, frequencies) / n))
    ball /= ball.sum()
    spectrum = np.einsum("ijk,kc->ijc", ball, cosines[2])
    spectrum = np.einsum("ijc,jb->ibc", spectrum, cosines[1]).astype(np.float32)
    out = cosines[0].T.astype(np.float32) @ spectrum.reshape(reach[0] + 1, -1)
    return out.reshape(shape[0], shape[1], shape[2] // 2 + 1)
