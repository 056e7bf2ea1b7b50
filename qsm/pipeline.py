"""The QSM pipeline: magnitude and phase in, referenced susceptibility (ppm) out.

Stages (each in its own module, with its references there):

``mask``        :mod:`qsm.mask` (skipped when a mask is given)
``unwrap``      :mod:`qsm.unwrap`, on the echo-difference phase
``echo_fit``    :mod:`qsm.echo`, temporal unwrapping and weighted fit
``background``  :mod:`qsm.background`
``inversion``   :mod:`qsm.inversion`
``reference``   :mod:`qsm.reference`

After masking everything runs on a working grid cropped to the mask with a
zero margin (:mod:`qsm.grid`); results come back on the input grid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import __version__, background as bg, echo, inversion as inv, mask as masking, unwrap as uw
from .inputs import b0_direction, voxel_sizes
from .grid import FIT_MARGIN_FRACTION, WorkGrid
from .reference import reference as subtract_reference

Progress = Callable[[str, float], None]

#: Stage names in order, with the share of the run time each roughly takes.
#: The shares follow the 0.75 mm benchmark with the default single-step TV, whose
#: solve is the background stage (docs/qsm.md).
STAGES: dict[str, float] = {
    "mask": 0.05,
    "unwrap": 0.1,
    "echo_fit": 0.05,
    "background": 0.75,
    "inversion": 0.04,
    "reference": 0.01,
}


@dataclass
class QSMResult:
    """Output of :func:`reconstruct`; every array is on the input grid.

    Attributes
    ----------
    chi : ndarray
        float32 susceptibility, ppm, referenced, zero outside ``mask``.
    mask : ndarray of bool
        Brain mask used (given or derived).
    total_field_ppm : ndarray
        float32 echo-combined field, ppm.
    local_field_ppm : ndarray
        float32 field after background removal, ppm (zero where undefined).
    timings : dict of str to float
        Seconds per stage.
    params : dict
        Every parameter that shaped the result (JSON-serialisable).
    """

    chi: np.ndarray
    mask: np.ndarray
    total_field_ppm: np.ndarray
    local_field_ppm: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    params: dict = field(default_factory=dict)


def reconstruct(
    magnitude: np.ndarray,
    phase: np.ndarray,
    te_s: Sequence[float],
    b0_tesla: float,
    affine: np.ndarray,
    mask: np.ndarray | None = None,
    inversion: str = inv.DEFAULT,
    background: str = bg.DEFAULT,
    reference: str = "brain",
    reference_mask: np.ndarray | None = None,
    progress: Progress | None = None,
    unwrap: str = "path",
    inversion_options: dict | None = None,
) -> QSMResult:
    """Reconstruct a susceptibility map from multi-echo gradient-echo data.

    Parameters
    ----------
    magnitude, phase : ndarray
        (X, Y, Z, E) or (X, Y, Z) for one echo; phase wrapped, radians, with
        the convention ``phi = phi0 + 2 pi gamma_bar B0 delta TE``.
    te_s : sequence of float
        Increasing echo times, seconds.
    b0_tesla : float
        Field strength, T.
    affine : ndarray
        4x4 voxel-to-RAS-mm affine; gives the voxel size and the direction of
        B0 (world +z, superior) in the voxel frame, so oblique slabs work.
    mask : ndarray of bool, optional
        Brain mask; derived from magnitude and phase quality when omitted.
    inversion : {"tv", "iswim", "tkd"}
        Dipole inversion method (see :mod:`qsm.inversion`).
    background : {"fit", "vsharp", "pdf"}
        Background field removal (see :mod:`qsm.background`).  With ``"fit"``
        (default) and ``inversion="tv"`` both are solved as one single-step TV
        problem, and the local field returned is the field of the result.
    reference : {"brain", "mask"}
        Reference to the whole-brain mean or to ``reference_mask``.
    reference_mask : ndarray of bool, optional
        Required when ``reference == "mask"``.
    progress : callable, optional
        Called as ``progress(stage, fraction_done)`` before each stage and as
        ``progress("done", 1.0)`` at the end.
    unwrap : {"path", "laplacian"}
        Exact path-following unwrapping with temporal echo unwrapping and a
        weighted fit (default), or Laplacian unwrapping of the echo-difference
        phase (faster, approximate).
    inversion_options : dict, optional
        Keyword arguments passed to the inversion function.

    Returns
    -------
    QSMResult

    Raises
    ------
    ValueError
        On inconsistent shapes, unknown method names, non-finite data,
        unsorted or non-positive echo times, or a non-positive field strength.
    """
    magnitude, phase = _as_4d(magnitude, "magnitude"), _as_4d(phase, "phase")
    te = _validate(magnitude, phase, te_s, b0_tesla, affine, mask, reference, reference_mask)
    for name, value, allowed in (
        ("inversion", inversion, inv.INVERSIONS),
        ("background", background, bg.METHODS),
        ("unwrap", unwrap, uw.METHODS),
    ):
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r}; choose one of {sorted(allowed)}")
    voxel, b0_dir = voxel_sizes(affine), b0_direction(affine)
    clock = _StageClock(progress)

    clock.start("mask")
    step, dte = echo.phase_step(magnitude, phase, te) if len(te) > 1 else (phase[..., 0], te[0])
    # the echo-combined magnitude serves the derived mask and the morphology prior
    image = masking.root_sum_of_squares(magnitude) if mask is None or background == "fit" else None
    if mask is None:
        brain = masking.refine_by_phase_quality(masking.magnitude_mask(image, voxel), step)
    else:
        brain = np.asarray(mask, dtype=bool)
    grid = WorkGrid.around(brain, FIT_MARGIN_FRACTION) if background == "fit" else WorkGrid.around(brain)
    brain_w = grid.crop(brain)

    clock.start("unwrap")
    step_w = grid.crop(step)
    if unwrap == "path":
        unwrapped_step = uw.unwrap_path(step_w, brain_w)
    else:
        unwrapped_step = uw.unwrap_laplacian(step_w, brain_w, voxel)

    clock.start("echo_fit")
    if unwrap == "path" and len(te) > 1:
        # full-grid inputs, mask voxels only: no cropped 4D copies
        rate, residual, rate_error = echo.field_rate(phase, magnitude, te, grid.uncrop(unwrapped_step) / dte, brain)
        noise_ppm = echo.field_noise_ppm(rate_error, b0_tesla, brain)
        rate, residual = grid.crop(rate), grid.crop(residual)
        weight = echo.fit_weight(residual, brain_w) if mask is None else None
    else:
        rate, noise_ppm, weight = unwrapped_step / dte, float("nan"), None
    total_w = echo.rate_to_ppm(rate, b0_tesla)

    clock.start("background")
    options = dict(inversion_options or {})
    edges = inv.edge_weight(grid.crop(image), brain_w) if background == "fit" else None
    single_step = background == "fit" and inversion == "tv"
    if single_step:
        # TV and the dipole fit are one problem: solve it once (Chatnuntawech et al.)
        chi_w = inv.single_step_tv(total_w, brain_w, voxel, b0_dir, noise_ppm=noise_ppm, weight=weight,
                                   edge_weight=edges, **options)
        local_w, valid_w = bg.fitted_local_field(chi_w, brain_w, voxel, b0_dir), brain_w
    else:
        local_w, valid_w = _remove_background(background, total_w, brain_w, voxel, b0_dir, noise_ppm, weight, edges)

    clock.start("inversion")
    if not single_step:
        chi_w = inv.INVERSIONS[inversion](local_w, brain_w, voxel, b0_dir, data_mask=valid_w, **options)

    clock.start("reference")
    ref_w = grid.crop(np.asarray(reference_mask, dtype=bool)) if reference == "mask" else None
    chi_w = subtract_reference(chi_w, brain_w, ref_w)
    timings = clock.stop()

    params = {
        "package_version": __version__,
        "te_s": list(te),
        "b0_tesla": float(b0_tesla),
        "voxel_size_mm": [float(v) for v in voxel],
        "b0_direction_voxel": [float(b) for b in b0_dir],
        "mask": "given" if mask is not None else "magnitude+phase-quality",
        "unwrap": unwrap,
        "echo_combination": "temporal-unwrap+weighted-fit" if unwrap == "path" and len(te) > 1 else "phase-difference",
        "field_noise_ppm": noise_ppm if np.isfinite(noise_ppm) else None,
        "background": background,
        "inversion": inversion,
        "single_step": single_step,
        "inversion_options": options,
        "reference": reference,
        "working_grid": list(grid.shape),
    }
    return QSMResult(
        chi=grid.uncrop(chi_w),
        mask=brain,
        total_field_ppm=grid.uncrop(total_w),
        local_field_ppm=grid.uncrop(local_w),
        timings=timings,
        params=params,
    )


class _StageClock:
    """Times consecutive stages and reports progress."""

    def __init__(self, progress: Progress | None):
        self._progress = progress
        self._timings: dict[str, float] = {}
        self._current: str | None = None
        self._since = 0.0

    def start(self, stage: str) -> None:
        self._close()
        self._current, self._since = stage, time.perf_counter()
        if self._progress is not None:
            done = sum(share for name, share in STAGES.items() if name in self._timings)
            self._progress(stage, round(done, 4))

    def stop(self) -> dict[str, float]:
        self._close()
        if self._progress is not None:
            self._progress("done", 1.0)
        return dict(self._timings)

    def _close(self) -> None:
        if self._current is not None:
            self._timings[self._current] = round(time.perf_counter() - self._since, 4)
            self._current = None


def _remove_background(method, total, brain, voxel, b0_dir, noise_ppm, weight, edges):
    if method == "fit":
        return bg.dipole_fit(total, brain, voxel, b0_dir, noise_ppm=noise_ppm, weight=weight, edge_weight=edges)
    if method == "vsharp":
        return bg.vsharp(total, brain, voxel)
    return bg.pdf(total, brain, voxel, b0_dir)


def _as_4d(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise ValueError(f"{name} must be (X, Y, Z) or (X, Y, Z, echoes), got shape {array.shape}")
    return array.astype(np.float32, copy=False)


def _validate(magnitude, phase, te_s, b0_tesla, affine, mask, reference, reference_mask) -> tuple[float, ...]:
    if magnitude.shape != phase.shape:
        raise ValueError(f"magnitude {magnitude.shape} and phase {phase.shape} differ in shape")
    if min(magnitude.shape[:3]) < 2:
        raise ValueError(f"3D data needed, got spatial shape {magnitude.shape[:3]}")
    te = tuple(float(t) for t in te_s)
    if len(te) != magnitude.shape[3]:
        raise ValueError(f"{len(te)} echo times for {magnitude.shape[3]} echoes")
    if te[0] <= 0 or any(b <= a for a, b in zip(te, te[1:])):
        raise ValueError(f"echo times must be positive and increasing, got {te}")
    if not b0_tesla or b0_tesla <= 0:
        raise ValueError(f"b0_tesla must be positive, got {b0_tesla}")
    if np.shape(affine) != (4, 4) or not np.isfinite(affine).all():
        raise ValueError("affine must be a finite 4x4 matrix")
    if not (np.isfinite(magnitude).all() and np.isfinite(phase).all()):
        raise ValueError("magnitude or phase contains NaN or infinity")
    if mask is not None and np.shape(mask) != magnitude.shape[:3]:
        raise ValueError(f"mask shape {np.shape(mask)} differs from the image {magnitude.shape[:3]}")
    if reference not in ("brain", "mask"):
        raise ValueError(f"unknown reference {reference!r}; choose 'brain' or 'mask'")
    if reference == "mask" and (reference_mask is None or np.shape(reference_mask) != magnitude.shape[:3]):
        raise ValueError("reference='mask' needs a reference_mask of the image shape")
    return te
