"""Synthetic multi-echo GRE DICOM exports imitating each scanner vendor, with known truth.

Each flavour stores magnitude and phase the way that vendor's export does, so
tests can prove a converter (dcm2niix) recovers the truth.  Conventions
imitated (sources: the dcm2niix repository, rordenlab/dcm2niix, and its
issue tracker):

``siemens-classic``
    MR Image Storage, one file per slice per echo, magnitude and phase in two
    series (phase series number + 1).  ImageType ``ORIGINAL\\PRIMARY\\M\\ND`` /
    ``...\\P\\ND``.  Phase stored 0..4095 (uint16) with RescaleSlope 2 and
    RescaleIntercept -4096, so the rescaled value v lies in -4096..4094 and
    ``radians = v * pi / 4096`` (dcm2niix issue #406; dcm2niix copies the
    pixels and sets scl_slope 2, scl_inter -4096).
``siemens-classic-unsigned``
    As above but no rescale tags: raw 0..4095, ``radians = v * 2 pi / 4096 - pi``.
``siemens-xa-enhanced``
    Enhanced MR Image Storage (1.2.840.10008.5.1.4.1.1.4.1) as syngo MR XA
    writes it: a magnitude and a phase series, one multi-frame file per 3D
    volume (echo); frames indexed by DimensionIndexValues (StackID,
    InStackPositionNumber, echo).  dcm2niix only sorts frames of one file by
    DimensionIndexValues for non-Siemens files (nii_dicom.cpp, nii_readParse,
    "if we leave the folder MREchoSequence"), so echoes must be files.  Geometry in
    Shared/PerFrameFunctionalGroupsSequence, ComplexImageComponent in
    MRImageFrameTypeSequence, phase scaled as siemens-classic through
    PixelValueTransformationSequence.
``philips-enhanced``
    Enhanced MR, one file holding magnitude and phase frames of every echo.
    Phase stored 0..4095 with per-frame RescaleSlope 1.53455, RescaleIntercept
    -3142, RescaleType ``mrad`` (displayed value DV in milliradians), the same
    mapping in RealWorldValueMappingSequence, and private scale slope SS
    (2005,100E) = 1000 / RS, so the Philips "precise" value
    ``FP = DV / (RS * SS)`` is radians.  Values are those of a real Ingenia
    phase export (dcm2niix issue #463: "Slope=1.53455 Inter=-3142
    PhilipsScale=651.74"); SS is taken as 1000/RS (651.66) so FP is exact
    radians.  Formulas: dcm2niix Philips/README.md "Image Scaling";
    PhilipsPrecise() in console/nii_dicom_batch.cpp.
``ge-classic``
    One file per slice per echo, ImageType ``ORIGINAL\\PRIMARY\\OTHER``, the part
    given by private Image Type (0043,102F) SS 0/1/2/3 = magnitude/phase/
    real/imaginary (creator ``GEMS_PARM_01``; dcm2niix GE/README.md "Complex
    Image Component", kImageTypeGE in console/nii_dicom.cpp).  Phase signed
    int16 milliradians, ``round(radians * 1000)`` in -3142..3141, no rescale.
    Magnitude and phase in one series by default (``shared_series=True``).

With ``identifying=True`` the files carry :data:`synthetic.IDENTIFYING_VALUES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)
from pydicom.valuerep import DSfloat

from .synthetic import _common_dataset, _slice_dataset

__all__ = ["FLAVOURS", "TRANSFER_SYNTAXES", "phase_truth_after_conversion", "write_vendor_series"]

FLAVOURS = ("siemens-classic", "siemens-classic-unsigned", "siemens-xa-enhanced", "philips-enhanced", "ge-classic")
#: Encoders: pydicom (RLE), pylibjpeg-openjpeg (JPEG 2000), pyjpegls (JPEG-LS), GDCM (JPEG lossless,
#: process 14 SV1, which pydicom cannot encode); all in the project's test extra.
TRANSFER_SYNTAXES = ("explicit", "rle", "jpeg2000", "jpegls", "jpeg-lossless")
_SYNTAX_UIDS = {
    "explicit": ExplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg2000": JPEG2000Lossless,
    "jpegls": JPEGLSLossless,
    "jpeg-lossless": JPEGLosslessSV1,
}
ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
#: Philips phase scaling of a real export (dcm2niix issue #463); SS makes FP radians.
PHILIPS_PHASE_SLOPE, PHILIPS_PHASE_INTERCEPT = 1.53455, -3142.0
PHILIPS_SCALE_SLOPE = 1000.0 / PHILIPS_PHASE_SLOPE
_LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_PHASE_TRUTH = {
    "siemens-classic": "int16 -4096..4094 (scl_slope 2, scl_inter -4096 applied); radians = value * pi / 4096",
    "siemens-classic-unsigned": "uint16 0..4095, no scaling; radians = value * 2 * pi / 4096 - pi",
    "siemens-xa-enhanced": "int16 -4096..4094 (scl_slope 2, scl_inter -4096 applied); radians = value * pi / 4096",
    "philips-enhanced": (
        "uint16 0..4095 with scl_slope 1/SS = 0.0015347, scl_inter RI/(RS*SS) = -3.142, i.e. the Philips precise"
        " value FP = DV / (RS * SS) in radians -3.142..3.1426 (step 1.535 mrad); radians = value"
    ),
    "ge-classic": "int16 milliradians -3142..3141, no scaling; radians = value / 1000",
}


def phase_truth_after_conversion(flavour: str) -> str:
    """Return one line stating the flavour's phase in dcm2niix's NIfTI and how to get radians.

    Parameters
    ----------
    flavour : str
        One of :data:`FLAVOURS`.

    Returns
    -------
    str
        Stored range (after nibabel applies scl_slope/scl_inter) and the rule to radians.
    """
    return _PHASE_TRUTH[_check_choice(flavour, FLAVOURS, "flavour")]


def write_vendor_series(
    outdir: Path,
    magnitude: np.ndarray,
    phase_radians: np.ndarray,
    echo_times_s: Sequence[float],
    affine: np.ndarray,
    *,
    flavour: str,
    transfer_syntax: str = "explicit",
    echoes_per_series: bool = False,
    identifying: bool = True,
    acquired_at: datetime = datetime(2024, 3, 15, 10, 15, 30, 250000),
    field_strength_t: float = 3.0,
    study_uid: str | None = None,
    series_number: int = 5,
    image_type_prefix: tuple[str, str] = ("ORIGINAL", "PRIMARY"),
    series_description: str = "qsm_megre",
    localizer: bool = False,
    shared_series: bool | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write a multi-echo GRE DICOM export the way ``flavour``'s scanner does.

    Parameters
    ----------
    outdir : Path
        Directory to write into (created).
    magnitude, phase_radians : np.ndarray
        (X, Y, Z, E) float arrays; magnitude 0..4095, phase in radians.
    echo_times_s : sequence of float
        One echo time per echo, seconds.
    affine : np.ndarray
        4x4 RAS+ voxel-to-world matrix (any rotation, anisotropic voxels).
    flavour : str
        One of :data:`FLAVOURS`.
    transfer_syntax : str
        One of :data:`TRANSFER_SYNTAXES`; enhanced files compress each frame.
        "jpeg2000" needs frames of at least 32 x 32 pixels (openjpeg's six
        wavelet levels) and raises ValueError otherwise.
    echoes_per_series : bool
        One series per echo (and per part where the vendor splits parts);
        series numbers count up from ``series_number``.
    identifying : bool
        Fill :data:`synthetic.IDENTIFYING_VALUES` and a private tag.
    acquired_at : datetime
        AcquisitionDateTime / AcquisitionDate+AcquisitionTime (and per-frame
        FrameAcquisitionDateTime in enhanced files).
    field_strength_t : float
        MagneticFieldStrength, tesla.
    study_uid : str, optional
        StudyInstanceUID (new one by default).
    series_number : int
        First series number.
    image_type_prefix : tuple of str
        First two ImageType values; ``("DERIVED", "SECONDARY")`` for a derived image.
    series_description : str
        SeriesDescription and ProtocolName.
    localizer : bool
        Add LOCALIZER to ImageType, as a scout would carry.
    shared_series : bool, optional
        Magnitude and phase in one series (classic flavours); default True for
        GE, False for Siemens.  Enhanced flavours follow the vendor.
    seed : int
        Seed for the order files are written in.

    Returns
    -------
    list of Path
        The files written.
    """
    _check_choice(flavour, FLAVOURS, "flavour")
    _check_choice(transfer_syntax, TRANSFER_SYNTAXES, "transfer_syntax")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    magnitude, phase = np.asarray(magnitude, dtype=float), np.asarray(phase_radians, dtype=float)
    if magnitude.shape != phase.shape or magnitude.ndim != 4 or magnitude.shape[3] != len(echo_times_s):
        raise ValueError("magnitude and phase must be (X, Y, Z, E) with one echo time per echo")
    common = _vendor_common(flavour, identifying, field_strength_t, series_description, study_uid, acquired_at)
    image_type = _image_types(flavour, tuple(image_type_prefix), localizer)
    parts = {"M": np.round(magnitude), "P": _stored_phase(phase, flavour)}
    options = dict(
        common=common,
        parts=parts,
        echo_times_s=list(echo_times_s),
        affine=np.asarray(affine, dtype=float),
        flavour=flavour,
        image_type=image_type,
        syntax=_SYNTAX_UIDS[transfer_syntax],
        series_number=series_number,
        echoes_per_series=echoes_per_series,
    )
    if flavour.endswith("enhanced"):
        return _write_enhanced(outdir, acquired_at=acquired_at, **options)
    shared = flavour.startswith("ge") if shared_series is None else shared_series
    return _write_classic(outdir, shared=shared, seed=seed, **options)


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, not {value!r}")
    return value


def _stored_phase(phase: np.ndarray, flavour: str) -> np.ndarray:
    """Return the phase as the vendor stores it in the pixel data (before any rescale)."""
    wrapped = np.angle(np.exp(1j * phase))  # [-pi, pi], so every vendor range holds it
    if flavour.startswith("ge"):
        return np.clip(np.round(wrapped * 1000), -3142, 3141)
    if flavour.startswith("philips"):
        return np.clip(np.round((wrapped * 1000 - PHILIPS_PHASE_INTERCEPT) / PHILIPS_PHASE_SLOPE), 0, 4095)
    return np.mod(np.round(wrapped * 2048 / np.pi + 2048), 4096)  # Siemens 12-bit


def _vendor_common(flavour, identifying, field_strength_t, description, study_uid, acquired_at) -> Dataset:
    """Return the series-level attributes shared by every file of the export."""
    vendor = flavour.split("-")[0]
    ds = _common_dataset(vendor, field_strength_t, identifying, description, study_uid or generate_uid())
    ds.SoftwareVersions = {"siemens": "syngo MR XA30", "philips": "5.6.1", "ge": "27\\LX\\MR Software release:RX27.0"}[
        vendor
    ]
    if flavour == "siemens-xa-enhanced":
        ds.Manufacturer, ds.ManufacturerModelName = "Siemens Healthineers", "MAGNETOM Prisma"
    elif flavour.startswith("siemens"):
        ds.SoftwareVersions = "syngo MR E11"  # classic single-frame export predates XA
    ds.MRAcquisitionType = "3D"
    ds.ScanningSequence = "GR"
    ds.MagneticFieldStrength = field_strength_t
    # The acquisition instant is what the upload reader dates the scan by.
    date, time = acquired_at.strftime("%Y%m%d"), acquired_at.strftime("%H%M%S.%f")
    ds.AcquisitionDate = ds.ContentDate = ds.SeriesDate = date
    ds.AcquisitionTime = ds.ContentTime = ds.SeriesTime = time
    if not identifying:
        ds.StudyDate, ds.StudyTime = date, time
    return ds


def _image_types(flavour: str, prefix: tuple[str, str], localizer: bool) -> dict[str, list[str]]:
    """Return ImageType per part ("M", "P") as the vendor writes it."""
    extra = ["LOCALIZER"] if localizer else []
    if flavour.startswith("siemens"):
        return {part: [*prefix, part, "ND", *extra] for part in "MP"}
    if flavour.startswith("philips"):
        # Philips enhanced: value 3 is the complex part, value 4 the contrast.
        return {"M": [*prefix, "M", "FFE", *extra], "P": [*prefix, "P", "FFE", *extra]}
    return {part: [*prefix, "OTHER", *extra] for part in "MP"}


def _write_classic(outdir, *, common, parts, echo_times_s, affine, flavour, image_type, syntax, series_number,
                   echoes_per_series, shared, seed) -> list[Path]:
    """Write one file per slice per echo, in a shuffled order like a PACS export."""
    vendor = "ge" if flavour.startswith("ge") else "siemens"
    groups = _series_groups(len(echo_times_s), echoes_per_series, shared)
    slices = [
        (part, echo, k, uid, number)
        for number, (uid, members) in enumerate(groups, start=series_number)
        for part, echoes in members
        for echo in echoes
        for k in range(parts[part].shape[2])
    ]
    order = np.random.default_rng(seed).permutation(len(slices))
    written = []
    for instance, index in enumerate(order, start=1):
        part, echo, k, uid, number = slices[index]
        ds = _slice_dataset(common, affine, parts[part][:, :, k, echo], k, part, vendor)
        ds.ImageType = image_type[part]
        _classic_scaling(ds, part, flavour, parts[part][:, :, k, echo].T)
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = uid, number, instance
        ds.AcquisitionNumber = 1
        ds.EchoNumbers = echo + 1
        ds.EchoTime = DSfloat(1000.0 * echo_times_s[echo], auto_format=True)
        path = outdir / f"IM{number:03d}_{instance:05d}.dcm"
        _save(ds, path, syntax)
        written.append(path)
    return written


def _series_groups(n_echoes: int, echoes_per_series: bool, shared: bool) -> list[tuple[str, list]]:
    """Return (SeriesInstanceUID, [(part, echoes)]) per series, in series-number order."""
    echo_sets = [[e] for e in range(n_echoes)] if echoes_per_series else [list(range(n_echoes))]
    part_sets = [["M", "P"]] if shared else [["M"], ["P"]]
    return [(generate_uid(), [(p, echoes) for p in ps]) for echoes in echo_sets for ps in part_sets]


def _classic_scaling(ds: Dataset, part: str, flavour: str, pixels: np.ndarray) -> None:
    """Set pixel representation and rescale tags of a classic slice for the flavour."""
    if flavour == "siemens-classic":
        return  # synthetic._slice_dataset already writes the Siemens rescale
    for keyword in ("RescaleSlope", "RescaleIntercept", "RescaleType"):
        if keyword in ds:
            delattr(ds, keyword)
    if flavour.startswith("ge"):
        # GE writes signed 16-bit pixels; phase needs the sign.
        ds.PixelRepresentation = 1
        ds.PixelData = np.round(pixels).astype(np.int16).tobytes()


def _write_enhanced(outdir, *, common, parts, echo_times_s, affine, flavour, image_type, syntax, acquired_at,
                    series_number, echoes_per_series) -> list[Path]:
    """Write multi-frame Enhanced MR files as the vendor packs them.

    Philips: one file per series holding both parts and every echo.  Siemens
    XA: one file per volume (echo) in a magnitude and a phase series, since XA
    writes one instance per 3D volume and dcm2niix only sorts the frames of
    one file by DimensionIndexValues for non-Siemens files (nii_dicom.cpp,
    the "we leave the folder MREchoSequence" block of nii_readParse).
    """
    philips = flavour.startswith("philips")
    n_echoes, n_slices = len(echo_times_s), parts["M"].shape[2]
    echo_sets = [[e] for e in range(n_echoes)] if echoes_per_series else [list(range(n_echoes))]
    part_sets = [["M", "P"]] if philips else [["M"], ["P"]]
    written = []
    for number, (echoes, part_set) in enumerate(
        ((echoes, part_set) for echoes in echo_sets for part_set in part_sets), start=series_number
    ):
        series_uid = generate_uid()
        files = [echoes] if philips else [[e] for e in echoes]
        for instance, file_echoes in enumerate(files, start=1):
            frames = [(part, e, k) for part in part_set for e in file_echoes for k in range(n_slices)]
            ds = _enhanced_dataset(common, parts, frames, echo_times_s, affine, flavour, image_type, acquired_at)
            ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = series_uid, number, instance
            if not philips:
                ds.EchoNumbers = file_echoes[0] + 1
            path = outdir / f"EN{number:03d}_{instance:04d}.dcm"
            _save(ds, path, syntax)
            written.append(path)
    return written


def _enhanced_dataset(common, parts, frames, echo_times_s, affine, flavour, image_type, acquired_at) -> Dataset:
    """Return one Enhanced MR Image dataset holding ``frames`` as (part, echo, slice)."""
    philips = flavour.startswith("philips")
    frame_parts = sorted({part for part, _, _ in frames})
    ds = Dataset()
    ds.update(common)
    for keyword in ("EchoTime", "ScanningSequence", "SequenceVariant", "RepetitionTime", "FlipAngle"):
        if keyword in ds:  # classic-only attributes live in functional groups in enhanced MR
            delattr(ds, keyword)
    ds.SOPClassUID = ENHANCED_MR_IMAGE_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.AcquisitionNumber = 1
    ds.ImageType = image_type["M"] if frame_parts == ["M"] else image_type["P"]
    if len(frame_parts) > 1:
        ds.ImageType = [*image_type["M"][:2], "MIXED", image_type["M"][3], *image_type["M"][4:]]
    ds.PixelPresentation, ds.VolumetricProperties, ds.VolumeBasedCalculationTechnique = "MONOCHROME", "VOLUME", "NONE"
    ds.ComplexImageComponent = "MIXED" if len(frame_parts) > 1 else _complex_name(frame_parts[0])
    ds.AcquisitionContrast = "T2_STAR"
    ds.AcquisitionDateTime = acquired_at.strftime("%Y%m%d%H%M%S.%f")
    ds.AcquisitionDuration = 300.0
    ds.ContentQualification, ds.BurnedInAnnotation, ds.ResonantNucleus = "PRODUCT", "NO", "1H"
    ds.PulseSequenceName = "*fl3d" if not philips else "FFE"
    ds.EchoPulseSequence, ds.MultipleSpinEcho, ds.PhaseContrast = "GRADIENT", "NO", "NO"
    ds.KSpaceFiltering, ds.ImagingFrequency = "NONE", common.ImagingFrequency
    ds.update(_dimension_organization(philips))
    iop, positions, spacing, thickness = _plane_geometry(affine, parts["M"].shape[2])
    ds.SharedFunctionalGroupsSequence = [_shared_group(spacing, thickness, flavour, frame_parts, image_type)]
    ds.PerFrameFunctionalGroupsSequence = [
        _frame_group(part, echo, k, positions[k], iop, echo_times_s, acquired_at, flavour, image_type)
        for i, (part, echo, k) in enumerate(frames)
    ]
    pixels = np.stack([parts[part][:, :, k, echo].T for part, echo, k in frames])
    _set_frames(ds, pixels)
    if "PatientBirthDate" in common and not philips:
        ds.private_block(0x0021, "SIEMENS MR SDR 01", create=True).add_new(0x01, "LO", "MRN12345 Doe^Jane")
    return ds


def _complex_name(part: str) -> str:
    return {"M": "MAGNITUDE", "P": "PHASE"}[part]


def _plane_geometry(affine: np.ndarray, n_slices: int):
    """Return ImageOrientationPatient, per-slice ImagePositionPatient, PixelSpacing, slice step (LPS)."""
    lps = _LPS_FROM_RAS @ affine
    column_step, row_step, slice_step = (float(np.linalg.norm(lps[:3, i])) for i in range(3))
    iop = [*(lps[:3, 0] / column_step), *(lps[:3, 1] / row_step)]
    positions = [lps[:3, 3] + k * lps[:3, 2] for k in range(n_slices)]
    return iop, positions, [row_step, column_step], slice_step


def _ds_list(values) -> list[DSfloat]:
    return [DSfloat(float(v), auto_format=True) for v in values]


def _dimension_organization(philips: bool) -> Dataset:
    """Return DimensionOrganization/IndexSequence: stack, slice, echo (and part for Philips)."""
    uid = generate_uid()
    pointers = [
        (0x00209056, 0x00209111, "Stack ID"),
        (0x00209057, 0x00209111, "In-Stack Position Number"),
        (0x00189082, 0x00189114, "Effective Echo Time"),
    ]
    if philips:
        pointers.append((0x00089208, 0x00189226, "Complex Image Component"))
    out = Dataset()
    out.DimensionOrganizationSequence = [Dataset()]
    out.DimensionOrganizationSequence[0].DimensionOrganizationUID = uid
    out.DimensionOrganizationType = "3D"
    items = []
    for index_pointer, group_pointer, label in pointers:
        item = Dataset()
        item.DimensionOrganizationUID = uid
        item.DimensionIndexPointer = index_pointer
        item.FunctionalGroupPointer = group_pointer
        item.DimensionDescriptionLabel = label
        items.append(item)
    out.DimensionIndexSequence = items
    return out


def _shared_group(spacing, thickness, flavour, frame_parts, image_type) -> Dataset:
    """Return the SharedFunctionalGroupsSequence item: voxel size, timing, and (Siemens) part and scaling."""
    group = Dataset()
    measures = Dataset()
    measures.PixelSpacing = _ds_list(spacing)
    measures.SliceThickness = DSfloat(thickness, auto_format=True)
    measures.SpacingBetweenSlices = DSfloat(thickness, auto_format=True)
    group.PixelMeasuresSequence = [measures]
    timing = Dataset()
    timing.RepetitionTime, timing.FlipAngle = 30.0, 15.0
    group.MRTimingAndRelatedParametersSequence = [timing]
    if not flavour.startswith("philips"):
        # XA files hold one part, so its type and scaling are the same for all frames.
        part = frame_parts[0]
        group.MRImageFrameTypeSequence = [_frame_type(part, image_type)]
        group.PixelValueTransformationSequence = [_siemens_transformation(part)]
    return group


def _frame_type(part: str, image_type) -> Dataset:
    item = Dataset()
    item.FrameType = image_type[part]
    item.PixelPresentation, item.VolumetricProperties, item.VolumeBasedCalculationTechnique = (
        "MONOCHROME",
        "VOLUME",
        "NONE",
    )
    item.ComplexImageComponent = _complex_name(part)
    item.AcquisitionContrast = "T2_STAR"
    return item


def _siemens_transformation(part: str) -> Dataset:
    item = Dataset()
    item.RescaleIntercept, item.RescaleSlope, item.RescaleType = (-4096, 2, "US") if part == "P" else (0, 1, "US")
    return item


def _frame_group(part, echo, k, position, iop, echo_times_s, acquired_at, flavour, image_type) -> Dataset:
    """Return one PerFrameFunctionalGroupsSequence item.

    Orientation is per frame, as XA and Philips write it.  With orientation
    only in the shared group, dcm2niix sorts a Siemens file's frames by
    position ("issue 372" in nii_dicom.cpp) and then compares per-frame
    rescale values it never filled in (dcmDim is malloc'd, not zeroed), so the
    second and later enhanced files of one run came out as garbage floats.
    """
    philips = flavour.startswith("philips")
    group = Dataset()
    content = Dataset()
    content.FrameAcquisitionDateTime = acquired_at.strftime("%Y%m%d%H%M%S.%f")
    content.FrameReferenceDateTime = content.FrameAcquisitionDateTime
    content.FrameAcquisitionDuration = 300000.0
    content.StackID = "1"
    content.InStackPositionNumber = k + 1
    content.TemporalPositionIndex = 1
    content.FrameAcquisitionNumber = 1
    index_values = [1, k + 1, echo + 1] + ([1 if part == "M" else 2] if philips else [])
    content.DimensionIndexValues = index_values
    group.FrameContentSequence = [content]
    plane = Dataset()
    plane.ImagePositionPatient = _ds_list(position)
    group.PlanePositionSequence = [plane]
    orientation = Dataset()
    orientation.ImageOrientationPatient = _ds_list(iop)
    group.PlaneOrientationSequence = [orientation]
    echo_item = Dataset()
    echo_item.EffectiveEchoTime = 1000.0 * echo_times_s[echo]
    group.MREchoSequence = [echo_item]
    if philips:
        group.MRImageFrameTypeSequence = [_frame_type(part, image_type)]
        group.PixelValueTransformationSequence = [_philips_transformation(part)]
        group.RealWorldValueMappingSequence = [_philips_real_world(part)]
        # Philips puts its "scale slope" (2005,100E) in every frame's functional groups.
        scale = PHILIPS_SCALE_SLOPE if part == "P" else 1.0
        group.private_block(0x2005, "Philips MR Imaging DD 001", create=True).add_new(0x0E, "FL", scale)
    return group


def _philips_transformation(part: str) -> Dataset:
    item = Dataset()
    if part == "P":
        item.RescaleIntercept = DSfloat(PHILIPS_PHASE_INTERCEPT, auto_format=True)
        item.RescaleSlope = DSfloat(PHILIPS_PHASE_SLOPE, auto_format=True)
        item.RescaleType = "mrad"
    else:
        item.RescaleIntercept, item.RescaleSlope, item.RescaleType = 0, 1, "normalized"
    return item


def _philips_real_world(part: str) -> Dataset:
    """Return a RealWorldValueMappingSequence item mapping stored values as the rescale does."""
    phase = part == "P"
    item = Dataset()
    item.LUTExplanation, item.LUTLabel = ("Phase", "Phase") if phase else ("Magnitude", "Magnitude")
    units = Dataset()
    units.CodeValue, units.CodingSchemeDesignator = ("mrad", "UCUM") if phase else ("1", "UCUM")
    units.CodeMeaning = "milliradian" if phase else "no units"
    item.MeasurementUnitsCodeSequence = [units]
    item.RealWorldValueFirstValueMapped, item.RealWorldValueLastValueMapped = 0, 4095
    item.RealWorldValueIntercept = PHILIPS_PHASE_INTERCEPT if phase else 0.0
    item.RealWorldValueSlope = PHILIPS_PHASE_SLOPE if phase else 1.0
    return item


def _set_frames(ds: Dataset, frames: np.ndarray) -> None:
    """Store (F, rows, columns) unsigned 16-bit frames."""
    stored = np.clip(np.round(frames), 0, 65535).astype(np.uint16)
    ds.NumberOfFrames = stored.shape[0]
    ds.Rows, ds.Columns = stored.shape[1:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = stored.tobytes()


def _save(ds: Dataset, path: Path, syntax: str) -> None:
    """Write ``ds`` with the given transfer syntax (compressing pixel data if needed)."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if syntax == JPEG2000Lossless and min(ds.Rows, ds.Columns) < 32:
        # openjpeg (via pylibjpeg) always uses 6 wavelet resolutions: 2**5 pixels minimum.
        raise ValueError("jpeg2000 needs images of at least 32 x 32 pixels")
    if syntax not in (ExplicitVRLittleEndian, JPEGLosslessSV1):
        # Each frame becomes one fragment; pydicom encodes losslessly.
        ds.compress(syntax, generate_instance_uid=False)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    if syntax == JPEGLosslessSV1:
        _gdcm_jpeg_lossless(path)


def _gdcm_jpeg_lossless(path: Path) -> None:
    """Re-encode a written file's pixel data as JPEG lossless (process 14, SV1) with GDCM, in place.

    Only the pixel data element and the transfer syntax change: GDCM's ImageWriter would
    rewrite an MR image as Enhanced MR, so the plain Writer stores the dataset as it was.
    """
    import gdcm  # test extra (python-gdcm); only this syntax needs it

    syntax = gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1)
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(syntax)
    if not reader.Read():
        raise RuntimeError(f"GDCM could not read {path}")
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise RuntimeError(f"GDCM could not encode {path} as JPEG lossless")
    file = reader.GetFile()
    file.GetDataSet().Replace(change.GetOutput().GetDataElement())
    file.GetHeader().SetDataSetTransferSyntax(syntax)
    writer = gdcm.Writer()
    writer.SetFileName(str(path))
    writer.SetFile(file)
    if not writer.Write():
        raise RuntimeError(f"GDCM could not write {path}")
