"""De-identified NIfTI originals keep the uploaded voxels and their scaling, bit for bit."""

from __future__ import annotations

import zipfile

import nibabel as nib
import numpy as np

from clinical.scanio import write_canonical
from clinical.scanio.synthetic import write_nifti_series


def test_it_keeps_the_stored_voxels_and_scaling_of_each_nifti(tmp_path, ingest, truth):
    uploaded = write_nifti_series(tmp_path / "nii", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine,
                                  phase_scale="siemens")
    phase_file = next(p for p in uploaded if p.name == "gre_e2_ph.nii.gz")
    stored = nib.load(phase_file)
    # As dcm2niix stores Siemens phase: raw 0..4095 pixels with RescaleSlope 2, RescaleIntercept -4096.
    raw = ((np.asarray(stored.dataobj) + 4096) // 2).astype(np.int16)
    scaled = nib.Nifti1Image(raw, stored.affine, stored.header)
    scaled.header.set_slope_inter(2.0, -4096.0)
    nib.save(scaled, phase_file)
    files = write_canonical(ingest(uploaded), tmp_path / "out")
    with zipfile.ZipFile(files["original"]) as archive:
        archive.extract("nifti/phase_e2.nii.gz", tmp_path / "original")
    copy = nib.load(tmp_path / "original" / "nifti" / "phase_e2.nii.gz")
    assert copy.get_data_dtype() == np.int16 and (copy.dataobj.slope, copy.dataobj.inter) == (2.0, -4096.0)
    assert np.array_equal(np.asarray(copy.dataobj.get_unscaled()), raw)
    assert np.array_equal(copy.get_fdata(), nib.load(phase_file).get_fdata())
    assert copy.header.extensions == [] and copy.header["descrip"].item() == b""
