"""Preview of a susceptibility map: three orthogonal slices with a colour bar in ppm."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from clinical.previews import canonical_slices  # noqa: E402


def symmetric_limit(chi: np.ndarray, mask: np.ndarray) -> float:
    """Display limit (ppm): the 99th percentile of |chi| in the brain, at least 0.05 ppm, to 3 decimals."""
    values = np.abs(chi[mask > 0]) if mask.any() else np.abs(chi)
    return round(max(float(np.percentile(values, 99)), 0.05), 3)


def write_chi_preview(chi: np.ndarray, affine: np.ndarray, limit: float, path: Path) -> None:
    """PNG of axial, coronal and sagittal chi slices, diverging colour map, limits +-``limit`` ppm."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), dpi=100)
    for ax, (name, image) in zip(axes, canonical_slices(chi, affine)):
        shown = ax.imshow(image, cmap="RdBu_r", origin="lower", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    bar = fig.colorbar(shown, ax=axes, fraction=0.025, pad=0.02)
    bar.set_label("χ (ppm)")
    fig.suptitle("Susceptibility (neurological: patient right on the right)", fontsize=9)
    fig.savefig(path, format="png")
    plt.close(fig)
