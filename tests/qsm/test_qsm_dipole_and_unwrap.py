"""Forward model against the analytic sphere; unwrapping and echo fit on known fields."""

import numpy as np
import pytest

from qsm import echo
from qsm.dipole import GAMMA_BAR_HZ_PER_T, dipole_kernel, forward_field
from qsm.unwrap import unwrap_laplacian, unwrap_path


def grid(n):
    axis = np.arange(n) - n / 2
    return np.meshgrid(axis, axis, axis, indexing="ij")


@pytest.mark.parametrize("b0_dir", [(0, 0, 1), (0, np.sin(0.5), np.cos(0.5))])
def test_sphere_field_matches_analytic_dipole(b0_dir):
    n, radius, chi = 128, 8.0, 1.0
    x, y, z = grid(n)
    sphere = (x**2 + y**2 + z**2 <= radius**2).astype(np.float32) * chi
    field = forward_field(sphere, (1.0, 1.0, 1.0), b0_dir)

    r = np.sqrt(x**2 + y**2 + z**2)
    b = np.asarray(b0_dir) / np.linalg.norm(b0_dir)
    cos = (x * b[0] + y * b[1] + z * b[2]) / np.maximum(r, 1e-9)
    analytic = chi * radius**3 / (3 * np.maximum(r, 1e-9) ** 3) * (3 * cos**2 - 1)

    outside = (r >= 1.5 * radius) & (r <= 3 * radius)
    error = np.abs(field[outside] - analytic[outside]).max()
    assert error < 0.03 * chi, error  # peak of the outside field is 2/3 * chi
    inside = r <= 0.6 * radius
    assert np.abs(field[inside]).max() < 0.03 * chi  # Lorentz-corrected: no field inside


def test_dipole_kernel_rejects_zero_direction():
    with pytest.raises(ValueError):
        dipole_kernel((8, 8, 8), (1, 1, 1), (0, 0, 0))


def smooth_field(n=64):
    x, y, z = grid(n)
    return (25 * np.exp(-(x**2 + 1.5 * y**2 + z**2) / (2 * 12.0**2)) + 0.15 * x).astype(np.float32), x, y, z


def test_path_unwrapping_is_exact_on_a_wrapped_smooth_field():
    truth, x, y, z = smooth_field()
    mask = x**2 + y**2 + z**2 < 28**2
    wrapped = np.angle(np.exp(1j * truth)).astype(np.float32)
    assert np.abs(wrapped - truth)[mask].max() > 10  # really wrapped
    unwrapped = unwrap_path(wrapped, mask)
    offset = (unwrapped - truth)[mask]
    assert np.allclose(offset, offset[0], atol=1e-4)
    assert np.isclose(offset[0] / (2 * np.pi), np.round(offset[0] / (2 * np.pi)), atol=1e-4)


def test_laplacian_unwrapping_recovers_a_compact_field():
    x, y, z = grid(64)
    truth = (25 * np.exp(-(x**2 + y**2 + z**2) / (2 * 8.0**2))).astype(np.float32)
    mask = np.ones(truth.shape, bool)
    unwrapped = unwrap_laplacian(np.angle(np.exp(1j * truth)).astype(np.float32), mask, (1, 1, 1))
    difference = unwrapped - truth
    assert np.abs(difference - difference.mean()).max() < 0.05


def test_temporal_unwrap_and_weighted_fit_recover_field_despite_phase_offset():
    field_ppm, x, y, z = smooth_field(32)
    field_ppm = field_ppm / 40  # up to ~0.7 ppm: many wraps at late echoes
    te = (0.004, 0.010, 0.016, 0.022, 0.028)
    omega = 2 * np.pi * GAMMA_BAR_HZ_PER_T * 3.0 * 1e-6
    offset = 2.0 + 0.05 * x
    rng = np.random.default_rng(0)
    phase = np.stack([np.angle(np.exp(1j * (offset + omega * field_ppm * t))) for t in te], -1).astype(np.float32)
    magnitude = rng.uniform(0.5, 1.0, phase.shape).astype(np.float32)
    mask = np.ones(field_ppm.shape, bool)

    step, dte = echo.phase_step(magnitude, phase, te)
    rate = unwrap_path(step, mask) / dte
    rate -= 2 * np.pi * np.round((rate - omega * field_ppm).mean() * dte / (2 * np.pi)) / dte
    relative = echo.temporal_unwrap(phase, magnitude, te, rate, mask)
    fitted, residual = echo.fit_field(relative, magnitude, te, mask)
    assert np.allclose(echo.rate_to_ppm(fitted, 3.0), field_ppm, atol=1e-4)
    assert residual.max() < 1e-3
    assert np.array_equal(echo.field_rate(phase, magnitude, te, rate, mask)[0], fitted)


def test_uniform_spacing_detection():
    assert echo.is_uniform([0.004, 0.010, 0.016])
    assert not echo.is_uniform([0.004, 0.010, 0.020])
