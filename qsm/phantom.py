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
  ``(0, sin(tilt), cos(tilt))`` and :func:`qsm.inputs.b0_direction` recovers
  it from the affine.
* Field and phase: the relative field is ``delta = D * chi`` (Lorentz-corrected
  dipole convolution, ppm) computed on a padded grid that holds the whole head
  and neck, so air and bone create a genuine background field.  The echo phase
  is ``phi(TE) = phi0 + 2 pi gamma_bar B0 delta TE`` (paramagnetic = positive
  phase), wrapped to (-pi, pi].
* Options that make the phantom harder (all off by default, so the default
  phantom is unchanged): ``anatomy_seed`` draws a varied anatomy (head and
  brain semi-axes, cortical thickness, motor band position, deep nuclei
  positions, sizes and susceptibilities, vein and air-cavity placement, a few
  cortical veins) from :meth:`Anatomy.varied`; ``sulci`` carves grey-matter
  lined CSF clefts into the cortex, a central and a precentral sulcus bounding
  each motor band among them; ``shim_order`` removes the least-squares fit of
  the spherical-harmonic shim terms up to that degree (2 = a second-order
  shim) to the total field inside the brain mask from the total field, as the
  scanner's shim does (the local field is unchanged); ``dephasing`` multiplies each
  voxel's signal by ``prod_i sinc(gamma_bar B0 G_i TE)``, where ``G_i`` is
  the (shimmed) total field's change across the voxel along axis ``i``: the
  intravoxel dephasing that empties voxels next to air cavities at late
  echoes [3]_.

References
----------
.. [1] Marques JP, Meineke J, Milovic C, et al. QSM reconstruction challenge
   2.0: A realistic in silico head phantom for MRI data simulation and
   evaluation of susceptibility mapping procedures. Magn Reson Med
   2021;86:526-542.
.. [2] Wang Y, Liu T. Quantitative susceptibility mapping (QSM): decoding MRI
   data for a tissue magnetic biomarker. Magn Reson Med 2015;73:82-101
   (tissue susceptibility values).
.. [3] Fernandez-Seara MA, Wehrli FW. Postprocessing technique to correct for
   background gradients in image-based R2* measurements. Magn Reson Med
   2000;44:358-366 (sinc signal loss from a linear field gradient across a
   voxel).
.. [4] Wachowicz K. Evaluation of active and passive shimming in magnetic
   resonance imaging. Res Rep Nucl Med 2014;4:1-12 (second-order spherical
   harmonic shims).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage

from .background import fitted_local_field
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
#: Longitudinal relaxation rate at 3 T per tissue label, 1/s (for forward models with T1 weighting).
R1_3T_PER_S: dict[int, float] = {
    0: 0.0, 1: 0.7, 2: 2.0, 3: 0.25, 4: 1.2, 5: 0.7, 6: 0.8, 7: 0.8, 8: 1.0, 9: 0.9, 10: 1.0, 11: 1.0,
    12: 0.6, 13: 0.7, 14: 0.7, 15: 0.7, 16: 0.7,
}

_MASK_MARGIN_MM = 1.5  # the brain mask takes 1.5 mm of CSF around the brain, as BET-style masks do
_SIM_HALF_EXTENT_MM = 175.0  # padded simulation grid holds head and neck
_BAND_MM = 10.0
_DEEP_GREY = (6, 7, 8, 9, 10, 11)

Point = tuple[float, float, float]


@dataclass(frozen=True)
class Sulcus:
    """A CSF-filled cleft cut into the brain from its surface, lined by cortex.

    Attributes
    ----------
    direction : (3,) floats
        Points from the brain centre to where the cleft opens, in coordinates
        normalised by the brain semi-axes (a point on the unit sphere).
    tangent : (3,) floats
        Direction, mm frame, along which the cleft runs on the surface.
    length_mm, width_mm, depth_mm : float
        Extent along the surface, gap between its walls, depth below the surface.
    """

    direction: Point
    tangent: Point
    length_mm: float
    width_mm: float
    depth_mm: float


@dataclass(frozen=True)
class Anatomy:
    """Head geometry in mm (centre at the origin, RAS) and tissue overrides.

    The defaults are the reference phantom; :meth:`varied` draws a different
    but plausible head.  Bilateral structures give their right-side centre.

    Attributes
    ----------
    scalp, skull_inner, brain : (3,) floats
        Semi-axes of the scalp, the intracranial cavity and the brain.
    cortex_mm : float
        Cortical ribbon thickness.
    motor_y_mm : float
        A-P centre of the precentral (motor) band.
    nuclei : tuple of (label, centre, semi-axes)
        Bilateral deep structures painted in order (the ventricles as CSF last).
    cavities : tuple of (centre, semi-axes, bilateral)
        Air spaces in the skull (frontal and sphenoid sinuses, mastoid cells).
    veins : tuple of (start, end, radius)
        Tubes of venous blood (straight sinus, internal cerebral veins, and the
        cortical veins of a varied anatomy).
    chi_factor : tuple of (label, factor)
        Susceptibility multipliers per tissue label.
    sulci : tuple of Sulcus
    """

    scalp: Point = (68.0, 80.0, 72.0)
    skull_inner: Point = (58.5, 70.5, 62.5)
    brain: Point = (54.0, 66.0, 58.0)  # leaves 4.5 mm of CSF and dura under the skull
    cortex_mm: float = 3.0
    motor_y_mm: float = -12.0  # centre of the precentral hand-knob band
    nuclei: tuple = (
        (6, (16.0, 15.0, 8.0), (4.0, 10.0, 6.0)),  # caudate
        (7, (25.0, 5.0, 0.0), (5.0, 14.0, 8.0)),  # putamen
        (8, (18.0, 2.0, -1.0), (3.5, 8.0, 5.0)),  # globus pallidus
        (9, (9.0, -14.0, 2.0), (7.0, 9.0, 6.0)),  # thalamus
        (10, (10.0, -16.0, -18.0), (3.0, 5.0, 2.5)),  # substantia nigra
        (11, (5.0, -12.0, -11.0), (2.5, 2.5, 2.5)),  # red nucleus
        (3, (7.0, 10.0, 14.0), (4.0, 16.0, 5.0)),  # lateral ventricles
    )
    cavities: tuple = (
        ((0.0, 72.0, -32.0), (10.0, 5.0, 7.0), False),  # frontal sinus
        ((0.0, 40.0, -75.0), (12.0, 14.0, 10.0), False),  # sphenoid/nasal
        ((52.0, -18.0, -50.0), (7.0, 7.0, 7.0), True),  # mastoid air cells
    )
    veins: tuple = (
        ((0.0, -10.0, 14.0), (0.0, -52.0, 32.0), 1.8),  # straight sinus
        ((3.0, 18.0, 20.0), (3.0, -10.0, 16.0), 1.2),  # internal cerebral veins
        ((-3.0, 18.0, 20.0), (-3.0, -10.0, 16.0), 1.2),
    )
    chi_factor: tuple = ()
    sulci: tuple = ()

    @classmethod
    def varied(cls, seed: int, sulci: bool = False) -> Anatomy:
        """A plausible head different from the reference one.

        Head and brain semi-axes move by up to 3 mm (the scalp-to-brain layers
        by up to 0.5 mm), the cortex is 2.5-3.5 mm thick, the motor band moves
        by up to 4 mm along A-P, deep nuclei by up to 2 mm with sizes and
        susceptibilities within +-15 % and +-20 %, air cavities by up to 3 mm
        and 15 %, vein ends by up to 3 mm; three cortical veins run over the
        upper convexity.

        Parameters
        ----------
        seed : int
            Seed of the anatomy generator.
        sulci : bool
            Also carve sulci (see :meth:`with_sulci`).

        Returns
        -------
        Anatomy
        """
        rng = np.random.default_rng([seed, 0x5EED])
        base = cls()
        scalp = tuple(np.add(base.scalp, rng.uniform(-3.0, 3.0, 3)).round(2))
        skull_inner = tuple(np.subtract(scalp, 9.5 + rng.uniform(-0.5, 0.5, 3)).round(2))
        brain = tuple(np.subtract(skull_inner, 4.5 + rng.uniform(-0.5, 0.5, 3)).round(2))
        nuclei = tuple(
            (label, tuple(np.add(centre, rng.uniform(-2.0, 2.0, 3)).round(2)),
             tuple(np.multiply(semi, rng.uniform(0.85, 1.15, 3)).round(2)))
            for label, centre, semi in base.nuclei
        )
        cavities = tuple(
            (tuple(np.add(centre, rng.uniform(-3.0, 3.0, 3)).round(2)),
             tuple(np.multiply(semi, rng.uniform(0.85, 1.15, 3)).round(2)), bilateral)
            for centre, semi, bilateral in base.cavities
        )
        veins = tuple(
            (tuple(np.add(start, rng.uniform(-3.0, 3.0, 3)).round(2)),
             tuple(np.add(end, rng.uniform(-3.0, 3.0, 3)).round(2)), radius)
            for start, end, radius in base.veins
        )
        anatomy = cls(
            scalp=scalp,
            skull_inner=skull_inner,
            brain=brain,
            cortex_mm=round(float(rng.uniform(2.5, 3.5)), 2),
            motor_y_mm=round(float(base.motor_y_mm + rng.uniform(-4.0, 4.0)), 2),
            nuclei=nuclei,
            cavities=cavities,
            veins=veins + _cortical_veins(rng, brain),
            chi_factor=tuple((label, round(float(rng.uniform(0.8, 1.2)), 3)) for label in _DEEP_GREY),
        )
        return anatomy.with_sulci(seed) if sulci else anatomy

    def with_sulci(self, seed: int, count: int = 40) -> Anatomy:
        """This anatomy with sulci: central and precentral ones plus ``count`` random ones.

        A central sulcus runs medio-laterally behind each motor band and a
        precentral sulcus between each motor band and its control band, so both
        regions of interest border CSF as real precentral cortex does; the others
        open anywhere on the upper two thirds of the convexity.  Widths are
        1-2 mm, depths 10-15 mm.

        Parameters
        ----------
        seed : int
            Seed of the sulcus generator.
        count : int
            Number of randomly placed sulci.

        Returns
        -------
        Anatomy
        """
        rng = np.random.default_rng([seed, 0x5C1C])
        fixed = []
        for side in (-1.0, 1.0):
            for y_mm in (self.motor_y_mm - _BAND_MM / 2 - 1.0, self.motor_y_mm + _BAND_MM / 2):
                x_n, y_n = side * 33.0 / self.brain[0], y_mm / self.brain[1]
                direction = (x_n, y_n, float(np.sqrt(max(1.0 - x_n**2 - y_n**2, 0.0))))
                fixed.append(Sulcus(direction, (1.0, 0.0, 0.0), 34.0, round(float(rng.uniform(1.0, 2.0)), 2),
                                    round(float(rng.uniform(10.0, 15.0)), 2)))
        random = []
        while len(random) < count:
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            if direction[2] < -0.3:
                continue
            random.append(Sulcus(tuple(direction.round(4)), tuple(rng.normal(size=3).round(4)),
                                 round(float(rng.uniform(15.0, 35.0)), 2), round(float(rng.uniform(1.0, 2.0)), 2),
                                 round(float(rng.uniform(10.0, 15.0)), 2)))
        return replace(self, sulci=tuple(fixed + random))


def _cortical_veins(rng: np.random.Generator, brain: Point) -> tuple:
    """Three 0.8 mm veins just outside the upper brain surface (inside the mask margin)."""
    veins = []
    for _ in range(3):
        first = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6), 0.0])
        first[2] = np.sqrt(1.0 - first[0] ** 2 - first[1] ** 2)
        step = rng.normal(size=3)
        second = first + 0.35 * (step - step.dot(first) * first) / np.linalg.norm(step - step.dot(first) * first)
        second /= np.linalg.norm(second)
        outward = np.add(brain, 0.9)
        veins.append((tuple((first * outward).round(2)), tuple((second * outward).round(2)), 0.8))
    return tuple(veins)


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
    anatomy_seed: int | None = None,
    sulci: bool = False,
    shim_order: int | None = None,
    dephasing: bool = False,
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
        Seed of the noise generator.
    anatomy_seed : int, optional
        Seed of a varied anatomy (:meth:`Anatomy.varied`); the reference head
        when omitted.
    sulci : bool
        Carve sulci into the cortex (:meth:`Anatomy.with_sulci`, seeded by
        ``anatomy_seed`` or 0).
    shim_order : {None, 0, 1, 2}
        Degree of the spherical-harmonic shim fitted to the total field inside
        the brain mask and removed from it (:func:`shim_fit`); none when None.
    dephasing : bool
        Apply intravoxel dephasing from the total field's gradient.

    Returns
    -------
    HeadPhantom

    Raises
    ------
    ValueError
        On a field of view that cannot hold the head, non-increasing or
        non-positive echo times, non-positive field strength / SNR, or an
        unsupported shim order.
    """
    voxel = _triple(voxel_size_mm, float, "voxel_size_mm")
    shape = _triple(matrix, int, "matrix")
    te_s = tuple(float(t) / 1000.0 for t in te_ms)
    anatomy = Anatomy() if anatomy_seed is None else Anatomy.varied(anatomy_seed)
    if sulci:
        anatomy = anatomy.with_sulci(0 if anatomy_seed is None else anatomy_seed)
    fov = np.multiply(voxel, shape)
    if np.any(fov < 2 * np.array(anatomy.scalp)):
        raise ValueError(f"field of view {fov.round(1).tolist()} mm is smaller than the head "
                         f"{list(2 * np.array(anatomy.scalp))} mm")
    if len(te_s) < 1 or te_s[0] <= 0 or np.any(np.diff(te_s) <= 0):
        raise ValueError(f"te_ms must be positive and increasing, got {list(te_ms)}")
    if b0_tesla <= 0 or peak_snr <= 0:
        raise ValueError("b0_tesla and peak_snr must be positive")
    if shim_order not in (None, 0, 1, 2):
        raise ValueError(f"shim_order must be None, 0, 1 or 2, got {shim_order!r}")
    extra = np.broadcast_to(np.asarray(motor_extra_ppm, dtype=float), (2,))

    tilt = np.deg2rad(b0_tilt_deg)
    b0_dir = np.array([0.0, np.sin(tilt), np.cos(tilt)])

    sim_shape = tuple(
        max(n, sp_fft.next_fast_len(int(np.ceil(2 * _SIM_HALF_EXTENT_MM / v)), real=True))
        for n, v in zip(shape, voxel)
    )
    sim_labels = _head_labels(sim_shape, voxel, anatomy)
    chi_table = susceptibility_table(anatomy, extra)
    x, y, z = _coordinates(sim_shape, voxel)
    brain_sim = _ellipsoid(x, y, z, (0.0, 0.0, 0.0), np.add(anatomy.brain, _MASK_MARGIN_MM))
    total_sim = forward_field(_smooth_background(chi_table[sim_labels], brain_sim, voxel), voxel, b0_dir)

    window = tuple(slice((s - n) // 2, (s - n) // 2 + n) for s, n in zip(sim_shape, shape))
    labels = sim_labels[window]
    del sim_labels
    total = np.ascontiguousarray(total_sim[window], dtype=np.float32)
    del total_sim
    chi = chi_table[labels]
    brain = brain_sim[window]
    del brain_sim
    if shim_order is not None:
        total = total - shim_fit(total, brain, voxel, shim_order)

    local = local_field(chi, brain, voxel, b0_dir)

    magnitude, phase = _gre_signal(labels, total, te_s, b0_tesla, peak_snr, extra, voxel, seed, dephasing)
    rois = {name: labels == value for name, value in ROI_LABELS.items()}
    params = {
        "voxel_size_mm": list(voxel),
        "matrix": list(shape),
        "b0_tesla": float(b0_tesla),
        "te_ms": [t * 1000 for t in te_s],
        "peak_snr": float(peak_snr),
        "motor_extra_ppm": extra.tolist(),
        "b0_tilt_deg": float(b0_tilt_deg),
        "seed": int(seed),
    }
    options = {"anatomy_seed": anatomy_seed, "sulci": sulci, "shim_order": shim_order, "dephasing": dephasing}
    params.update({key: value for key, value in options.items() if value not in (None, False)})
    return HeadPhantom(
        chi=chi.astype(np.float32),
        brain_mask=brain,
        rois=rois,
        labels=labels.astype(np.int16),
        magnitude=magnitude,
        phase=phase,
        te_s=te_s,
        b0_tesla=float(b0_tesla),
        affine=slab_affine(shape, voxel, b0_tilt_deg),
        b0_dir=b0_dir,
        total_field_ppm=total,
        local_field_ppm=local,
        voxel_size=voxel,
        params=params,
    )


def head_model(
    voxel_size_mm: float | Sequence[float],
    matrix: int | Sequence[int],
    anatomy: Anatomy | None = None,
    motor_extra_ppm: float | Sequence[float] = 0.05,
) -> HeadModel:
    """Tissue maps of the phantom head on a grid centred on the head, without any MR signal.

    For forward models other than :func:`simulate_head`'s (e.g. qsm-forward).

    Parameters
    ----------
    voxel_size_mm : float or sequence of 3 floats
        Voxel edge lengths, mm.
    matrix : int or sequence of 3 ints
        Grid shape; the grid must hold the head.
    anatomy : Anatomy, optional
        The reference head when omitted.
    motor_extra_ppm : float or (left, right)
        Extra susceptibility of the motor bands over grey matter.

    Returns
    -------
    HeadModel

    Raises
    ------
    ValueError
        On a grid that cannot hold the head.
    """
    voxel = _triple(voxel_size_mm, float, "voxel_size_mm")
    shape = _triple(matrix, int, "matrix")
    anatomy = anatomy or Anatomy()
    if np.any(np.multiply(voxel, shape) < 2 * np.array(anatomy.scalp)):
        raise ValueError(f"field of view {np.multiply(voxel, shape).round(1).tolist()} mm is smaller than the head")
    extra = np.broadcast_to(np.asarray(motor_extra_ppm, dtype=float), (2,))
    labels = _head_labels(shape, voxel, anatomy)
    x, y, z = _coordinates(shape, voxel)
    brain = _ellipsoid(x, y, z, (0.0, 0.0, 0.0), np.add(anatomy.brain, _MASK_MARGIN_MM))
    chi_table = susceptibility_table(anatomy, extra)
    proton_density, r2star = _relaxation_tables(extra)
    return HeadModel(
        labels=labels,
        chi=_smooth_background(chi_table[labels], brain, voxel),
        brain_mask=brain,
        proton_density=proton_density[labels],
        r1=np.array([R1_3T_PER_S[i] for i in range(len(TISSUES))], dtype=np.float32)[labels],
        r2star=r2star[labels],
        voxel_size=voxel,
    )


@dataclass(frozen=True)
class HeadModel:
    """Tissue maps of the phantom head (see :func:`head_model`).

    Attributes
    ----------
    labels : ndarray of uint8
        Tissue label per voxel, see :data:`TISSUES`.
    chi : ndarray
        Susceptibility, ppm, float32; blurred by 2 mm outside the brain mask
        (partial volume of bone and air), sharp inside it.
    brain_mask : ndarray of bool
    proton_density, r1, r2star : ndarray
        float32; relative units, 1/s, 1/s (3 T).
    voxel_size : tuple of float
        mm.
    """

    labels: np.ndarray
    chi: np.ndarray
    brain_mask: np.ndarray
    proton_density: np.ndarray
    r1: np.ndarray
    r2star: np.ndarray
    voxel_size: tuple[float, float, float]


def local_field(chi: np.ndarray, brain: np.ndarray, voxel: Sequence[float], b0_dir: Sequence[float]) -> np.ndarray:
    """True local field: the field over ``brain`` of the demeaned susceptibility inside it.

    The brain's sources alone, zero-padded to twice the grid so nothing wraps;
    demeaned because a QSM map is referenced (its mean over the brain is
    undetermined).

    Parameters
    ----------
    chi : ndarray
        Susceptibility, ppm.
    brain : ndarray of bool
        Brain mask.
    voxel : sequence of 3 floats
        mm.
    b0_dir : sequence of 3 floats
        B0 in the voxel frame.

    Returns
    -------
    ndarray
        float32 field, ppm, zero outside ``brain``.
    """
    padded = _DoublePadding(brain)
    return padded.unpad(fitted_local_field(padded.pad(chi), padded.pad(brain), voxel, b0_dir))


def susceptibility_table(anatomy: Anatomy, extra: np.ndarray) -> np.ndarray:
    """chi (ppm) per tissue label: :data:`TISSUES` with the anatomy's factors and the motor extra."""
    chi_table = np.array([TISSUES[i][1] for i in range(len(TISSUES))], dtype=np.float32)
    for label, factor in anatomy.chi_factor:
        chi_table[label] *= np.float32(factor)
    chi_table[ROI_LABELS["LMC"]] += extra[0]
    chi_table[ROI_LABELS["RMC"]] += extra[1]
    return chi_table


def shim_fit(field_ppm: np.ndarray, mask: np.ndarray, voxel: Sequence[float], order: int) -> np.ndarray:
    """Least-squares fit of the shim terms up to ``order`` to the field inside ``mask``.

    The terms are the solid spherical harmonics a shim coil can make: 1;
    x, y, z; xy, xz, yz, x^2 - y^2, 2z^2 - x^2 - y^2 [4]_.  They are harmonic
    (no sources inside the head), so removing them changes the background field
    only; ``x^2 + y^2 + z^2``, the one degree-2 polynomial left out, is not a
    field any coil produces and would fake a local field.

    Parameters
    ----------
    field_ppm : ndarray
        Field, ppm.
    mask : ndarray of bool
        Region the shim is optimised over.
    voxel : sequence of float
        Voxel size, mm.
    order : {0, 1, 2}
        Highest harmonic degree.

    Returns
    -------
    ndarray
        float32 fitted field on the whole grid, ppm.
    """
    x, y, z = (c / np.float32(100.0) for c in _coordinates(field_ppm.shape, voxel))  # decimetres: well conditioned
    terms = [np.ones((1, 1, 1), np.float32), x, y, z, x * y, x * z, y * z, x**2 - y**2, 2 * z**2 - x**2 - y**2]
    terms = terms[: {0: 1, 1: 4, 2: 9}[order]]
    design = np.stack([np.broadcast_to(term, field_ppm.shape)[mask] for term in terms], axis=1).astype(np.float64)
    coefficients = np.linalg.lstsq(design, field_ppm[mask].astype(np.float64), rcond=None)[0]
    fit = np.zeros(field_ppm.shape, dtype=np.float32)
    for term, coefficient in zip(terms, coefficients):
        fit += np.float32(coefficient) * term
    return fit


def dephasing_factor(total_ppm: np.ndarray, te_s: float, b0_tesla: float) -> np.ndarray:
    """Signal fraction left by intravoxel dephasing in a linear field across each voxel.

    A field changing by ``G_i`` (ppm) across the voxel along axis ``i``
    dephases a uniform voxel to ``prod_i sinc(gamma_bar B0 G_i TE)`` with the
    normalised ``sinc(u) = sin(pi u) / (pi u)`` [3]_; negative lobes flip the
    voxel's phase by pi, as they do in a real voxel.

    Parameters
    ----------
    total_ppm : ndarray
        Total field, ppm.
    te_s : float
        Echo time, s.
    b0_tesla : float
        Field strength, T.

    Returns
    -------
    ndarray
        float32, 1 where the field is flat.
    """
    hertz_per_ppm = GAMMA_BAR_HZ_PER_T * b0_tesla * 1e-6
    factor = np.ones(total_ppm.shape, dtype=np.float32)
    for axis in range(3):
        factor *= np.sinc(np.gradient(total_ppm, axis=axis) * np.float32(hertz_per_ppm * te_s)).astype(np.float32)
    return factor


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


def _head_labels(shape: Sequence[int], voxel: Sequence[float], anatomy: Anatomy) -> np.ndarray:
    """Tissue labels of the whole head, painted from outside in."""
    x, y, z = _coordinates(shape, voxel)
    labels = np.zeros(tuple(shape), dtype=np.uint8)
    origin = (0.0, 0.0, 0.0)

    neck = (((x / 45.0) ** 2 + ((y + 10.0) / 50.0) ** 2) <= 1.0) & (z > -150.0) & (z < -30.0)
    face = _ellipsoid(x, y, z, (0.0, 35.0, -55.0), (58.0, 60.0, 45.0))
    labels[_ellipsoid(x, y, z, origin, anatomy.scalp) | neck | face] = 1
    labels[_ellipsoid(x, y, z, origin, np.subtract(anatomy.scalp, 5.0))] = 2
    for centre, semi, bilateral in anatomy.cavities:
        labels[(_bilateral if bilateral else _ellipsoid)(x, y, z, centre, semi)] = 0
    labels[_ellipsoid(x, y, z, origin, anatomy.skull_inner)] = 3
    labels[_ellipsoid(x, y, z, origin, anatomy.brain)] = 5
    labels[_ellipsoid(x, y, z, origin, np.subtract(anatomy.brain, anatomy.cortex_mm))] = 4
    clefts = _paint_sulcal_walls(labels, x, y, z, anatomy)

    ribbon = labels == 5
    lateral = (np.abs(x) > 18.0) & (np.abs(x) < 48.0) & (z > 20.0)
    motor_y = anatomy.motor_y_mm
    motor = ribbon & lateral & (np.abs(y - motor_y) <= _BAND_MM / 2)
    control = ribbon & lateral & (y > motor_y + _BAND_MM / 2) & (y <= motor_y + 1.5 * _BAND_MM)
    left = x < 0
    labels[motor & left] = 13
    labels[motor & ~left] = 14
    labels[control & left] = 15
    labels[control & ~left] = 16
    for box, cleft in clefts:
        labels[box][cleft] = 3

    for label, centre, semi in anatomy.nuclei:
        labels[_bilateral(x, y, z, centre, semi)] = label

    # the superior sagittal sinus runs in the dura, between the brain mask and the skull
    inner = anatomy.skull_inner
    shell = np.sqrt((x / inner[0]) ** 2 + (y / inner[1]) ** 2 + (z / inner[2]) ** 2)
    veins = (np.abs(x) < 2.0) & (shell > 0.965) & (shell < 0.995) & (z > 10.0) & (y < 55.0)
    for start, end, radius in anatomy.veins:
        veins |= _tube(x, y, z, start, end, radius)
    labels[veins] = 12
    return labels


def _paint_sulcal_walls(labels: np.ndarray, x, y, z, anatomy: Anatomy) -> list:
    """Line each sulcus with cortex (white matter within a cortex thickness of the cleft turns grey).

    Returns the clefts as (bounding-box slices, boolean cleft inside the box),
    to be filled with CSF once the motor and control bands are labelled, so the
    bands keep their sulcal banks.
    """
    clefts = []
    if not anatomy.sulci:
        return clefts
    box = tuple(
        slice(int(np.searchsorted(axis.ravel(), -semi - 1.0)), int(np.searchsorted(axis.ravel(), semi + 1.0)))
        for axis, semi in zip((x, y, z), anatomy.brain)
    )
    bx, by, bz = x[box[0]], y[:, box[1]], z[..., box[2]]
    semi = np.asarray(anatomy.brain, dtype=np.float32)
    rho = np.sqrt((bx / semi[0]) ** 2 + (by / semi[1]) ** 2 + (bz / semi[2]) ** 2)
    region = labels[box]
    for sulcus in anatomy.sulci:
        opening = np.asarray(sulcus.direction, dtype=np.float64) / np.linalg.norm(sulcus.direction) * semi
        normal = opening / semi**2
        normal /= np.linalg.norm(normal)
        across = np.cross(normal, sulcus.tangent)
        across /= np.linalg.norm(across)
        along = np.cross(across, normal)
        offset = [c - np.float32(o) for c, o in zip((bx, by, bz), opening)]
        distance = np.abs(sum(o * np.float32(a) for o, a in zip(offset, across)))
        running = np.abs(sum(o * np.float32(a) for o, a in zip(offset, along))) <= sulcus.length_mm / 2
        depth = (1.0 - rho) * np.float32(np.linalg.norm(opening))
        cleft = running & (distance <= sulcus.width_mm / 2) & (depth <= sulcus.depth_mm) & (rho <= 1.0)
        wall = running & (distance <= sulcus.width_mm / 2 + anatomy.cortex_mm) & (
            depth <= sulcus.depth_mm + anatomy.cortex_mm)
        region[wall & (region == 4)] = 5
        clefts.append((box, cleft))
    return clefts


def _relaxation_tables(extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Proton density and R2* (1/s) per tissue label, the motor bands' R2* raised by their iron."""
    proton_density = np.array([TISSUES[i][2] for i in range(len(TISSUES))], dtype=np.float32)
    r2star = np.array([TISSUES[i][3] for i in range(len(TISSUES))], dtype=np.float32)
    # iron that raises susceptibility raises R2* too (~ 200 s^-1 per ppm at 3 T)
    r2star[ROI_LABELS["LMC"]] += 200.0 * extra[0]
    r2star[ROI_LABELS["RMC"]] += 200.0 * extra[1]
    return proton_density, r2star


def _gre_signal(labels, total_ppm, te_s, b0_tesla, peak_snr, extra, voxel, seed, dephasing):
    """Magnitude and wrapped phase per echo with R2* decay, a phase offset and noise."""
    proton_density, r2star = _relaxation_tables(extra)
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
        if dephasing:
            signal = signal * dephasing_factor(total_ppm, te, b0_tesla)
        signal = signal + sigma * (
            rng.standard_normal(labels.shape, dtype=np.float32) + 1j * rng.standard_normal(labels.shape, dtype=np.float32)
        )
        magnitude[..., e] = np.abs(signal)
        phase[..., e] = np.angle(signal)
    return magnitude, phase


def slab_affine(shape: Sequence[int], voxel: Sequence[float], tilt_deg: float) -> np.ndarray:
    """Voxel-to-RAS affine: voxel axes rotated by ``tilt_deg`` about R-L, grid centre at 0 mm.

    With B0 along world +z, :func:`qsm.inputs.b0_direction` of this affine is
    ``(0, sin(tilt), cos(tilt))``.
    """
    tilt_rad = np.deg2rad(tilt_deg)
    c, s = np.cos(tilt_rad), np.sin(tilt_rad)
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    linear = rotation @ np.diag(voxel)
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ ((np.asarray(shape) - 1) / 2.0)
    return affine
