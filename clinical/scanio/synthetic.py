"""Synthetic uploads for tests and benchmarks: DICOM series, NIfTI files, zips.

The DICOM writer imitates a Siemens classic single-frame export: one file per
slice per echo, magnitude stored as uint16 (values rounded, no rescaling),
phase stored 0..4095 with RescaleSlope 2 and RescaleIntercept -4096 so that
``radians = (2 * stored - 4096) * pi / 4096``.  Other vendors' exports (GE,
Philips, Siemens XA enhanced, compressed) are written by
:mod:`clinical.scanio.synthetic_vendors`, which builds on the datasets made here.
With ``identifying=True`` the files carry the values in
:data:`IDENTIFYING_VALUES` the way a hospital export would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pydicom.valuerep import DSfloat

from .canonical import zip_dir

__all__ = ["IDENTIFYING_VALUES", "write_dicom_series", "write_nifti_series", "zip_dir", "smooth_sphere"]

#: Identifying values written when ``identifying=True``; none may survive ingest.
IDENTIFYING_VALUES: dict[str, str] = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN12345",
    "PatientBirthDate": "19610203",
    "PatientAddress": "12 Elm Street^Springfield",
    "AccessionNumber": "ACC20240315X",
    "InstitutionName": "Springfield General Hospital",
    "InstitutionAddress": "1 Hospital Road Springfield",
    "ReferringPhysicianName": "Who^Doctor",
    "PerformingPhysicianName": "Quinn^Medicine",
    "OperatorsName": "Radio^Grapher",
    "StationName": "MRC40123",
    "DeviceSerialNumber": "SN-778812",
    "StudyDate": "20240315",
    "StudyTime": "101530.250000",
    "OtherPatientIDs": "OLDMRN-998877",
}
_SIEMENS_PRIVATE_PAYLOAD = b"CSA1 MRN12345 Doe^Jane"
_VENDORS = {
    "siemens": ("SIEMENS", "Prisma", "syngo MR E11"),
    "ge": ("GE MEDICAL SYSTEMS", "DISCOVERY MR750", "27\\LX\\MR Software release:DV26.0_R01_1725.a"),
    "philips": ("Philips Medical Systems", "Ingenia", "5.6.1\\5.6.1.2"),
}
_LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def smooth_sphere(
    shape: tuple[int, int, int] = (24, 24, 12),
    echo_times_s: Sequence[float] = (0.004, 0.008, 0.012, 0.016),
    *,
    field_hz: float = 40.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return integer-valued magnitude and wrapped phase of a sphere in a smooth field.

    Parameters
    ----------
    shape : tuple of int
        Grid size.
    echo_times_s : sequence of float
        Echo times; the phase grows linearly with them.
    field_hz : float
        Peak off-resonance, Hz, of a smooth field varying across the grid.
    seed : int
        Seed of the magnitude noise, so different seeds give different series.

    Returns
    -------
    magnitude, phase : np.ndarray
        float32 arrays (X, Y, Z, E); magnitude in 0..4095, phase in [-pi, pi).
    """
    grid = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grid))
    inside = radius < 0.8
    field = field_hz * (grid[0] * grid[1] + 0.5 * grid[2] ** 2)
    noise = np.random.default_rng(seed).normal(0, 20, shape)
    te = np.asarray(echo_times_s)
    decay = np.exp(-te / 0.04)
    magnitude = np.clip((1000.0 * inside + 100 + noise)[..., None] * decay, 0, 4095).round()
    phase = np.angle(np.exp(1j * (2 * np.pi * field[..., None] * te + 0.3)))
    return magnitude.astype(np.float32), phase.astype(np.float32)


def write_dicom_series(
    outdir: Path,
    magnitude: np.ndarray,
    phase_radians: np.ndarray | None,
    echo_times_s: Sequence[float],
    affine: np.ndarray,
    *,
    field_strength_t: float | None = 3.0,
    identifying: bool = True,
    series_number: int = 5,
    protocol_name: str = "qsm_megre",
    study_uid: str | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write a classic single-frame multi-echo GRE DICOM series.

    Parameters
    ----------
    outdir : Path
        Directory to write into (created).
    magnitude : np.ndarray
        (X, Y, Z, E) values, rounded to uint16.
    phase_radians : np.ndarray or None
        (X, Y, Z, E) phase in radians, or None for a magnitude-only series
        (e.g. a localizer).
    echo_times_s : sequence of float
        One echo time per echo, seconds (written as ms).
    affine : np.ndarray
        4x4 RAS+ voxel-to-world matrix the headers must agree with.
    field_strength_t : float or None
        MagneticFieldStrength; None leaves it out.
    identifying : bool
        Fill :data:`IDENTIFYING_VALUES`, dates and a private tag.
    series_number : int
        Magnitude series number; phase gets ``series_number + 1``.
    protocol_name : str
        ProtocolName and SeriesDescription.
    study_uid : str, optional
        StudyInstanceUID (new one by default), to put several series in one exam.
    seed : int
        Seed for the file-name shuffle (files are not written in slice order).

    Returns
    -------
    list of Path
        The files written, in no particular order.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    common = _common_dataset("siemens", field_strength_t, identifying, protocol_name, study_uid or generate_uid())
    magnitude_series = generate_uid()
    parts = [("M", magnitude, magnitude_series, series_number)]
    if phase_radians is not None:
        phase_series = generate_uid()
        stored_phase = np.mod(np.round(np.asarray(phase_radians) * 2048 / np.pi + 2048), 4096)
        parts.append(("P", stored_phase, phase_series, series_number + 1))
    slices = [
        (part, data, uid, number, echo, k)
        for part, data, uid, number in parts
        for echo in range(data.shape[3])
        for k in range(data.shape[2])
    ]
    order = np.random.default_rng(seed).permutation(len(slices))
    written = []
    for instance, index in enumerate(order, start=1):
        part, data, uid, number, echo, k = slices[index]
        ds = _slice_dataset(common, affine, data[:, :, k, echo], k, part, "siemens")
        ds.SeriesInstanceUID = uid
        ds.SeriesNumber = number
        ds.InstanceNumber = instance
        ds.EchoNumbers = echo + 1
        ds.EchoTime = DSfloat(1000.0 * echo_times_s[echo], auto_format=True)
        path = outdir / f"IM{number:03d}_{instance:05d}"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        written.append(path)
    return written


def _common_dataset(vendor, field_strength_t, identifying, protocol_name, study_uid) -> Dataset:
    manufacturer, model, software = _VENDORS[vendor]
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.Modality = "MR"
    ds.Manufacturer = manufacturer
    ds.ManufacturerModelName = model
    ds.SoftwareVersions = software
    ds.StudyInstanceUID = study_uid
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[study_uid])
    ds.ProtocolName = protocol_name
    ds.SeriesDescription = protocol_name
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = "SP"
    ds.MRAcquisitionType = "3D"
    ds.RepetitionTime = 30
    ds.FlipAngle = 15
    ds.ImagingFrequency = DSfloat(42.576 * (field_strength_t or 3.0), auto_format=True)
    ds.PatientPosition = "HFS"
    if field_strength_t is not None:
        ds.MagneticFieldStrength = field_strength_t
    if identifying:
        for keyword, value in IDENTIFYING_VALUES.items():
            setattr(ds, keyword, value)
        ds.PatientSex = "F"
        ds.PatientAge = "063Y"
        ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = IDENTIFYING_VALUES["StudyDate"]
        ds.AcquisitionTime = IDENTIFYING_VALUES["StudyTime"]
    else:
        ds.PatientName = "Anonymous"
        ds.PatientID = "ANON"
    return ds


def _slice_dataset(common: Dataset, affine: np.ndarray, plane: np.ndarray, k: int, part: str, vendor: str) -> Dataset:
    lps = _LPS_FROM_RAS @ np.asarray(affine, dtype=float)
    column_step, row_step, slice_step = (np.linalg.norm(lps[:3, i]) for i in range(3))
    row_cosine, column_cosine = lps[:3, 0] / column_step, lps[:3, 1] / row_step
    position = lps[:3, 3] + k * lps[:3, 2]
    ds = Dataset()
    ds.update(common)
    ds.SOPInstanceUID = generate_uid()
    ds.ImageType = _image_type(part, vendor)
    ds.ImageOrientationPatient = [DSfloat(v, auto_format=True) for v in (*row_cosine, *column_cosine)]
    ds.ImagePositionPatient = [DSfloat(v, auto_format=True) for v in position]
    ds.PixelSpacing = [DSfloat(row_step, auto_format=True), DSfloat(column_step, auto_format=True)]
    ds.SliceThickness = DSfloat(slice_step, auto_format=True)
    ds.SliceLocation = DSfloat(float(np.dot(position, np.cross(row_cosine, column_cosine))), auto_format=True)
    _set_pixels(ds, plane.T)
    if part == "P":
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 2, -4096, "US"
    _mark_part(ds, part, vendor)
    if "PatientBirthDate" in common and vendor == "siemens":
        ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(0x10, "OB", _SIEMENS_PRIVATE_PAYLOAD)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _image_type(part: str, vendor: str) -> list[str]:
    if vendor == "siemens":
        return ["ORIGINAL", "PRIMARY", part, "ND"]
    if vendor == "philips":
        return ["ORIGINAL", "PRIMARY", "M_FFE" if part == "M" else "PHASE MAP", part, "FFE"]
    return ["ORIGINAL", "PRIMARY", "OTHER"]


def _mark_part(ds: Dataset, part: str, vendor: str) -> None:
    if vendor == "ge":
        ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(0x2F, "SS", 0 if part == "M" else 1)
    elif vendor == "philips":
        ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True).add_new(0x11, "CS", part)


def _set_pixels(ds: Dataset, pixels: np.ndarray) -> None:
    stored = np.clip(np.round(pixels), 0, 65535).astype(np.uint16)
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = stored.tobytes()


def write_nifti_series(
    outdir: Path,
    magnitude: np.ndarray,
    phase_radians: np.ndarray,
    echo_times_s: Sequence[float],
    affine: np.ndarray,
    *,
    layout: str = "per-echo",
    field_strength_t: float | None = 3.0,
    identifying: bool = True,
    phase_scale: str = "radians",
    basename: str = "gre",
    subject: str = "01",
    session: str | None = None,
) -> list[Path]:
    """Write NIfTI files with JSON sidecars as dcm2niix or a BIDS dataset would.

    Parameters
    ----------
    outdir : Path
        Directory to write into (created).
    magnitude, phase_radians : np.ndarray
        (X, Y, Z, E) arrays.
    echo_times_s : sequence of float
        Echo times, seconds.
    affine : np.ndarray
        4x4 RAS+ affine.
    layout : {"per-echo", "4d", "bids"}
        ``gre_e2.nii.gz``/``gre_e2_ph.nii.gz`` (dcm2niix), ``gre.nii.gz``/
        ``gre_ph.nii.gz`` with an EchoTime list, or
        ``sub-01[_ses-X]_echo-2_part-mag_MEGRE.nii.gz``.
    field_strength_t : float or None
        MagneticFieldStrength; None leaves it out.
    identifying : bool
        Put patient and site fields in the sidecars (dcm2niix without ``-ba y``).
    phase_scale : {"radians", "siemens", "unsigned"}
        Phase as float radians, as int16 -4096..4094 like Siemens data rescaled
        by dcm2niix, or as uint16 0..4095 like the unrescaled 12-bit pixels.
    basename, subject, session : str
        Name parts.

    Returns
    -------
    list of Path
        NIfTI and JSON files written.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    stored_phase = _stored_phase(np.asarray(phase_radians), phase_scale)
    written = []
    for part, data in (("mag", np.asarray(magnitude, dtype=np.float32)), ("phase", stored_phase)):
        if layout == "4d":
            name = basename if part == "mag" else f"{basename}_ph"
            sidecar = _nifti_sidecar(part, list(echo_times_s), None, field_strength_t, identifying)
            written += _save_pair(outdir / name, data, affine, sidecar)
            continue
        for echo, te in enumerate(echo_times_s, start=1):
            name = _per_echo_name(layout, part, echo, basename, subject, session)
            sidecar = _nifti_sidecar(part, te, echo, field_strength_t, identifying)
            written += _save_pair(outdir / name, data[..., echo - 1], affine, sidecar)
    return written


def _stored_phase(phase: np.ndarray, phase_scale: str) -> np.ndarray:
    twelve_bit = np.mod(np.round(phase * 2048 / np.pi + 2048), 4096)
    if phase_scale == "siemens":
        return (2 * twelve_bit - 4096).astype(np.int16)
    if phase_scale == "unsigned":
        return twelve_bit.astype(np.uint16)
    return phase.astype(np.float32)


def _per_echo_name(layout: str, part: str, echo: int, basename: str, subject: str, session: str | None) -> str:
    if layout == "bids":
        ses = f"_ses-{session}" if session else ""
        return f"sub-{subject}{ses}_echo-{echo}_part-{part}_MEGRE"
    return f"{basename}_e{echo}" + ("_ph" if part == "phase" else "")


def _nifti_sidecar(part, echo_time, echo_number, field_strength_t, identifying) -> dict:
    sidecar = {
        "Modality": "MR",
        "Manufacturer": "Siemens",
        "ManufacturersModelName": "Prisma",
        "ProtocolName": "qsm_megre",
        "SeriesDescription": "qsm_megre",
        "SeriesNumber": 5 if part == "mag" else 6,
        "ImageType": ["ORIGINAL", "PRIMARY", "M" if part == "mag" else "P", "ND"],
        "EchoTime": echo_time,
        "RepetitionTime": 0.03,
        "FlipAngle": 15,
        "PatientPosition": "HFS",
        "ConversionSoftware": "dcm2niix",
    }
    if echo_number is not None:
        sidecar["EchoNumber"] = echo_number
    if field_strength_t is not None:
        sidecar["MagneticFieldStrength"] = field_strength_t
    if identifying:
        sidecar.update(
            PatientName=IDENTIFYING_VALUES["PatientName"],
            PatientID=IDENTIFYING_VALUES["PatientID"],
            PatientBirthDate=IDENTIFYING_VALUES["PatientBirthDate"],
            PatientSex="F",
            AccessionNumber=IDENTIFYING_VALUES["AccessionNumber"],
            InstitutionName=IDENTIFYING_VALUES["InstitutionName"],
            InstitutionAddress=IDENTIFYING_VALUES["InstitutionAddress"],
            ReferringPhysicianName=IDENTIFYING_VALUES["ReferringPhysicianName"],
            StationName=IDENTIFYING_VALUES["StationName"],
            DeviceSerialNumber=IDENTIFYING_VALUES["DeviceSerialNumber"],
            AcquisitionDateTime="2024-03-15T10:15:30.250000",
            AcquisitionTime="10:15:30.250000",
            StudyInstanceUID="1.2.826.0.1.3680043.8.498.1234567890",
        )
    return sidecar


def _save_pair(stem_path: Path, data: np.ndarray, affine: np.ndarray, sidecar: dict) -> list[Path]:
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header["descrip"] = b"TE=4;Time=101530.250;phase=0"
    nifti = stem_path.with_name(stem_path.name + ".nii.gz")
    nib.save(image, nifti)
    json_path = stem_path.with_name(stem_path.name + ".json")
    json_path.write_text(json.dumps(sidecar, indent=2), encoding="utf-8")
    return [nifti, json_path]
