"""Background removal and dipole inversion on synthetic sources with known answers."""

import numpy as np
import pytest
from scipy import ndimage

from qsm import background, inversion
from qsm.dipole import forward_field
from qsm.metrics import nrmse

VOXEL = (1.5, 1.5, 1.5)
B0 = (0.0, 0.0, 1.0)


def coordinates(n=96):
    axis = (np.arange(n) - n / 2) * VOXEL[0]
    return np.meshgrid(axis, axis, axis, indexing="ij")


def ball(x, y, z, centre, radius):
    return (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= radius**2


@pytest.fixture(scope="module")
def brain():
    x, y, z = coordinates()
    mask = ball(x, y, z, (0, 0, 0), 45)
    chi = np.zeros(mask.shape, np.float32)
    chi[ball(x, y, z, (10, 5, 0), 8)] = 0.15
    chi[ball(x, y, z, (-15, -8, 10), 6)] = -0.08
    chi[ball(x, y, z, (0, 20, -12), 5)] = 0.3
    chi[mask & (np.sqrt(x**2 + y**2 + z**2) > 40)] += 0.03  # a surface ribbon
    return x, y, z, mask, chi


def air_pocket(x, y, z):
    """A 9 ppm air cavity below the brain, edges softened like partial volume."""
    pocket = ball(x, y, z, (0, 0, -62), 10).astype(np.float32) * 9.0
    return ndimage.gaussian_filter(pocket, 1.0)


def test_vsharp_removes_a_source_outside_the_mask(brain):
    x, y, z, mask, _ = brain
    outside = air_pocket(x, y, z)
    field = forward_field(outside, VOXEL, B0)
    local, valid = background.vsharp(field, mask, VOXEL)
    assert np.sqrt(np.mean(local[valid] ** 2)) < 0.05 * np.sqrt(np.mean(field[mask] ** 2))
    assert valid.sum() > 0.9 * mask.sum()  # only a thin rim is lost


@pytest.mark.parametrize("method", ["vsharp", "pdf"])
def test_background_removal_keeps_the_local_field(brain, method):
    x, y, z, mask, chi = brain
    local_true = forward_field(chi, VOXEL, B0) * mask
    outside = air_pocket(x, y, z)
    total = forward_field(outside, VOXEL, B0) + local_true
    if method == "vsharp":
        local, valid = background.vsharp(total, mask, VOXEL)
    else:
        local, valid = background.pdf(total, mask, VOXEL, B0)
    interior = valid & (np.sqrt(x**2 + y**2 + z**2) < 35)
    assert nrmse(np.where(interior, local, 0), np.where(interior, local_true, 0), interior) < 30
    # Up to the surface ribbon, where the truncated per-radius deconvolution scored 54 %.
    assert nrmse(local, np.where(valid, local_true, 0), valid) < 45


def test_dipole_fit_keeps_the_local_field_up_to_the_surface(brain):
    x, y, z, mask, chi = brain
    local_true = background.fitted_local_field(chi, mask, VOXEL, B0)
    total = forward_field(air_pocket(x, y, z), VOXEL, B0) + local_true
    local, valid = background.dipole_fit(total, mask, VOXEL, B0, noise_ppm=0.0)
    assert np.array_equal(valid, mask)  # nothing eroded
    surface = mask & (np.sqrt(x**2 + y**2 + z**2) > 40)  # the ribbon V-SHARP loses
    assert nrmse(local, local_true, mask) < 25
    assert nrmse(np.where(surface, local, 0), np.where(surface, local_true, 0), surface) < 35


def test_single_step_tv_recovers_chi_from_the_total_field_without_noise(brain):
    x, y, z, mask, chi = brain
    inside = np.where(mask, chi - chi[mask].mean(), 0).astype(np.float32)
    total = forward_field(air_pocket(x, y, z) + inside, VOXEL, B0)
    # a near-zero noise would give alpha ~ 0: the floor keeps ADMM stable
    estimate = inversion.single_step_tv(total, mask, VOXEL, B0, noise_ppm=1e-7)
    assert np.isfinite(estimate).all()
    assert nrmse(estimate, inside, mask) < 35


def test_single_step_tv_weight_follows_the_noise():
    quiet, noisy = inversion._noise_matched_alpha(0.002), inversion._noise_matched_alpha(0.006)
    assert noisy == pytest.approx(9 * quiet)
    assert inversion._noise_matched_alpha(1e-6) == inversion.MIN_SINGLE_STEP_ALPHA
    assert inversion._noise_matched_alpha(float("nan")) == inversion.SINGLE_STEP_ALPHA


@pytest.mark.parametrize("method, limit", [("tkd", 45), ("iswim", 45), ("tv", 35)])
def test_inversion_round_trip(brain, method, limit):
    _, _, _, mask, chi = brain
    field = forward_field(chi, VOXEL, B0) * mask
    estimate = inversion.INVERSIONS[method](field, mask, VOXEL, B0)
    assert estimate.dtype == np.float32
    assert nrmse(estimate, chi, mask) < limit


def test_tv_fills_voxels_without_field_data(brain):
    x, y, z, mask, chi = brain
    field = forward_field(chi, VOXEL, B0) * mask
    data = mask & (np.sqrt(x**2 + y**2 + z**2) < 42)
    estimate = inversion.tv(field, mask, VOXEL, B0, data_mask=data)
    rim, core = mask & ~data, data & (chi == 0)
    recovered = estimate[rim].mean() - estimate[core].mean()
    # About half of the 0.03 ppm ribbon (0.015 ppm at the default alpha), with no field data there.
    assert 0.4 * 0.03 < recovered < 1.5 * 0.03


def test_iswim_extends_the_cortex_into_the_eroded_rim(brain):
    x, y, z, mask, chi = brain
    field = forward_field(chi, VOXEL, B0) * mask
    data = mask & (np.sqrt(x**2 + y**2 + z**2) < 42)
    rim, core = mask & ~data, data & (chi == 0)
    recovered = {}
    for window in (0, 5):
        estimate = inversion.iswim(field, mask, VOXEL, B0, data_mask=data, rim_window=window)
        recovered[window] = estimate[rim].mean() - estimate[core].mean()
    assert recovered[0] < 0.2 * 0.03  # left to the inversion, the rim loses the ribbon
    assert 0.5 * 0.03 < recovered[5] < 1.5 * 0.03
    with pytest.raises(ValueError):
        inversion.iswim(field, mask, VOXEL, B0, rim_window=-1)


def test_inversions_reject_bad_thresholds(brain):
    _, _, _, mask, chi = brain
    for method in ("tkd", "iswim"):
        with pytest.raises(ValueError):
            inversion.INVERSIONS[method](chi, mask, VOXEL, B0, threshold=0.9)
