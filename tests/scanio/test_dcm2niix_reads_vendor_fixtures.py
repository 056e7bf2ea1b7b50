"""dcm2niix converts every vendor-style DICOM fixture to NIfTI that agrees with the truth.

The fixtures come from :mod:`clinical.scanio.synthetic_vendors`; the vendor
phase rules below are written out here independently of that module, so a
wrong fixture or a wrong rule fails a test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from clinical.scanio.synthetic import IDENTIFYING_VALUES, smooth_sphere
from clinical.scanio.synthetic_vendors import (
    FLAVOURS,
    TRANSFER_SYNTAXES,
    phase_truth_after_conversion,
    write_vendor_series,
)

#: Small, not square (to catch row/column swaps), and at least 32 x 32 for JPEG 2000.
SHAPE = (36, 32, 8)
ECHO_TIMES_S = (0.0041, 0.0083, 0.0125)
ACQUIRED_AT = datetime(2024, 3, 15, 10, 15, 30, 250000)
#: Phase in the NIfTI (nibabel scaling applied) -> radians, per vendor convention.
TO_RADIANS = {
    "siemens-classic": lambda v: v * np.pi / 4096,
    "siemens-classic-unsigned": lambda v: v * 2 * np.pi / 4096 - np.pi,
    "siemens-xa-enhanced": lambda v: v * np.pi / 4096,
    "philips-enhanced": lambda v: v,
    "ge-classic": lambda v: v / 1000.0,
}
#: (scl_slope, scl_inter) dcm2niix writes for the phase images.
PHASE_SCALING = {
    "siemens-classic": (2.0, -4096.0),
    "siemens-classic-unsigned": (1.0, 0.0),
    "siemens-xa-enhanced": (2.0, -4096.0),
    "philips-enhanced": (1 / 651.6569, -3142 / 1000.0),
    "ge-classic": (1.0, 0.0),
}
#: Closed range of the phase in the NIfTI after scaling.
PHASE_RANGE = {
    "siemens-classic": (-4096, 4094),
    "siemens-classic-unsigned": (0, 4095),
    "siemens-xa-enhanced": (-4096, 4094),
    "philips-enhanced": (-3.1421, 3.1427),  # FP of stored 4095 is 3.14260
    "ge-classic": (-3142, 3141),
}


def dcm2niix() -> str:
    found = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    if not Path(found).exists():
        pytest.skip("dcm2niix is not installed")
    return found


def oblique_affine() -> np.ndarray:
    """A slab tilted 17 degrees about Right-Left and 15 about Anterior-Posterior, 0.75 x 0.75 x 1.2 mm."""
    a, b = np.deg2rad(17.0), np.deg2rad(15.0)
    about_x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    about_y = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = about_y @ about_x @ np.diag([0.75, 0.75, 1.2])
    affine[:3, 3] = [-8.5, 12.25, 30.0]
    return affine


def axial_affine() -> np.ndarray:
    affine = np.diag([0.75, 0.75, 1.2, 1.0])
    affine[:3, 3] = [-9.0, -7.5, -6.0]
    return affine


def convert(tmp_path: Path, flavour: str, affine=None, *, one_file_per_run=False, flags=(), **options) -> dict:
    """Write the fixture, run dcm2niix on it and return truth and outputs.

    With ``one_file_per_run`` each DICOM file is converted by its own dcm2niix
    run; ``flags`` are extra dcm2niix options.
    """
    magnitude, phase = smooth_sphere(SHAPE, ECHO_TIMES_S, seed=3)
    affine = axial_affine() if affine is None else affine
    dicom_dir, out_dir = tmp_path / "dicom", tmp_path / "nifti"
    out_dir.mkdir(parents=True)
    files = write_vendor_series(dicom_dir, magnitude, phase, ECHO_TIMES_S, affine, flavour=flavour, **options)
    inputs = [dicom_dir]
    if one_file_per_run:
        inputs = [dicom_dir / f"run{i}" for i in range(len(files))]
        for folder, path in zip(inputs, files):
            folder.mkdir()
            path.rename(folder / path.name)
    log = ""
    for folder in inputs:
        command = [dcm2niix(), "-z", "n", "-b", "y", "-ba", "n", *flags, "-f", "%s_%e", "-o", str(out_dir), str(folder)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        log += result.stdout
    outputs = {
        nii.stem: (nib.load(nii), json.loads(nii.with_suffix(".json").read_text()))
        for nii in sorted(out_dir.glob("*.nii"))
    }
    return {"magnitude": magnitude, "phase": phase, "affine": affine, "outputs": outputs, "log": log}


def by_part_and_echo(outputs: dict) -> dict:
    """Return {("M"|"P", echo index): (image, sidecar)} using the sidecar's EchoTime."""
    parts = {}
    for stem, (image, sidecar) in outputs.items():
        part = "P" if stem.endswith("_ph") else "M"
        echo = int(np.argmin([abs(sidecar["EchoTime"] - te) for te in ECHO_TIMES_S]))
        assert (part, echo) not in parts, f"two outputs for {part} echo {echo + 1}: {sorted(outputs)}"
        parts[part, echo] = (image, sidecar)
    return parts


def canonical(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    return nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data, dtype=np.float64), affine))


def assert_agrees_with_truth(converted: dict, flavour: str) -> None:
    parts = by_part_and_echo(converted["outputs"])
    assert sorted(parts) == [(p, e) for p in "MP" for e in range(len(ECHO_TIMES_S))], sorted(converted["outputs"])
    corners = np.array([[i, j, k, 1] for i in (0, SHAPE[0] - 1) for j in (0, SHAPE[1] - 1) for k in (0, SHAPE[2] - 1)])
    for (part, echo), (image, sidecar) in parts.items():
        assert abs(sidecar["EchoTime"] * 1000 - ECHO_TIMES_S[echo] * 1000) < 1e-3
        assert datetime.fromisoformat(sidecar["AcquisitionDateTime"]).replace(microsecond=0) == ACQUIRED_AT.replace(
            microsecond=0
        )
        truth = converted["magnitude"] if part == "M" else converted["phase"]
        expected = canonical(truth[..., echo], converted["affine"])
        got = canonical(image.get_fdata(), image.affine)
        assert got.shape == expected.shape
        # World coordinates of the grid corners agree to 0.01 mm.
        assert np.abs(got.affine @ corners.T - expected.affine @ corners.T).max() < 0.01
        if part == "M":
            np.testing.assert_allclose(got.get_fdata(), expected.get_fdata(), atol=0.5)
        else:
            error = np.angle(np.exp(1j * (TO_RADIANS[flavour](got.get_fdata()) - expected.get_fdata())))
            assert np.abs(error).max() < 0.01


#: dcm2niix v1.0.20260724 converts only the last-parsed of several compressed Siemens
#: enhanced files in one folder: the others fail with "Error: RLE header corrupted" /
#: "OpenJPEG failed to read the header" at the first file's frame offsets ("Converted 1
#: of 6 files", exit code 8).  Each file converts correctly on its own (see
#: test_it_converts_compressed_xa_enhanced_files_one_per_run).  Philips files are not
#: affected: dcm2niix writes them as soon as they are parsed (sliceOrder is set).
XA_COMPRESSED_MULTI_FILE = pytest.mark.xfail(
    strict=True,
    reason="dcm2niix decodes every compressed Siemens enhanced file of a run with the last file's fragments",
)


#: The Philips multi-frame fixture re-encoded as JPEG lossless by GDCM converts with phase off by
#: up to pi; whether GDCM's re-encoding or dcm2niix's decoding is at fault was not found.
PHILIPS_JPEG_LOSSLESS = pytest.mark.xfail(
    strict=True, reason="Philips enhanced fixture re-encoded as JPEG lossless by GDCM: phase off by up to pi")


def flavour_syntax_cases() -> list:
    def marks(flavour: str, syntax: str) -> list:
        if flavour == "siemens-xa-enhanced" and syntax in ("rle", "jpeg2000", "jpegls"):
            return [XA_COMPRESSED_MULTI_FILE]
        return [PHILIPS_JPEG_LOSSLESS] if (flavour, syntax) == ("philips-enhanced", "jpeg-lossless") else []

    return [pytest.param(flavour, syntax, marks=marks(flavour, syntax)) for flavour in FLAVOURS
            for syntax in TRANSFER_SYNTAXES]


@pytest.mark.slow  # the whole vendor x syntax matrix; test_vendor_uploads covers each syntax in the default run
@pytest.mark.parametrize(("flavour", "transfer_syntax"), flavour_syntax_cases())
def test_it_converts_every_flavour_and_transfer_syntax_to_the_truth(tmp_path, flavour, transfer_syntax):
    converted = convert(tmp_path, flavour, transfer_syntax=transfer_syntax)
    assert_agrees_with_truth(converted, flavour)


@pytest.mark.parametrize("transfer_syntax", [s for s in TRANSFER_SYNTAXES if s != "explicit"])
def test_it_converts_compressed_xa_enhanced_files_one_per_run(tmp_path, transfer_syntax):
    converted = convert(tmp_path, "siemens-xa-enhanced", transfer_syntax=transfer_syntax, one_file_per_run=True)
    assert_agrees_with_truth(converted, "siemens-xa-enhanced")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_it_keeps_an_oblique_anisotropic_slab_in_place(tmp_path, flavour):
    converted = convert(tmp_path, flavour, affine=oblique_affine())
    assert_agrees_with_truth(converted, flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_it_converts_one_series_per_echo(tmp_path, flavour):
    syntax = "explicit" if flavour == "siemens-xa-enhanced" else "rle"  # see XA_COMPRESSED_MULTI_FILE
    converted = convert(tmp_path, flavour, echoes_per_series=True, transfer_syntax=syntax)
    assert_agrees_with_truth(converted, flavour)


def test_it_converts_ge_magnitude_and_phase_in_separate_series(tmp_path):
    converted = convert(tmp_path, "ge-classic", shared_series=False)
    assert_agrees_with_truth(converted, "ge-classic")
    assert sorted(converted["outputs"]) == ["5_1", "5_2", "5_3", "6_1_ph", "6_2_ph", "6_3_ph"]


def test_it_converts_xa_enhanced_phase_to_radians(tmp_path):
    outputs = convert(tmp_path, "siemens-xa-enhanced")["outputs"]
    image, sidecar = outputs["6_2_ph"]
    radians = image.get_fdata() * np.pi / 4096
    assert radians.min() >= -np.pi and radians.max() < np.pi
    assert sidecar["ImageType"][-1] == "PHASE"


def test_it_converts_philips_phase_to_radians_by_the_precise_scaling(tmp_path):
    converted = convert(tmp_path, "philips-enhanced")
    image, sidecar = converted["outputs"]["5_1_ph"]
    assert sidecar["PhilipsRescaleSlope"] == pytest.approx(1.53455)
    assert sidecar["PhilipsRescaleIntercept"] == pytest.approx(-3142)
    assert sidecar["PhilipsScaleSlope"] == pytest.approx(651.657, rel=1e-5)
    assert "Philips Scaling Values RS:RI:SS = 1.53455:-3142:651.657" in converted["log"]
    assert sidecar["UsePhilipsFloatNotDisplayScaling"] == 1


def test_it_gives_philips_phase_in_milliradians_with_display_scaling(tmp_path):
    converted = convert(tmp_path, "philips-enhanced", flags=("-p", "n"))
    for echo in range(len(ECHO_TIMES_S)):
        image, sidecar = converted["outputs"][f"5_{echo + 1}_ph"]
        assert sidecar["UsePhilipsFloatNotDisplayScaling"] == 0
        assert (float(image.dataobj.slope), float(image.dataobj.inter)) == pytest.approx((1.53455, -3142.0))
        truth = canonical(converted["phase"][..., echo], converted["affine"]).get_fdata()
        radians = canonical(image.get_fdata() / 1000.0, image.affine).get_fdata()
        assert np.abs(np.angle(np.exp(1j * (radians - truth)))).max() < 0.01


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_it_writes_identifying_values_only_when_asked(tmp_path, flavour):
    magnitude, phase = smooth_sphere((32, 32, 2), ECHO_TIMES_S[:1])
    for identifying in (True, False):
        folder = tmp_path / str(identifying)
        files = write_vendor_series(
            folder, magnitude, phase, ECHO_TIMES_S[:1], axial_affine(), flavour=flavour, identifying=identifying
        )
        ds = pydicom.dcmread(files[0])
        assert (ds.get("PatientName") == IDENTIFYING_VALUES["PatientName"]) is identifying
        assert ("PatientBirthDate" in ds) is identifying
        assert ds.AcquisitionDate == "20240315" and ds.AcquisitionTime == "101530.250000"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_it_names_and_scales_outputs_as_documented(tmp_path, flavour):
    outputs = convert(tmp_path, flavour)["outputs"]
    assert sorted(outputs) == (
        ["5_1", "5_1_ph", "5_2", "5_2_ph", "5_3", "5_3_ph"]
        if flavour in ("philips-enhanced", "ge-classic")
        else ["5_1", "5_2", "5_3", "6_1_ph", "6_2_ph", "6_3_ph"]
    )
    low, high = PHASE_RANGE[flavour]
    for stem, (image, sidecar) in outputs.items():
        if not stem.endswith("_ph"):
            assert "PHASE" not in sidecar["ImageType"]
            continue
        assert "PHASE" in sidecar["ImageType"]
        slope, inter = PHASE_SCALING[flavour]
        assert (float(image.dataobj.slope), float(image.dataobj.inter)) == pytest.approx((slope, inter), rel=1e-4)
        values = image.get_fdata()
        assert low <= values.min() and values.max() <= high
    first_line = phase_truth_after_conversion(flavour)
    assert "radians" in first_line


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_it_marks_derived_and_localizer_images(tmp_path, flavour):
    derived = convert(tmp_path / "derived", flavour, image_type_prefix=("DERIVED", "SECONDARY"))["outputs"]
    assert all(sidecar["ImageType"][:2] == ["DERIVED", "SECONDARY"] for _, sidecar in derived.values())
    scout = convert(tmp_path / "scout", flavour, localizer=True, series_description="localizer")["outputs"]
    assert all("LOCALIZER" in sidecar["ImageType"] for _, sidecar in scout.values())
    assert all(sidecar["SeriesDescription"] == "localizer" for _, sidecar in scout.values())
