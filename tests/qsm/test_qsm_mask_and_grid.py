"""The box and slab shortcuts of the mask, unwrapping and grid helpers give the full-array results."""

import numpy as np
from scipy import ndimage
from skimage.restoration import unwrap_phase

from qsm.grid import bounding_box, slabs
from qsm.mask import _fill_holes
from qsm.unwrap import unwrap_path


def blobs(shape=(40, 44, 36), seed=0):
    noise = np.random.default_rng(seed).standard_normal(shape)
    return ndimage.gaussian_filter(noise, 2) > 0.05


def test_fill_holes_matches_scipy():
    x, y, z = np.ogrid[:40, :44, :36]
    radius = np.sqrt((x - 20) ** 2 + (y - 22) ** 2 + (z - 18) ** 2)
    mask = blobs() & (radius > 12) | (radius > 8) & (radius < 10)  # a shell with holes in it and around it
    assert not np.array_equal(ndimage.binary_fill_holes(mask), mask)
    assert np.array_equal(_fill_holes(mask), ndimage.binary_fill_holes(mask))


def test_bounding_box_margin_clip_and_alignment():
    mask = np.zeros((20, 20, 20), bool)
    mask[5:9, 0:3, 17] = True
    assert bounding_box(mask) == (slice(5, 9), slice(0, 3), slice(17, 18))
    assert bounding_box(mask, margin=2, align=2) == (slice(2, 11), slice(0, 5), slice(14, 20))


def test_slabs_cover_the_first_axis_once():
    covered = np.concatenate([np.arange(50)[s] for s in slabs((50, 64, 64), voxels=3 * 64 * 64)])
    assert np.array_equal(covered, np.arange(50))


def test_path_unwrapping_on_the_box_equals_the_whole_array():
    x, y, z = np.meshgrid(*(np.arange(n) - n / 2 for n in (40, 44, 36)), indexing="ij")
    truth = 0.02 * (x**2 + y**2) + 0.3 * z + np.random.default_rng(1).normal(0, 0.3, x.shape)
    wrapped = np.angle(np.exp(1j * truth)).astype(np.float32)
    mask = (x / 15) ** 2 + (y / 18) ** 2 + (z / 30) ** 2 < 1  # touches the z borders
    whole = np.ma.getdata(unwrap_phase(np.ma.array(wrapped.astype(np.float64), mask=~mask), rng=0))
    assert np.array_equal(unwrap_path(wrapped, mask), np.where(mask, whole, 0).astype(np.float32))
