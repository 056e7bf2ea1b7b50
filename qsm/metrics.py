"""Accuracy metrics as scored by the QSM reconstruction challenge 2.0 / QSM-CI.

References
----------
.. [1] QSM Challenge 2.0 Organization Committee; Bilgic B, Langkammer C,
   Marques JP, et al. QSM reconstruction challenge 2.0: Design and report of
   results. Magn Reson Med 2021;86:1241-1255.
"""

from __future__ import annotations

import numpy as np


def nrmse(chi: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Demeaned normalised RMS error in percent over ``mask``.

    ``100 * ||x - y|| / ||y||`` with ``x`` and ``y`` each demeaned over the
    mask voxels.  Voxels the reconstruction dropped (NaN) count as zero.

    Parameters
    ----------
    chi : ndarray
        Reconstruction, ppm.
    truth : ndarray
        Ground truth, ppm.
    mask : ndarray of bool
        Evaluation mask (the ground-truth brain mask).

    Returns
    -------
    float
    """
    if chi.shape != truth.shape or mask.shape != truth.shape or not mask.any():
        raise ValueError("chi, truth and a non-empty mask must share one shape")
    x = np.nan_to_num(chi[mask].astype(np.float64))
    y = truth[mask].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float(100.0 * np.linalg.norm(x - y) / np.linalg.norm(y))


def roi_contrast(chi: np.ndarray, roi: np.ndarray, control: np.ndarray) -> float:
    """Mean of ``chi`` in ``roi`` minus its mean in ``control`` (NaN counts as 0)."""
    if not roi.any() or not control.any():
        raise ValueError("both regions must be non-empty")
    values = np.nan_to_num(chi)
    return float(values[roi].mean() - values[control].mean())


def contrast_recovery(chi: np.ndarray, truth: np.ndarray, roi: np.ndarray, control: np.ndarray) -> float:
    """Recovered over true ROI-minus-control contrast (1 is perfect).

    Raises
    ------
    ValueError
        When the true contrast is zero (the ratio is undefined).
    """
    true_contrast = roi_contrast(truth, roi, control)
    if true_contrast == 0:
        raise ValueError("the true contrast is zero; recovery is undefined")
    return roi_contrast(chi, roi, control) / true_contrast


def motor_contrast_recovery(chi: np.ndarray, truth: np.ndarray, rois: dict[str, np.ndarray]) -> float:
    """Bilateral motor-cortex contrast recovery: (LMC | RMC) against (LCT | RCT)."""
    return contrast_recovery(chi, truth, rois["LMC"] | rois["RMC"], rois["LCT"] | rois["RCT"])
