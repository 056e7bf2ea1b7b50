"""Small file helpers for the QSM tests."""

import nibabel as nib
import numpy as np


def write_nifti(path, data, affine=None):
    """Save ``data`` as NIfTI (identity affine by default) and return the path."""
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), path)
    return path
