"""Working grid: crop a volume to the mask's bounding box plus a zero margin.

Every stage after masking runs on this smaller grid, which saves most of the
FFT time on a full field of view and provides the zero padding that keeps the
periodic dipole convolution from wrapping fields around the border.

Margin rule
-----------
Each axis gets ``max(min_margin, ceil(margin_fraction * extent))`` zero voxels
a side (defaults 8 and 0.2), then grows to the next 5-smooth size for the real
FFT (``scipy.fft.next_fast_len(n, real=True)``).  What each FFT method needs:

* V-SHARP: nothing; its balls are only evaluated where they fit in the mask.
* PDF: room outside the mask for the background dipoles it fits; less margin
  leaves less of the background modelled.
* TV and iSWIM: enough zeros that the periodic images of the brain's field
  stay away.  This sets the default: on the 1.5 mm phantom (given mask,
  V-SHARP), cutting ``margin_fraction`` from 0.2 to 0.1 shrinks the grid
  1.6x but raises the TV NRMSE from 40.3 to 45.8 % (B0 straight; 45.6 to
  46.2 % tilted 20 degrees); iSWIM moves by 0.2-0.4 points.  A method that
  needs less may pass smaller values to :meth:`WorkGrid.around`.
* The dipole fit (single-step TV, the default background) needs less: on the
  test tier of :mod:`qsm.family`, ``margin_fraction`` 0.2 / 0.15 / 0.12 / 0.1
  gave TV NRMSE 50.9 / 50.9 / 50.8 / 50.7 % mean and 71.9 / 71.4 / 71.2 /
  71.0 % worst (given mask); at 0.15 the derived-mask TV (62.2 -> 62.3 % mean,
  80.9 -> 80.6 % worst) and iSWIM after the fit (60.4 -> 60.5 %, 74.9 ->
  75.0 %) hardly moved and the contrast recovery means stayed the same.  The
  pipeline uses :data:`FIT_MARGIN_FRACTION` with it, about 20-30 % fewer voxels.

Stages before the FFT methods (mask refinement, path unwrapping) crop tighter
still, to :func:`bounding_box` plus the few voxels their filters reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft


def bounding_box(mask: np.ndarray, margin: int = 0, align: int = 1) -> tuple[slice, slice, slice]:
    """Slices of the box holding every true voxel of a non-empty ``mask`` plus ``margin``, clipped to the array.

    ``align`` rounds each start down to a multiple of it, so that subsampling
    the box by ``align`` picks the same voxels as subsampling the whole array.
    """
    box = []
    for axis in range(3):
        occupied = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        lo = max(int(occupied[0]) - margin, 0) // align * align
        box.append(slice(lo, min(int(occupied[-1]) + 1 + margin, mask.shape[axis])))
    return tuple(box)


def slabs(shape: tuple[int, ...], voxels: int = 2**19) -> list[slice]:
    """Slices along axis 0 of about ``voxels`` voxels each.

    Element-wise work with several temporaries runs about twice as fast slab by
    slab, because the temporaries then stay in the CPU cache instead of
    streaming full volumes through memory.
    """
    step = max(1, voxels // int(np.prod(shape[1:3])))
    return [slice(start, start + step) for start in range(0, shape[0], step)]


#: Margin fraction for the dipole-fit background (see the module docstring).
FIT_MARGIN_FRACTION = 0.15


@dataclass(frozen=True)
class WorkGrid:
    """Mapping between the full image grid and a cropped, padded working grid.

    Attributes
    ----------
    full_shape : tuple of int
        Spatial shape of the input images.
    origin : tuple of int
        Full-grid index of working voxel (0, 0, 0); may be negative (padding).
    shape : tuple of int
        Spatial shape of the working grid (FFT-friendly sizes).
    """

    full_shape: tuple[int, int, int]
    origin: tuple[int, int, int]
    shape: tuple[int, int, int]

    @classmethod
    def around(cls, mask: np.ndarray, margin_fraction: float = 0.2, min_margin: int = 8) -> WorkGrid:
        """Grid covering ``mask`` plus ``max(min_margin, margin_fraction * extent)`` voxels a side.

        See the module docstring for what the FFT methods need of the margin.
        """
        if not mask.any():
            raise ValueError("the mask is empty; nothing to reconstruct")
        origin, shape = [], []
        for extent in bounding_box(mask):
            lo, hi = extent.start, extent.stop
            margin = max(min_margin, int(np.ceil(margin_fraction * (hi - lo))))
            size = sp_fft.next_fast_len(hi - lo + 2 * margin, real=True)
            origin.append(lo - (size - (hi - lo)) // 2)
            shape.append(size)
        return cls(tuple(mask.shape[:3]), tuple(origin), tuple(shape))

    def _windows(self) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
        full, work = [], []
        for o, s, n in zip(self.origin, self.shape, self.full_shape):
            lo, hi = max(o, 0), min(o + s, n)
            full.append(slice(lo, hi))
            work.append(slice(lo - o, hi - o))
        return tuple(full), tuple(work)

    def crop(self, volume: np.ndarray) -> np.ndarray:
        """Working-grid copy of ``volume`` (extra trailing axes kept), zero outside the image."""
        full, work = self._windows()
        out = np.zeros(self.shape + volume.shape[3:], dtype=volume.dtype)
        out[work] = volume[full]
        return out

    def uncrop(self, volume: np.ndarray) -> np.ndarray:
        """Full-grid copy of a working-grid ``volume``, zero outside the working grid."""
        full, work = self._windows()
        out = np.zeros(self.full_shape + volume.shape[3:], dtype=volume.dtype)
        out[full] = volume[work]
        return out
