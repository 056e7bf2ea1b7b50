"""Brain mask from the magnitude, refined by phase quality.

As in QSMxT's threshold-based masking [1]_: threshold the echo-combined
magnitude (Otsu [2]_), cut thin bridges by erosion, keep the
connected component at the centre of the head (the intracranial cavity, which
the dark skull separates from the scalp), close and fill holes.  The mask is
then refined by phase quality: voxels whose echo-difference phase disagrees
with its neighbourhood (low local phase coherence: noise, signal voids, field
too steep to sample) are dropped, and the result is cleaned again.

References
----------
.. [1] Stewart AW, Robinson SD, O'Brien K, et al. QSMxT: Robust masking and
   artifact reduction for quantitative susceptibility mapping. Magn Reson Med
   2022;87:1289-1300.
.. [2] Otsu N. A threshold selection method from gray-level histograms. IEEE
   Trans Syst Man Cybern 1979;9:62-66.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from .grid import bounding_box, slabs

_BALL = ndimage.generate_binary_structure(3, 1)


def magnitude_mask(
    magnitude: np.ndarray,
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0),
    threshold_scale: float = 0.5,
    erode_mm: float = 3.0,
) -> np.ndarray:
    """Head-centre tissue mask from a (X, Y, Z) or (X, Y, Z, E) magnitude.

    Parameters
    ----------
    magnitude : ndarray
        Magnitude, any scale; echoes are combined by root-sum-of-squares.
    voxel_size : tuple of float
        mm, for the erosion.
    threshold_scale : float
        Multiplier of the Otsu threshold (lower keeps more dark tissue).
    erode_mm : float
        Final erosion: drops the CSF and dura against the skull, where the
        bone's field varies too steeply for background removal.

    Returns
    -------
    ndarray of bool
    """
    image = root_sum_of_squares(magnitude) if magnitude.ndim == 4 else magnitude
    if not np.isfinite(image).all() or image.max() <= 0:
        raise ValueError("the magnitude is empty or not finite; cannot derive a mask")
    foreground = image > threshold_scale * threshold_otsu(image[image > 0])
    del image
    # Nothing below reaches more than 6 voxels past the foreground (closings,
    # the half-resolution search), so work on its box: same mask, less grid.
    # The even start keeps the half-resolution samples those of the full grid.
    box = bounding_box(foreground, margin=6, align=2)
    foreground = foreground[box]
    # cut bridges through the skull: erode, keep the central piece, grow it back
    steps = max(2, int(np.ceil(3.0 / min(voxel_size))))
    seed = _central_component(ndimage.binary_erosion(foreground, _BALL, iterations=steps))
    core = ndimage.binary_dilation(seed, _BALL, iterations=steps) & foreground
    closed = ndimage.binary_closing(core, _BALL, iterations=2, border_value=0)
    filled = _fill_holes(closed | core)
    return _paste(_depth_in_box(filled, voxel_size) > erode_mm, box, magnitude.shape[:3])


def refine_by_phase_quality(mask: np.ndarray, phase_step: np.ndarray, min_coherence: float = 0.6) -> np.ndarray:
    """Drop voxels whose 3x3x3 neighbourhood phase coherence is below ``min_coherence``.

    Coherence is ``|mean(exp(i dphi))|`` over the neighbourhood of the
    echo-difference phase ``dphi``: close to 1 where the field is smooth and
    sampled, near 0 in noise.

    Parameters
    ----------
    mask : ndarray of bool
    phase_step : ndarray
        Wrapped echo-difference phase, radians.
    min_coherence : float
        In (0, 1).

    Returns
    -------
    ndarray of bool
    """
    if not 0 < min_coherence < 1:
        raise ValueError(f"min_coherence must be in (0, 1), got {min_coherence}")
    # the 3x3x3 filter and the opening reach 2 voxels past the mask
    box = bounding_box(mask, margin=2)
    cos, sin = np.cos(phase_step[box]), np.sin(phase_step[box])
    coherence = np.hypot(ndimage.uniform_filter(cos, 3, output=cos), ndimage.uniform_filter(sin, 3, output=sin))
    kept = ndimage.binary_opening(mask[box] & (coherence >= min_coherence), _BALL)
    return _paste(_fill_holes(_largest_component(kept)), box, mask.shape)


def _central_component(mask: np.ndarray) -> np.ndarray:
    """The connected component holding the voxel deepest inside the filled head.

    The deepest point needs no fine grid, so it is found at half resolution
    (full-resolution hole filling and distance transforms cost seconds).
    """
    labels, count = ndimage.label(mask)
    if count == 0:
        raise ValueError("no tissue found above the magnitude threshold")
    coarse = mask[::2, ::2, ::2]
    head = _fill_holes(ndimage.binary_closing(coarse, _BALL, iterations=2, border_value=0))
    depth = ndimage.distance_transform_edt(head)
    depth[~coarse] = 0
    deepest = np.unravel_index(np.argmax(depth), depth.shape)
    return labels == labels[tuple(2 * np.asarray(deepest))]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count == 0:
        raise ValueError("no voxel passed the phase-quality check")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == np.argmax(sizes)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_fill_holes``, by labelling the background in one pass.

    scipy grows the outside in from the border one voxel per sweep, which
    costs a second on a head-sized array; a labelling does it in a tenth.
    """
    labels, count = ndimage.label(~mask)
    outside = np.zeros(count + 1, dtype=bool)
    for axis in range(3):
        outside[np.take(labels, (0, -1), axis=axis)] = True
    outside[0] = False  # label 0 is the mask itself
    return ~outside[labels]


def root_sum_of_squares(magnitude: np.ndarray) -> np.ndarray:
    """float32 root-sum-of-squares over the echo axis, slab by slab."""
    image = np.empty(magnitude.shape[:3], dtype=np.float32)
    for slab in slabs(magnitude.shape):
        part = image[slab]
        np.square(magnitude[slab, ..., 0], out=part, dtype=np.float32)
        for e in range(1, magnitude.shape[-1]):
            part += np.square(magnitude[slab, ..., e], dtype=np.float32)
        np.sqrt(part, out=part)
    return image


def _paste(part: np.ndarray, box: tuple[slice, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Boolean array of ``shape``, ``part`` inside ``box`` and false elsewhere."""
    full = np.zeros(shape, dtype=bool)
    full[box] = part
    return full


def _depth_in_box(mask: np.ndarray, voxel_size) -> np.ndarray:
    """Euclidean depth (mm) inside ``mask``, computed on its bounding box only."""
    depth = np.zeros(mask.shape, np.float32)
    if mask.any():
        box = bounding_box(mask, margin=1)
        depth[box] = ndimage.distance_transform_edt(mask[box], sampling=voxel_size)
    return depth
