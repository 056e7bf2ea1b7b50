"""Multi-echo combination: temporal unwrapping and a weighted fit of phase against TE.

Following the ISMRM QSM consensus [1]_, echoes are combined *before*
background removal by fitting the phase evolution over TE.  The pipeline:

1. ``phase_step``: the complex echo-to-echo phase difference, magnitude
   weighted over all echo pairs when the spacing is uniform, which cancels the
   receive phase offset at TE = 0 and wraps far less than any single echo.
2. That one image is unwrapped spatially (:mod:`qsm.unwrap`).
3. ``temporal_unwrap``: each echo's phase relative to echo 1 is resolved to the
   2 pi multiple closest to the rate predicted from the echoes already resolved.
4. ``fit_field``: weighted least squares of phase against TE *with an
   intercept* (weights = squared magnitude, the inverse phase variance), giving
   the field in rad/s, converted to ppm by ``field_ppm = rate / (2 pi gamma_bar B0) 1e6``.

``field_rate`` does steps 3 and 4 at once on the mask's voxels, of any grid,
without the 4D intermediate.

Phase convention: ``phi(TE) = phi0 + 2 pi gamma_bar B0 delta TE``, so a positive
field (paramagnetic source along B0) gives increasing phase.  Data with the
opposite vendor convention must be negated before the call.

References
----------
.. [1] QSM Consensus Organization Committee; Bilgic B, Costagli M, et al.
   Recommended implementation of quantitative susceptibility mapping for
   clinical research in the brain: a consensus of the ISMRM electro-magnetic
   tissue properties study group. Magn Reson Med 2024;91:1834-1862.
.. [2] Robinson SD, Bredies K, Khabipova D, Dymerska B, Marques JP, Schweser F.
   An illustrated comparison of processing methods for MR phase imaging and
   QSM: combining array coil signals and phase unwrapping. NMR Biomed
   2017;30:e3601.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .dipole import GAMMA_BAR_HZ_PER_T
from .grid import slabs


def is_uniform(te_s: Sequence[float], tolerance: float = 0.01) -> bool:
    """True when successive echo spacings agree within ``tolerance`` (relative)."""
    steps = np.diff(te_s)
    return len(steps) > 0 and bool(np.all(np.abs(steps - steps[0]) <= tolerance * steps[0]))


def phase_step(magnitude: np.ndarray, phase: np.ndarray, te_s: Sequence[float]) -> tuple[np.ndarray, float]:
    """Wrapped phase accrued over one echo spacing, and that spacing in seconds.

    Parameters
    ----------
    magnitude, phase : ndarray
        (X, Y, Z, E), phase in radians, at least two echoes.
    te_s : sequence of float
        Increasing echo times, s.

    Returns
    -------
    step : ndarray
        float32 wrapped phase difference, radians, over ``dte``.
    dte : float
        Echo spacing the step refers to (TE2 - TE1), s.
    """
    if phase.shape[-1] < 2:
        raise ValueError("the echo-difference phase needs at least two echoes")
    pairs = range(phase.shape[-1] - 1) if is_uniform(te_s) else range(1)
    step = np.empty(phase.shape[:3], dtype=np.float32)
    for slab in slabs(phase.shape):
        step[slab] = _weighted_step(magnitude[slab], phase[slab], pairs)
    return step, float(te_s[1] - te_s[0])


def _weighted_step(magnitude: np.ndarray, phase: np.ndarray, pairs: range) -> np.ndarray:
    """:func:`phase_step` of one slab: angle of the weighted sum of echo-pair phasors."""
    real = np.zeros(phase.shape[:3], dtype=np.float32)
    imag = np.zeros(phase.shape[:3], dtype=np.float32)
    for e in pairs:
        weight = magnitude[..., e] * magnitude[..., e + 1]
        difference = phase[..., e + 1] - phase[..., e]
        real += np.cos(difference) * weight
        imag += np.sin(difference, out=difference) * weight
    return np.arctan2(imag, real, out=imag)


def temporal_unwrap(
    phase: np.ndarray,
    magnitude: np.ndarray,
    te_s: Sequence[float],
    rate: np.ndarray,
    mask: np.ndarray,
) -> np.ndarray:
    """Echo phases relative to echo 1, free of temporal wraps.

    Parameters
    ----------
    phase, magnitude : ndarray
        (X, Y, Z, E) wrapped phase (radians) and magnitude.
    te_s : sequence of float
        Echo times, s.
    rate : ndarray
        Initial phase rate, rad/s, from the unwrapped echo-difference phase.
    mask : ndarray of bool
        Voxels to process (others are 0).

    Returns
    -------
    ndarray
        float32 (X, Y, Z, E) unwrapped ``phi_e - phi_1`` (echo 1 is 0).
    """
    resolved = _resolve_rows(_echo_rows(phase, mask), _echo_rows(magnitude, mask), te_s, rate[mask])
    out = np.zeros(phase.shape, dtype=np.float32)
    for e, row in enumerate(resolved):
        out[..., e][mask] = row
    return out


def fit_field(
    unwrapped: np.ndarray, magnitude: np.ndarray, te_s: Sequence[float], mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted linear fit ``phi_e = a + rate * TE_e`` per voxel.

    Parameters
    ----------
    unwrapped : ndarray
        (X, Y, Z, E) temporally consistent phase, radians.
    magnitude : ndarray
        (X, Y, Z, E); weights are ``magnitude**2``.
    te_s : sequence of float
        Echo times, s.
    mask : ndarray of bool
        Voxels to fit.

    Returns
    -------
    rate : ndarray
        float32 phase rate, rad/s (0 outside ``mask``).
    residual : ndarray
        float32 weighted RMS fit residual, radians, a phase-quality measure.
    """
    slope, residual, _ = _fit_rows(_echo_rows(unwrapped, mask), _echo_rows(magnitude, mask), te_s)
    rate, quality = np.zeros(mask.shape, np.float32), np.zeros(mask.shape, np.float32)
    rate[mask], quality[mask] = slope, residual
    return rate, quality


def field_noise_ppm(rate_error: np.ndarray, b0_tesla: float, mask: np.ndarray) -> float:
    """Median standard error (ppm) of the fitted field over ``mask``.

    Parameters
    ----------
    rate_error : ndarray
        Standard error of the fitted rate, rad/s (:func:`field_rate`); NaN
        with fewer than three echoes.
    b0_tesla : float
        Field strength, T.
    mask : ndarray of bool

    Returns
    -------
    float
        NaN when the error is unknown.
    """
    errors = rate_error[mask]
    if not np.isfinite(errors).any():
        return float("nan")
    return float(np.median(rate_to_ppm(errors, b0_tesla)))


def fit_weight(residual: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Inverse-variance data weight from the echo-fit residual, 1 at or below the median.

    Voxels whose phase does not follow a line in TE (unwrapping errors, signal
    voids, intravoxel dephasing, steep fields at the brain edge) weigh
    ``(median / residual)^2``.

    Parameters
    ----------
    residual : ndarray
        Weighted RMS residual from :func:`fit_field`, radians.
    mask : ndarray of bool

    Returns
    -------
    ndarray
        float32 in [0, 1], zero outside ``mask``.
    """
    typical = np.float32(np.median(residual[mask]))
    weight = np.minimum(1.0, (typical / np.maximum(residual, 1e-12)) ** 2).astype(np.float32)
    return np.where(mask, weight, 0).astype(np.float32)


def field_rate(
    phase: np.ndarray, magnitude: np.ndarray, te_s: Sequence[float], rate: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """``fit_field(temporal_unwrap(...))``, without the (X, Y, Z, E) intermediate.

    Only the mask's voxels are read, so the inputs can be the full-grid
    arrays: no cropped 4D copy of magnitude and phase is needed.

    Parameters
    ----------
    phase, magnitude, te_s, rate, mask
        As for :func:`temporal_unwrap`, on one grid.

    Returns
    -------
    rate, residual : ndarray
        As returned by :func:`fit_field`.
    rate_error : ndarray
        float32 standard error of ``rate``, rad/s: the slope of a weighted line
        through ``E`` echoes has variance ``sigma_phi^2 / spread``, with
        ``sigma_phi`` estimated from the residual with ``E - 2`` degrees of
        freedom; NaN with fewer than three echoes (no residual).
    """
    weights = _echo_rows(magnitude, mask)
    slope, residual, spread = _fit_rows(_resolve_rows(_echo_rows(phase, mask), weights, te_s, rate[mask]), weights, te_s)
    echoes = len(te_s)
    error = residual * np.sqrt(echoes / (echoes - 2)) / np.sqrt(spread) if echoes >= 3 else np.nan
    fitted, quality, uncertainty = (np.zeros(mask.shape, np.float32) for _ in range(3))
    fitted[mask], quality[mask], uncertainty[mask] = slope, residual, error
    return fitted, quality, uncertainty


def _echo_rows(volume: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(echoes, voxels) float32 copy of ``volume``'s (X, Y, Z, E) values in ``mask``.

    Echo by echo, so each row is contiguous for the per-echo arithmetic.
    """
    rows = np.empty((volume.shape[-1], np.count_nonzero(mask)), dtype=np.float32)
    for e, row in enumerate(rows):
        row[:] = volume[..., e][mask]
    return rows


def _resolve_rows(phases: np.ndarray, weights: np.ndarray, te_s: Sequence[float], rate: np.ndarray) -> np.ndarray:
    """:func:`temporal_unwrap` on :func:`_echo_rows`; ``phases`` is overwritten and returned."""
    te = np.asarray(te_s, dtype=np.float64)
    ref = phases[0].copy()
    rate = rate.astype(np.float64)
    weight_sum = np.zeros(ref.size)
    weighted_num = np.zeros(ref.size)
    for e in range(1, len(te)):
        dt = te[e] - te[0]
        measured = phases[e] - ref
        resolved = measured - 2 * np.pi * np.round((measured - rate * dt) / (2 * np.pi))
        phases[e] = resolved
        w = weights[e].astype(np.float64) ** 2 * dt**2
        weighted_num += w * resolved / dt
        weight_sum += w
        rate = np.divide(weighted_num, weight_sum, out=rate, where=weight_sum > 0)
    phases[0] = 0
    return phases


def _fit_rows(
    phi: np.ndarray, magnitude: np.ndarray, te_s: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fit_field` on :func:`_echo_rows`: float64 slope, residual and TE spread per voxel.

    The spread is ``sum_e w_e (TE_e - TE_w)^2`` with normalised weights ``w``,
    the denominator of the slope's variance.

    The sums over echoes add one float64 row at a time, in the order a sum
    over the echo axis takes, instead of building (voxels, echoes) float64
    temporaries.
    """
    te = np.asarray(te_s, dtype=np.float64)
    echoes = range(len(te))
    weight = [magnitude[e].astype(np.float64) ** 2 + 1e-30 for e in echoes]

    def column(e: int) -> np.ndarray:
        return phi[e].astype(np.float64)

    sw = sum(weight[1:], weight[0])
    te_mean = _echo_sum(weight[e] * te[e] for e in echoes) / sw
    phi_mean = _echo_sum(weight[e] * column(e) for e in echoes) / sw
    slope = _echo_sum(weight[e] * (te[e] - te_mean) * (column(e) - phi_mean) for e in echoes)
    spread = np.maximum(_echo_sum(weight[e] * (te[e] - te_mean) ** 2 for e in echoes), 1e-30)
    slope /= spread
    spread /= sw
    if len(te) == 1:
        slope = column(0) / te[0]  # one echo: no intercept can be fitted
    misfit = _echo_sum(weight[e] * ((column(e) - phi_mean) - slope * (te[e] - te_mean)) ** 2 for e in echoes)
    return slope, np.sqrt(misfit / sw, out=misfit), spread


def _echo_sum(terms) -> np.ndarray:
    """Sum of per-echo arrays, added left to right into the first."""
    terms = iter(terms)
    total = next(terms)
    for term in terms:
        total += term
    return total


def rate_to_ppm(rate: np.ndarray, b0_tesla: float) -> np.ndarray:
    """Convert a phase rate in rad/s to a relative field shift in ppm (float32)."""
    ppm = np.divide(rate, 2 * np.pi * GAMMA_BAR_HZ_PER_T * b0_tesla, dtype=np.float32)
    ppm *= np.float32(1e6)
    return ppm
