"""Susceptibility referencing.

QSM is relative: the inversion leaves the mean undetermined.  Following the
ISMRM consensus, values are referenced to the whole-brain mean by default, or
to the mean over a given region (e.g. CSF of the ventricles).

References
----------
.. [1] Straub S, Schneider TM, Emmerich J, et al. Suitable reference tissue
   for quantitative susceptibility mapping of the brain. Magn Reson Med
   2017;78:204-214.
.. [2] QSM Consensus Organization Committee. Recommended implementation of
   quantitative susceptibility mapping for clinical research in the brain.
   Magn Reson Med 2024;91:1834-1862.
"""

from __future__ import annotations

import numpy as np

METHODS = ("brain", "mask")


def reference(chi: np.ndarray, brain_mask: np.ndarray, reference_mask: np.ndarray | None = None) -> np.ndarray:
    """Subtract the mean over ``reference_mask`` (default: the brain) from ``chi``.

    Parameters
    ----------
    chi : ndarray
        Susceptibility, ppm.
    brain_mask : ndarray of bool
        Voxels kept; zero elsewhere.
    reference_mask : ndarray of bool, optional
        Reference region; must overlap ``brain_mask``.

    Returns
    -------
    ndarray
        float32 referenced susceptibility, ppm, zero outside ``brain_mask``.
    """
    region = brain_mask if reference_mask is None else reference_mask & brain_mask
    if reference_mask is not None and reference_mask.shape != brain_mask.shape:
        raise ValueError(f"reference mask shape {reference_mask.shape} differs from the image {brain_mask.shape}")
    if not region.any():
        raise ValueError("the reference region does not overlap the brain mask")
    referenced = np.subtract(chi, chi[region].mean(), dtype=np.float32)
    referenced[~brain_mask] = 0
    return referenced
