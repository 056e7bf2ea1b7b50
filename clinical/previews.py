"""Preview images of volumes: three orthogonal slices through the centre, in neurological convention (patient right on the image right)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402


def canonical_slices(volume: np.ndarray, affine: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Axial, coronal and sagittal centre slices of a 3D volume reoriented to RAS, ready for imshow."""
    image = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(volume, dtype=np.float32), affine))
    data = np.asarray(image.dataobj)
    cx, cy, cz = (n // 2 for n in data.shape)
    # Transpose so that rows run anterior/superior upward with origin="lower".
    return [
        ("axial", data[:, :, cz].T),
        ("coronal", data[:, cy, :].T),
        ("sagittal", data[cx, :, :].T),
    ]


def write_magnitude_preview(volume: np.ndarray, affine: np.ndarray, path: Path) -> None:
    """A PNG of three orthogonal magnitude slices (first echo), windowed to the 1st-99th percentile."""
    slices = canonical_slices(volume, affine)
    low, high = np.percentile(volume, [1, 99])
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), dpi=100)
    for ax, (name, image) in zip(axes, slices):
        ax.imshow(image, cmap="gray", origin="lower", vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle("Magnitude, echo 1 (neurological: patient right on the right)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
