"""Numerical head phantom with ground truth for multi-echo GRE QSM.

The head sits in air and is built from ellipsoids and tubes: scalp and a
face/neck block of soft tissue, a skull shell with air sinuses and mastoid air
cells, cerebrospinal fluid, white matter, a cortical grey-matter ribbon, deep
grey nuclei, veins (superior sagittal sinus, straight sinus) and a bilateral
precentral "motor cortex" band carrying an extra susceptibility next to a
"control cortex" band just anterior to it.

Conventions
-----------
* Voxel axes are RAS: index ``i`` increases to the subject's Right, ``j`` to
  Anterior, ``k`` to Superior; world coordinates are mm, head centre at 0.
  Left is the ``-x`` side.
* Susceptibility ``chi`` is in ppm (SI, volume), relative to CSF/water = 0
  (air is +9.4 ppm, cortical bone -2.0 ppm).
* The scanner B0 is world +z.  With ``b0_tilt_deg`` the affine rotates the
  slab about the Right-Left axis, so in voxel axes B0 points along
  ``(0, sin(tilt), cos(tilt))`` and :func:`qsm.io.b0_direction` recovers
  it from the affine.
* Field and phase: the relative field is ``delta = D * chi`` (Lorentz-corrected
  dipole convolution, ppm) computed on a padded grid that holds the whole head
  and neck, so air and bone create a genuine background field.  The echo phase
  is ``phi(TE) = phi0 + 2 pi gamma_bar B0 delta TE`` (paramagnetic = positive
  phase), wrapped to (-pi, pi].

References
----------
.. [1] Marques JP, Meineke J, Milovic C, et al. QSM reconstruction challenge
   2.0: A realistic in silico head phantom for MRI data simulation and
   evaluation of susceptibility mapping procedures. Magn Reson Med
   2021;86:526-542.
.. [2] Wang Y, Liu T. Quantitative susceptibility mapping (QSM): decoding MRI
   data for a tissue magnetic biomarker. Magn Reson Med 2015;73:82-101
   (tissue susceptibility values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage

from .dipole import GAMMA_BAR_HZ_PER_T, forward_field

#: Tissue table: label -> (name, chi ppm, proton density, R2* 1/s).
TISSUES: dict[int, tuple[str, float, float, float]] = {
    0: ("air", 9.4, 0.0, 0.0),
    1: ("soft tissue", 0.0, 0.6, 30.0),
    2: ("bone", -2.0, 0.05, 400.0),
    3: ("csf", 0.0, 1.0, 4.0),
    4: ("white matter", -0.03, 0.65, 22.0),
    5: ("grey matter", 0.02, 0.8, 16.0),
    6: ("caudate", 0.07, 0.78, 24.0),
    7: ("putamen", 0.06, 0.78, 26.0),
    8: ("globus pallidus", 0.16, 0.72, 40.0),
    9: ("thalamus", 0.02, 0.75, 22.0),
    10: ("substantia nigra", 0.13, 0.7, 40.0),
    11: ("red nucleus", 0.10, 0.7, 35.0),
    12: ("vein", 0.35, 0.6, 45.0),
    13: ("left motor cortex", 0.02, 0.8, 16.0),
    14: ("right motor cortex", 0.02, 0.8, 16.0),
    15: ("left control cortex", 0.02, 0.8, 16.0),
    16: ("right control cortex", 0.02, 0.8, 16.0),
}
ROI_LABELS = {"LMC": 13, "RMC": 14, "LCT": 15, "RCT": 16}

# Head geometry in mm (semi-axes of ellipsoids centred at the origin).
_SCALP = (68.0, 80.0, 72.0)
_SKULL_INNER = (58.5, 70.5, 62.5)  # intracranial cavity
_BRAIN = (54.0, 66.0, 58.0)  # leaves 4.5 mm of CSF and dura under the skull
_MASK_MARGIN_MM = 1.5  # the brain mask takes 1.5 mm of CSF around the brain, as BET-style masks do
_CORTEX_MM = 3.0
_SIM_HALF_EXTENT_MM = 175.0  # padded simulation grid holds head and neck
_MOTOR_Y_MM = -12.0  # centre of the precentral hand-knob band
_BAND_MM = 10.0


@dataclass(frozen=True)
class HeadPhantom:
    """Simulated multi-echo GRE head with its ground truth.

    Attributes
    ----------
    chi : ndarray
        True susceptibility, ppm, float32 (X, Y, Z), relative to CSF.
    brain_mask : ndarray of bool
        Brain plus 1.5 mm of the surrounding CSF (a BET-style mask); the
        remaining 3 mm of CSF and dura up to the skull lie outside it.
    rois : dict of str to ndarray of bool
        ``LMC``, ``RMC`` (left/right motor cortex hand knob) and ``LCT``,
        ``RCT`` (control cortex at the anterior border of the precentral gyrus).
    labels : ndarray of int
        Tissue label per voxel, see :data:`TISSUES`.
    magnitude, phase : ndarray
        float32 (X, Y, Z, E); phase wrapped, radians.
    te_s : tuple of float
        Echo times, seconds.
    b0_tesla : float
        Field strength, T.
    affine : ndarray
        4x4 voxel-to-RAS-mm affine (rotated by the B0 tilt).
    b0_dir : ndarray
        Unit B0 direction in the voxel-axis frame.
    total_field_ppm, local_field_ppm : ndarray
        True total field, and the field of the (demeaned) sources inside the
        brain mask only, ppm, float32.
    voxel_size : tuple of float
        mm.
    params : dict
        The arguments that produced the phantom.
    """

    chi: np.ndarray
    brain_mask: np.ndarray
    rois: dict[str, np.ndarray]
    labels: np.ndarray
    magnitude: np.ndarray
    phase: np.ndarray
    te_s: tuple[float, ...]
    b0_tesla: float
    affine: np.ndarray
    b0_dir: np.ndarray
    total_field_ppm: np.ndarray
    local_field_ppm: np.ndarray
    voxel_size: tuple[float, float, float]
    params: dict = field(default_factory=dict)


def simulate_head(
    voxel_size_mm: float | Sequence[float] = 1.5,
    matrix: int | Sequence[int] = (112, 120, 112),
    b0_tesla: float = 3.0,
    te_ms: Sequence[float] = (4.0, 10.0, 16.0, 22.0, 28.0),
    peak_snr: float = 100.0,
    motor_extra_ppm: float | Sequence[float] = 0.05,
    b0_tilt_deg: float = 0.0,
    seed: int = 0,
) -> HeadPhantom:
    """Simulate a brain-like head scanned with multi-echo gradient echo.

    Parameters
    ----------
    voxel_size_mm : float or sequence of 3 floats
        Voxel edge lengths, mm.
    matrix : int or sequence of 3 ints
        Image matrix; the field of view (``matrix * voxel_size``) must hold the
        136 x 160 x 144 mm head (R-L x A-P x S-I).
    b0_tesla : float
        Field strength, T.
    te_ms : sequence of float
        Increasing echo times, ms.
    peak_snr : float
        Brightest first-echo magnitude over the complex noise standard deviation.
    motor_extra_ppm : float or (left, right)
        Extra susceptibility of the motor-cortex band over normal grey matter.
    b0_tilt_deg : float
        Angle between B0 and the slab's S-I axis (rotation about R-L).
    seed : int
        Seed of the noise generator (the anatomy is deterministic).

    Returns
    -------
    HeadPhantom

    Raises
    ------
    ValueError
        On a field of view that cannot hold the head, non-increasing or
        non-positive echo times, or non-positive field strength / SNR.
    """
    voxel = _triple(voxel_size_mm, float, "voxel_size_mm")
    shape = _triple(matrix, int, "matrix")
    te_s = tuple(float(t) / 1000.0 for t in te_ms)
    fov = np.multiply(voxel, shape)
    if np.any(fov < 2 * np.array(_SCALP)):
        raise ValueError(f"field of view {fov.round(1).tolist()} mm is smaller than the head {list(2 * np.array(_SCALP))} mm")
    if len(te_s) < 1 or te_s[0] <= 0 or np.any(np.diff(te_s) <= 0):
        raise ValueError(f"te_ms must be positive and increasing, got {list(te_ms)}")
    if b0_tesla <= 0 or peak_snr <= 0:
        raise ValueError("b0_tesla and peak_snr must be positive")
    extra = np.broadcast_to(np.asarray(motor_extra_ppm, dtype=float), (2,))

    tilt = np.deg2rad(b0_tilt_deg)
    b0_dir = np.array([0.0, np.sin(tilt), np.cos(tilt)])

    sim_shape = tuple(
        max(n, sp_fft.next_fast_len(int(np.ceil(2 * _SIM_HALF_EXTENT_MM / v)), real=True))
        for n, v in zip(shape, voxel)
    )
    sim_labels = _head_labels(sim_shape, voxel)
    chi_table = np.array([TISSUES[i][1] for i in range(len(TISSUES))], dtype=np.float32)
    chi_table[ROI_LABELS["LMC"]] += extra[0]
    chi_table[ROI_LABELS["RMC"]] += extra[1]
    x, y, z = _coordinates(sim_shape, voxel)
    brain_sim = _ellipsoid(x, y, z, (0.0, 0.0, 0.0), np.add(_BRAIN, _MASK_MARGIN_MM))
    total_sim = forward_field(_smooth_background(chi_table[sim_labels], brain_sim, voxel), voxel, b0_dir)

    window = tuple(slice((s - n) // 2, (s - n) // 2 + n) for s, n in zip(sim_shape, shape))
    labels = sim_labels[window]
    del sim_labels
    total = np.ascontiguousarray(total_sim[window], dtype=np.float32)
    del total_sim
    chi = chi_table[labels]
    brain = brain_sim[window]
    del brain_sim

    padded = _DoublePadding(brain)
    chi_brain = np.where(brain, chi - chi[brain].mean(), 0).astype(np.float32)
    local = padded.unpad(forward_field(padded.pad(chi_brain), voxel, b0_dir)) * brain

    magnitude, phase = _gre_signal(labels, total, te_s, b0_tesla, peak_snr, extra, voxel, seed)
    rois = {name: labels == value for name, value in ROI_LABELS.items()}
    return HeadPhantom(
        chi=chi.astype(np.float32),
        brain_mask=brain,
        rois=rois,
        labels=labels.astype(np.int16),
        magnitude=magnitude,
        phase=phase,
        te_s=te_s,
        b0_tesla=float(b0_tesla),
        affine=_affine(shape, voxel, tilt),
        b0_dir=b0_dir,
        total_field_ppm=total,
        local_field_ppm=local.astype(np.float32),
        voxel_size=voxel,
        params={
            "voxel_size_mm": list(voxel),
            "matrix": list(shape),
            "b0_tesla": float(b0_tesla),
            "te_ms": [t * 1000 for t in te_s],
            "peak_snr": float(peak_snr),
            "motor_extra_ppm": extra.tolist(),
            "b0_tilt_deg": float(b0_tilt_deg),
            "seed": int(seed),
        },
    )


class _DoublePadding:
    """Zero-pads a volume to twice its size for an alias-free local-field simulation."""

    def __init__(self, reference: np.ndarray):
        self.shape = reference.shape
        self.pad_width = [(n // 2, n - n // 2) for n in reference.shape]

    def pad(self, volume: np.ndarray) -> np.ndarray:
        return np.pad(volume, self.pad_width)

    def unpad(self, volume: np.ndarray) -> np.ndarray:
        return volume[tuple(slice(lo, lo + n) for (lo, _), n in zip(self.pad_width, self.shape))]


def _smooth_background(chi: np.ndarray, brain: np.ndarray, voxel) -> np.ndarray:
    """Blur everything outside the brain mask with a 2 mm Gaussian (partial volume).

    Staircase edges of +9.4 / -2 ppm otherwise make the spectral dipole
    convolution ring through the whole volume (worst with an oblique B0) and
    create voxel-scale field spikes no real head has; the brain keeps its
    sharp ground truth.
    """
    outside = np.where(brain, np.float32(0.0), chi)
    blurred = ndimage.gaussian_filter(outside, sigma=[2.0 / v for v in voxel], mode="nearest")
    return np.where(brain, chi, blurred).astype(np.float32)


def _triple(value, kind, name: str) -> tuple:
    values = np.broadcast_to(np.asarray(value), (3,)) if np.ndim(value) == 0 else np.asarray(value)
    if values.shape != (3,) or np.any(values <= 0):
        raise ValueError(f"{name} must be a positive number or three of them, got {value!r}")
    return tuple(kind(v) for v in values)


def _coordinates(shape: Sequence[int], voxel: Sequence[float]) -> tuple[np.ndarray, ...]:
    """Broadcastable mm coordinates of voxel centres, origin at the grid centre."""
    axes = [((np.arange(n) - (n - 1) / 2) * v).astype(np.float32) for n, v in zip(shape, voxel)]
    return axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]


def _ellipsoid(x, y, z, centre, semi) -> np.ndarray:
    return (
        ((x - centre[0]) / semi[0]) ** 2
        + ((y - centre[1]) / semi[1]) ** 2
        + ((z - centre[2]) / semi[2]) ** 2
    ) <= 1.0


def _bilateral(x, y, z, centre, semi) -> np.ndarray:
    mirrored = (-centre[0], centre[1], centre[2])
    return _ellipsoid(x, y, z, centre, semi) | _ellipsoid(x, y, z, mirrored, semi)


def _tube(x, y, z, start, end, radius) -> np.ndarray:
    """Voxels within ``radius`` of the segment ``start``-``end``."""
    start, end = np.asarray(start, np.float32), np.asarray(end, np.float32)
    axis = end - start
    t = ((x - start[0]) * axis[0] + (y - start[1]) * axis[1] + (z - start[2]) * axis[2]) / axis.dot(axis)
    t = np.clip(t, 0, 1)
    return (
        (x - start[0] - t * axis[0]) ** 2
        + (y - start[1] - t * axis[1]) ** 2
        + (z - start[2] - t * axis[2]) ** 2
    ) <= radius**2


def _head_labels(shape: Sequence[int], voxel: Sequence[float]) -> np.ndarray:
    """Tissue labels of the whole head, painted from outside in."""
    x, y, z = _coordinates(shape, voxel)
    labels = np.zeros(tuple(shape), dtype=np.uint8)
    origin = (0.0, 0.0, 0.0)

    neck = (((x / 45.0) ** 2 + ((y + 10.0) / 50.0) ** 2) <= 1.0) & (z > -150.0) & (z < -30.0)
    face = _ellipsoid(x, y, z, (0.0, 35.0, -55.0), (58.0, 60.0, 45.0))
    labels[_ellipsoid(x, y, z, origin, _SCALP) | neck | face] = 1
    labels[_ellipsoid(x, y, z, origin, np.subtract(_SCALP, 5.0))] = 2
    cavities = (
        _ellipsoid(x, y, z, (0.0, 72.0, -32.0), (10.0, 5.0, 7.0))  # frontal sinus
        | _ellipsoid(x, y, z, (0.0, 40.0, -75.0), (12.0, 14.0, 10.0))  # sphenoid/nasal
        | _bilateral(x, y, z, (52.0, -18.0, -50.0), (7.0, 7.0, 7.0))  # mastoid air cells
    )
    labels[cavities] = 0
    labels[_ellipsoid(x, y, z, origin, _SKULL_INNER)] = 3
    brain = _ellipsoid(x, y, z, origin, _BRAIN)
    labels[brain] = 5
    labels[_ellipsoid(x, y, z, origin, np.subtract(_BRAIN, _CORTEX_MM))] = 4

    ribbon = labels == 5
    lateral = (np.abs(x) > 18.0) & (np.abs(x) < 48.0) & (z > 20.0)
    motor = ribbon & lateral & (np.abs(y - _MOTOR_Y_MM) <= _BAND_MM / 2)
    control = ribbon & lateral & (y > _MOTOR_Y_MM + _BAND_MM / 2) & (y <= _MOTOR_Y_MM + 1.5 * _BAND_MM)
    left = x < 0
    labels[motor & left] = 13
    labels[motor & ~left] = 14
    labels[control & left] = 15
    labels[control & ~left] = 16

    labels[_bilateral(x, y, z, (16.0, 15.0, 8.0), (4.0, 10.0, 6.0))] = 6
    labels[_bilateral(x, y, z, (25.0, 5.0, 0.0), (5.0, 14.0, 8.0))] = 7
    labels[_bilateral(x, y, z, (18.0, 2.0, -1.0), (3.5, 8.0, 5.0))] = 8
    labels[_bilateral(x, y, z, (9.0, -14.0, 2.0), (7.0, 9.0, 6.0))] = 9
    labels[_bilateral(x, y, z, (10.0, -16.0, -18.0), (3.0, 5.0, 2.5))] = 10
    labels[_bilateral(x, y, z, (5.0, -12.0, -11.0), (2.5, 2.5, 2.5))] = 11
    labels[_bilateral(x, y, z, (7.0, 10.0, 14.0), (4.0, 16.0, 5.0))] = 3  # lateral ventricles

    # the superior sagittal sinus runs in the dura, between the brain mask and the skull
    shell = np.sqrt((x / _SKULL_INNER[0]) ** 2 + (y / _SKULL_INNER[1]) ** 2 + (z / _SKULL_INNER[2]) ** 2)
    sagittal_sinus = (np.abs(x) < 2.0) & (shell > 0.965) & (shell < 0.995) & (z > 10.0) & (y < 55.0)
    straight_sinus = _tube(x, y, z, (0.0, -10.0, 14.0), (0.0, -52.0, 32.0), 1.8)
    internal_veins = _tube(x, y, z, (3.0, 18.0, 20.0), (3.0, -10.0, 16.0), 1.2) | _tube(
        x, y, z, (-3.0, 18.0, 20.0), (-3.0, -10.0, 16.0), 1.2
    )
    labels[sagittal_sinus | straight_sinus | internal_veins] = 12
    return labels


def _gre_signal(labels, total_ppm, te_s, b0_tesla, peak_snr, extra, voxel, seed):
    """Magnitude and wrapped phase per echo with R2* decay, a phase offset and noise."""
    proton_density = np.array([TISSUES[i][2] for i in range(len(TISSUES))], dtype=np.float32)
    r2star = np.array([TISSUES[i][3] for i in range(len(TISSUES))], dtype=np.float32)
    # iron that raises susceptibility raises R2* too (~ 200 s^-1 per ppm at 3 T)
    r2star[ROI_LABELS["LMC"]] += 200.0 * extra[0]
    r2star[ROI_LABELS["RMC"]] += 200.0 * extra[1]
    rho, rate = proton_density[labels], r2star[labels]

    x, y, z = _coordinates(labels.shape, voxel)
    offset = (1.0 + 1.5 * (x / 80.0) + (y / 80.0) * (z / 80.0) - 0.8 * (z / 80.0) ** 2).astype(np.float32)
    omega = np.float32(2 * np.pi * GAMMA_BAR_HZ_PER_T * b0_tesla * 1e-6)  # rad/s per ppm

    rng = np.random.default_rng(seed)
    sigma = np.float32(rho.max() * np.exp(-rate[rho == rho.max()].min() * te_s[0]) / peak_snr)
    magnitude = np.empty(labels.shape + (len(te_s),), dtype=np.float32)
    phase = np.empty_like(magnitude)
    for e, te in enumerate(te_s):
        signal = rho * np.exp(-rate * np.float32(te)) * np.exp(1j * (offset + omega * total_ppm * np.float32(te)))
        signal = signal + sigma * (
            rng.standard_normal(labels.shape, dtype=np.float32) + 1j * rng.standard_normal(labels.shape, dtype=np.float32)
        )
        magnitude[..., e] = np.abs(signal)
        phase[..., e] = np.angle(signal)
    return magnitude, phase


def _affine(shape: Sequence[int], voxel: Sequence[float], tilt_rad: float) -> np.ndarray:
    """Voxel-to-RAS affine: voxel axes rotated by ``tilt`` about R-L, grid centre at 0 mm."""
    c, s = np.cos(tilt_rad), np.sin(tilt_rad)
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    linear = rotation @ np.diag(voxel)
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ ((np.asarray(shape) - 1) / 2.0)
    return affine
