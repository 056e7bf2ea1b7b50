"""ROI placement, grid checks and statistics against hand-computed values."""
import numpy as np
import pytest

from qsm.inputs import check_same_grid
from qsm.roi import roi_statistics, sphere_mask


def test_statistics_match_hand_computed_values():
    chi = np.zeros((3, 3, 1), dtype=np.float32)
    chi[:, :, 0] = [[0.010, 0.020, 0.030], [0.040, 0.050, 0.060], [0.0, 0.0, 0.0]]
    mask = chi > 0  # six voxels: 10..60 ppb
    stats = roi_statistics(chi, mask)
    assert stats["voxels"] == 6
    assert stats["mean"] == pytest.approx(35.0, abs=1e-4)
    assert stats["median"] == pytest.approx(35.0, abs=1e-4)
    # sample SD of 10,20,...,60 = sqrt(sum((x-35)^2)/5) = sqrt(1750/5)
    assert stats["sd"] == pytest.approx(np.sqrt(350.0), abs=1e-3)
    # linear-interpolation percentiles of 6 sorted values: position p*(n-1)
    assert stats["q1"] == pytest.approx(10 + 1.25 * 10, abs=1e-4)
    assert stats["q3"] == pytest.approx(10 + 3.75 * 10, abs=1e-4)
    assert stats["p5"] == pytest.approx(10 + 0.25 * 10, abs=1e-4)
    assert stats["p95"] == pytest.approx(10 + 4.75 * 10, abs=1e-4)


def test_an_empty_roi_has_no_statistics():
    stats = roi_statistics(np.ones((2, 2, 2)), np.zeros((2, 2, 2), bool))
    assert stats["voxels"] == 0 and stats["mean"] is None


def test_a_single_voxel_has_no_sd():
    mask = np.zeros((2, 2, 2), bool)
    mask[0, 0, 0] = True
    assert roi_statistics(np.full((2, 2, 2), 0.02), mask)["sd"] is None


def oblique_affine():
    angle = np.deg2rad(25)
    rot = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([0.8, 1.0, 1.5])
    affine[:3, 3] = [-20.0, 10.0, 5.0]
    return affine


def test_sphere_placement_in_ras_on_an_oblique_grid():
    shape, affine = (60, 60, 40), oblique_affine()
    centre_vox = np.array([30.0, 28.0, 17.0])
    centre_ras = (affine @ np.r_[centre_vox, 1])[:3]
    mask = sphere_mask(shape, affine, centre_ras, radius_mm=6.0)
    # Brute force over every voxel: distance of its RAS centre from the sphere centre.
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).reshape(-1, 3)
    ras = ijk @ affine[:3, :3].T + affine[:3, 3]
    expected = (np.linalg.norm(ras - centre_ras, axis=1) <= 6.0).reshape(shape)
    np.testing.assert_array_equal(mask, expected)
    assert mask[30, 28, 17]
    # volume close to 4/3 pi r^3 over the voxel volume
    assert mask.sum() * 0.8 * 1.0 * 1.5 == pytest.approx(4 / 3 * np.pi * 6.0**3, rel=0.1)


def test_a_sphere_outside_the_grid_is_empty():
    assert not sphere_mask((10, 10, 10), np.eye(4), (500, 0, 0), 3).any()


def test_bad_sphere_arguments_are_refused():
    with pytest.raises(ValueError, match="radius must be positive"):
        sphere_mask((4, 4, 4), np.eye(4), (0, 0, 0), 0)


def test_the_same_grid_passes():
    check_same_grid((60, 60, 40), oblique_affine(), (60, 60, 40), oblique_affine(), "rois.nii.gz", "the scan")


def test_a_flipped_mask_is_refused_with_the_axis_named():
    flipped = oblique_affine()
    flipped[:3, 0] *= -1
    with pytest.raises(ValueError, match="flipped along voxel axis i"):
        check_same_grid((60, 60, 40), flipped, (60, 60, 40), oblique_affine(), "rois.nii.gz", "the scan")


def test_a_different_grid_is_refused():
    with pytest.raises(ValueError, match=r"grid 60x60x41 differs from the scan \(60x60x40\)"):
        check_same_grid((60, 60, 41), oblique_affine(), (60, 60, 40), oblique_affine(), "rois.nii.gz", "the scan")
    shifted = oblique_affine()
    shifted[0, 3] += 2.0
    with pytest.raises(ValueError, match="affine"):
        check_same_grid((60, 60, 40), shifted, (60, 60, 40), oblique_affine(), "rois.nii.gz", "the scan")
