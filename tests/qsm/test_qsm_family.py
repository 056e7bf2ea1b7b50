"""The phantom family's conventions: sign, units, B0 tilt, shim, drop-out, anatomy variation, scoring.

Small grids (2-3 mm) so these run in the default suite; the accuracy sweeps are
in test_qsm_accuracy.py.
"""

import functools
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage

from qsm import reconstruct
from qsm.dipole import GAMMA_BAR_HZ_PER_T, forward_field
from qsm.family import TIERS, cases, forward_case, own_case, score
from qsm.inputs import b0_direction
from qsm.metrics import nrmse
from qsm.phantom import Anatomy, head_model, local_field, shim_fit, simulate_head, slab_affine

SMALL = dict(voxel_size_mm=2.0, matrix=(84, 90, 84), te_ms=(4, 12, 20, 28), seed=5)


@functools.cache
def small_head(**options):
    return simulate_head(**SMALL, **options)


def sphere_scan(tilt_deg=0.0, chi_ppm=0.5):
    """Noise-free 2 mm scan of a 10 mm-radius sphere of ``chi_ppm`` in water, B0 tilted about R-L."""
    shape, voxel = (64, 64, 64), (2.0, 2.0, 2.0)
    b0_dir = np.array([0.0, np.sin(np.deg2rad(tilt_deg)), np.cos(np.deg2rad(tilt_deg))])
    index = np.indices(shape).transpose(1, 2, 3, 0) - 31.5
    radius_mm = np.linalg.norm(index * 2.0, axis=-1)
    chi = np.where(radius_mm <= 10.0, chi_ppm, 0.0).astype(np.float32)
    field = forward_field(np.pad(chi, 32), voxel, b0_dir)[32:-32, 32:-32, 32:-32]
    te = np.array([0.004, 0.008, 0.012])
    phase = 2 * np.pi * GAMMA_BAR_HZ_PER_T * 3.0 * 1e-6 * field[..., None] * te
    return SimpleNamespace(chi=chi, field=field, b0_dir=b0_dir, te=te, phase=np.angle(np.exp(1j * phase)),
                           magnitude=np.ones(phase.shape, np.float32), mask=radius_mm <= 50.0,
                           affine=slab_affine(shape, voxel, tilt_deg), centre=np.array([31.5, 31.5, 31.5]))


def test_a_paramagnetic_sphere_gives_positive_phase_and_positive_chi_in_ppm():
    scan = sphere_scan()
    pole = tuple(np.round(scan.centre + 7.0 * scan.b0_dir).astype(int))  # 14 mm along B0
    assert scan.phase[pole][0] > 0
    result = reconstruct(scan.magnitude, scan.phase.astype(np.float32), scan.te, 3.0, scan.affine,
                         mask=scan.mask, inversion="tkd")
    inside = ndimage.binary_erosion(scan.chi > 0, iterations=1)
    assert result.chi[inside].mean() == pytest.approx(0.5, rel=0.3)  # ppm in, ppm out


def test_qsm_forward_has_our_field_and_phase_sign():
    qf = pytest.importorskip("qsm_forward.qsm_forward")
    scan = sphere_scan(tilt_deg=25.0)
    theirs = qf.generate_field(scan.chi.astype(np.float64), None, voxel_size=[2.0, 2.0, 2.0], B0_dir=scan.b0_dir)
    assert np.corrcoef(theirs.ravel(), scan.field.ravel())[0, 1] > 0.99
    signal = qf.generate_signal(theirs, B0=3.0, TE=0.004, R2star=0.0, M0=1.0)
    pole = tuple(np.round(scan.centre + 7.0 * scan.b0_dir).astype(int))
    equator = tuple(np.round(scan.centre + 7.0 * np.cross(scan.b0_dir, [1.0, 0.0, 0.0])).astype(int))
    assert np.angle(signal[pole]) > 0 > np.angle(signal[equator])


@pytest.mark.parametrize("voxel", [(2.0, 2.0, 2.0), (0.75, 0.75, 1.2), (1.0, 1.0, 2.0)])
def test_b0_tilt_is_recovered_from_the_affine(voxel):
    for tilt in (0.0, 18.0, 25.0):
        expected = [0.0, np.sin(np.deg2rad(tilt)), np.cos(np.deg2rad(tilt))]
        assert np.allclose(b0_direction(slab_affine((100, 110, 90), voxel, tilt)), expected)
    head = small_head(b0_tilt_deg=25.0)
    assert np.allclose(b0_direction(head.affine), head.b0_dir)


def test_shim_removal_changes_the_total_field_not_the_local_field():
    plain, shimmed = small_head(), small_head(shim_order=2)
    brain = plain.brain_mask
    assert np.array_equal(plain.local_field_ppm, shimmed.local_field_ppm)
    removed = plain.total_field_ppm - shimmed.total_field_ppm
    assert np.allclose(removed, shim_fit(plain.total_field_ppm, brain, plain.voxel_size, 2), atol=1e-5)
    # what the shim removes is harmonic (a coil field): no Laplacian, hence no fake local field
    interior = ndimage.binary_erosion(brain, iterations=2)
    assert np.abs(ndimage.laplace(removed.astype(np.float64))[interior]).max() < 1e-5
    assert shimmed.total_field_ppm[brain].std() < plain.total_field_ppm[brain].std()


def test_intravoxel_dephasing_drops_late_echo_signal_next_to_the_sinuses_only():
    plain, dephased = small_head(), small_head(dephasing=True)
    # soft tissue and bone within 4 mm of the air cavities inside the head
    cavities = (plain.labels == 0) & ndimage.binary_fill_holes(plain.labels > 0)
    near = ndimage.binary_dilation(cavities, iterations=2) & (plain.labels > 0)
    deep = ndimage.binary_erosion(plain.brain_mask, iterations=10)
    late = dephased.magnitude[..., -1] / np.maximum(plain.magnitude[..., -1], 1e-6)
    first = dephased.magnitude[..., 0] / np.maximum(plain.magnitude[..., 0], 1e-6)
    assert np.median(late[near]) < 0.8 < np.median(first[near])
    assert np.median(late[deep]) > 0.97  # background gradients cost deep brain ~1 % at 28 ms, 2 mm


def test_anatomy_varies_with_its_seed_within_the_documented_ranges():
    assert Anatomy.varied(11) == Anatomy.varied(11) != Anatomy.varied(12)
    for seed in (11, 12, 13):
        anatomy = Anatomy.varied(seed, sulci=True)
        assert 2.5 <= anatomy.cortex_mm <= 3.5 and abs(anatomy.motor_y_mm + 12.0) <= 4.0
        assert np.all(np.abs(np.subtract(anatomy.brain, Anatomy().brain)) <= 4.0)
        assert all(0.8 <= factor <= 1.2 for _, factor in anatomy.chi_factor)
        assert len(anatomy.sulci) == 44
        assert all(1.0 <= s.width_mm <= 2.0 and 10.0 <= s.depth_mm <= 15.0 for s in anatomy.sulci)


def test_sulci_put_csf_inside_the_brain_next_to_the_motor_and_control_bands():
    plain, folded = small_head(), small_head(sulci=True)
    brain = plain.brain_mask
    assert ((folded.labels == 3) & brain).sum() > 1.5 * ((plain.labels == 3) & brain).sum()
    csf = ndimage.binary_dilation(folded.labels == 3) & brain
    for roi in ("LMC", "RMC", "LCT", "RCT"):
        region = folded.rois[roi]
        assert region.sum() > 50 and (region & csf).sum() > 0.1 * region.sum()


def test_the_default_phantom_ignores_the_new_options_when_off():
    head = small_head()
    assert set(head.params) == {"voxel_size_mm", "matrix", "b0_tesla", "te_ms", "peak_snr", "motor_extra_ppm",
                                "b0_tilt_deg", "seed"}
    with pytest.raises(ValueError, match="shim_order"):
        simulate_head(**SMALL, shim_order=3)


def test_tiers_name_distinct_unseen_cases_and_filter_by_pattern():
    for tier, specs in TIERS.items():
        names = [spec.name for spec in specs]
        assert len(set(names)) == len(names)
        assert {spec.source for spec in specs} == {"own", "qsm-forward"}
        assert all(spec.params["seed"] > 3 for spec in specs)
        assert any(spec.tilt_deg >= 25 for spec in specs if spec.source == "own")
    assert all(spec.tilt_deg > 0 for spec in cases("test", "*tilt*"))
    with pytest.raises(ValueError, match="unknown tier"):
        cases("huge")
    with pytest.raises(ValueError, match="no test case"):
        cases("test", "nothing-*")


def test_score_of_the_truth_is_perfect_and_qsm_ci_agrees_on_nrmse():
    pytest.importorskip("qsm_ci")
    case = own_case("small", voxel_size_mm=2.0, seed=11, te_ms=(4, 12, 20))
    perfect = score(case, SimpleNamespace(chi=case.chi, local_field_ppm=case.local_field_ppm))
    assert perfect["nrmse_pct"] == pytest.approx(0, abs=1e-4) and perfect["contrast_recovery"] == pytest.approx(1)
    assert perfect["local_nrmse_pct"] == pytest.approx(0, abs=1e-4) and perfect["local_defined_share"] == 1
    noisy = case.chi + np.random.default_rng(0).normal(0, 0.02, case.chi.shape).astype(np.float32)
    row = score(case, SimpleNamespace(chi=noisy, local_field_ppm=case.local_field_ppm))
    assert row["qsmci_nrmse"] == pytest.approx(row["nrmse_pct"], rel=1e-6)
    assert all(abs(row[f"bias_ppb_{roi}"]) < 5 for roi in ("LMC", "RMC", "LCT", "RCT"))


@functools.cache
def coarse_forward_case():
    """qsm-forward case, 2 mm model grid acquired at 3 mm, B0 tilted 18 degrees (seconds)."""
    return forward_case("coarse", model_voxel_mm=2.0, voxel_size_mm=3.0, seed=21, tilt_deg=18.0, peak_snr=100)


def test_a_coarse_qsm_forward_case_is_consistent():
    pytest.importorskip("qsm_forward")
    case = coarse_forward_case()
    assert case.magnitude.shape == case.chi.shape + (4,) == case.mask.shape + (4,)
    assert np.allclose(b0_direction(case.affine), [0, np.sin(np.deg2rad(18)), np.cos(np.deg2rad(18))])
    assert all(case.rois[roi].sum() > 10 and (case.rois[roi] <= case.mask).all() for roi in case.rois)
    assert 0.0 < case.chi[case.rois["LMC"]].mean() - case.chi[case.rois["LCT"]].mean() < 0.1
    with pytest.raises(ValueError, match="coarser"):
        forward_case("bad", model_voxel_mm=3.0, voxel_size_mm=2.0, seed=21)


def test_qsm_forward_truth_is_the_model_chi_band_limited_and_the_field_of_it():
    qf = pytest.importorskip("qsm_forward.qsm_forward")
    same = forward_case("same", model_voxel_mm=3.0, voxel_size_mm=3.0, seed=21)
    model = head_model(3.0, same.chi.shape, Anatomy.varied(21, sulci=True))
    assert np.array_equal(same.chi, model.chi) and np.array_equal(same.mask, model.brain_mask)
    # the truth local field is the field of the truth chi on the acquired grid, which qsm-forward's own
    # kernel (D(0) = 1/3, chi not demeaned, then the field demeaned over the mask) reproduces
    case = coarse_forward_case()
    theirs = qf.generate_field(case.chi.astype(np.float64) * case.mask, case.mask, voxel_size=case.voxel_size,
                               B0_dir=b0_direction(case.affine))
    assert nrmse(case.local_field_ppm, theirs, case.mask) < 10.0
    expected = local_field(case.chi, case.mask, case.voxel_size, b0_direction(case.affine))
    assert np.allclose(case.local_field_ppm, expected, atol=1e-6)
