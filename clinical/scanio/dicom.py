"""Classic single-frame DICOM: index headers, pick the GRE series, assemble 4D arrays.

Headers are indexed first with ``stop_before_pixels=True`` and reduced to a
small :class:`SliceHeader` each, so a whole exam can be scanned without
holding datasets in memory.  Pixels are then read one file at a time into a
preallocated float32 array, and each file is de-identified and written to
the work directory in the same pass.

Geometry: voxel axis i runs along a DICOM row (the ImageOrientationPatient
row cosine, spaced PixelSpacing[1]), axis j down the columns
(PixelSpacing[0]) and axis k along the slice normal (row x column cosine),
slices sorted by ImagePositionPatient projected on that normal.  The LPS
affine built from these is turned into RAS+ by negating its first two rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from qsm.inputs import echo_times_s, field_strength_t, phase_to_radians, same_grid

from . import dates
from .deid import deidentify_dataset
from .errors import UploadError
from .model import DecodedScan
from .safezip import SourceFile

MAGNITUDE = "magnitude"
PHASE = "phase"

ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
MEDIA_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"
_PHASE_TOKENS = frozenset({"P", "PHASE", "PHASE MAP"})
_MAGNITUDE_TOKENS = frozenset({"M", "MAGNITUDE"})
_GE_PART = {0: MAGNITUDE, 1: PHASE}
_PHILIPS_PART = {"M": MAGNITUDE, "P": PHASE}
#: Tolerances: DS strings carry limited digits, so geometry is compared loosely.
_ORIENTATION_TOL = 1e-4
_POSITION_TOL_MM = 1e-2
_ECHO_TIME_TOL_MS = 1e-3
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_REMEDY_SERIES = "upload the complete magnitude and phase series of one multi-echo GRE scan"
_REMEDY_ENHANCED = "convert with dcm2niix and upload the NIfTI + JSON files"


@dataclass(frozen=True)
class SliceHeader:
    """What the reader needs from one DICOM file's header."""

    source: SourceFile
    series_uid: str
    part: str | None
    echo_number: int | None
    echo_time_ms: float | None
    orientation: tuple[float, ...] | None
    position: tuple[float, float, float] | None
    pixel_spacing: tuple[float, float] | None
    rows: int
    columns: int
    enhanced: bool


@dataclass
class SeriesLayout:
    """A validated series: slices ordered by echo then position."""

    files: list[list[SliceHeader]]
    echo_times_ms: list[float]
    affine: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int, int]:
        first = self.files[0][0]
        return first.columns, first.rows, len(self.files[0]), len(self.files)

    @property
    def first(self) -> SourceFile:
        return self.files[0][0].source

    def matches(self, other: SeriesLayout) -> bool:
        return (
            self.shape == other.shape
            and np.allclose(self.echo_times_ms, other.echo_times_ms, atol=_ECHO_TIME_TOL_MS)
            and same_grid(self.shape, self.affine, other.shape, other.affine)
        )


def read_dicom_header(source: SourceFile) -> SliceHeader | None:
    """Index one file's header, or return None if it is not DICOM.

    Parameters
    ----------
    source : SourceFile
        Candidate file.

    Returns
    -------
    SliceHeader or None
        None for non-DICOM files; DICOMDIR and non-image objects give a
        header with ``part=None`` so they are ignored.
    """
    try:
        ds = pydicom.dcmread(source.path, stop_before_pixels=True)
    except InvalidDicomError:
        ds = _read_headerless_dicom(source.path)
        if ds is None:
            return None
    except Exception:  # pydicom raises many types on truncated or garbled files
        return None
    return _slice_header(ds, source)


def _read_headerless_dicom(path: Path):
    """Read a DICOM dataset written without preamble, if it looks like one."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # forced parsing of arbitrary bytes fails in arbitrary ways
        return None
    return ds if "SOPClassUID" in ds and "Modality" in ds else None


def _slice_header(ds, source: SourceFile) -> SliceHeader:
    sop_class = str(ds.get("SOPClassUID", ""))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    is_image = "Rows" in ds and sop_class != MEDIA_DIRECTORY_STORAGE
    return SliceHeader(
        source=source,
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        part=_image_part(ds) if is_image else None,
        echo_number=_optional_int(ds.get("EchoNumbers")),
        echo_time_ms=_optional_float(ds.get("EchoTime")),
        orientation=_floats(ds.get("ImageOrientationPatient"), 6),
        position=_floats(ds.get("ImagePositionPatient"), 3),
        pixel_spacing=_floats(ds.get("PixelSpacing"), 2),
        rows=int(ds.get("Rows", 0)),
        columns=int(ds.get("Columns", 0)),
        enhanced=sop_class == ENHANCED_MR_STORAGE or frames > 1,
    )


def _optional_int(value) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0]
    return int(value)


def _optional_float(value) -> float | None:
    return None if value is None or value == "" else float(value)


def _floats(value, count: int) -> tuple[float, ...] | None:
    if value is None or len(value) != count:
        return None
    return tuple(float(v) for v in value)


def _image_part(ds) -> str | None:
    """Tell magnitude from phase the way dcm2niix does: vendor tags, then ImageType."""
    ge = _private_value(ds, 0x0043, "GEMS_PARM_01", 0x2F)
    if ge is not None:
        code = int.from_bytes(ge[:2], "little", signed=True) if isinstance(ge, bytes) else int(_first(ge))
        return _GE_PART.get(code)
    philips = _private_value(ds, 0x2005, "Philips MR Imaging DD 001", 0x11)
    if philips is not None:
        code = philips.decode("ascii", "replace") if isinstance(philips, bytes) else str(_first(philips))
        return _PHILIPS_PART.get(code.strip().upper())
    tokens = {str(t).strip().upper() for t in ds.get("ImageType", [])}
    if tokens & _PHASE_TOKENS:
        return PHASE
    if tokens & _MAGNITUDE_TOKENS:
        return MAGNITUDE
    return None


def _private_value(ds, group: int, creator: str, offset: int):
    try:
        return ds.private_block(group, creator)[offset].value
    except KeyError:
        return None


def _first(value):
    return value[0] if isinstance(value, (list, pydicom.multival.MultiValue)) else value


def read_dicom_scan(
    headers: list[SliceHeader], deid_dir: Path, study_code: str, salt: str
) -> DecodedScan:
    """Pick the GRE magnitude/phase pair, read it and de-identify it.

    Parameters
    ----------
    headers : list of SliceHeader
        Every DICOM file of the upload.
    deid_dir : Path
        Where the de-identified copies go (``magnitude/e1/0001.dcm`` ...).
    study_code : str
        Replaces PatientName and PatientID.
    salt : str
        Key for UID replacement.

    Returns
    -------
    DecodedScan
        The chosen magnitude/phase pair, ``source_format="dicom"``.

    Raises
    ------
    UploadError
        If no consistent multi-echo magnitude/phase pair can be read.
    """
    magnitude_layout, phase_layout = choose_pair(headers)
    shape = magnitude_layout.shape
    magnitude = np.empty(shape, dtype=np.float32)
    phase = np.empty(shape, dtype=np.float32)
    _read_pixels(magnitude_layout, magnitude, deid_dir / MAGNITUDE, study_code, salt)
    _read_pixels(phase_layout, phase, deid_dir / PHASE, study_code, salt)
    _phase_to_radians(phase, phase_layout)
    sidecar, field = _acquisition_sidecar(magnitude_layout, phase_layout)
    header = pydicom.dcmread(magnitude_layout.first.path, stop_before_pixels=True)
    return DecodedScan(
        acquired_at=dates.from_dicom(header),
        magnitude=magnitude,
        phase=phase,
        affine=magnitude_layout.affine,
        echo_times_s=[t / 1000.0 for t in magnitude_layout.echo_times_ms],
        sidecar=sidecar,
        field_strength_t=field,
        source_format="dicom",
    )


def choose_pair(headers: list[SliceHeader]) -> tuple[SeriesLayout, SeriesLayout]:
    """Choose the multi-echo magnitude series and its matching phase series.

    Series are keyed by (SeriesInstanceUID, image part) because GE and
    Philips may store magnitude and phase in one series.  Series that cannot
    be laid out (e.g. a three-plane localizer) are skipped unless nothing
    else is left, in which case their specific problem is reported.
    """
    groups: dict[tuple[str, str], list[SliceHeader]] = defaultdict(list)
    for header in headers:
        if header.part is not None and not header.enhanced:
            groups[(header.series_uid, header.part)].append(header)
    by_part = {part: [g for key, g in groups.items() if key[1] == part] for part in (MAGNITUDE, PHASE)}
    _require_both_parts(headers, by_part)
    layouts = {part: _valid_layouts(by_part[part]) for part in (MAGNITUDE, PHASE)}
    pairs = [(m, p) for m in layouts[MAGNITUDE] for p in layouts[PHASE] if m.matches(p)]
    if not pairs:
        _explain_mismatch(by_part)
    most_echoes = max(m.shape[3] for m, _ in pairs)
    best = [pair for pair in pairs if pair[0].shape[3] == most_echoes]
    if len(best) > 1:
        names = ", ".join(f"{m.first.name} with {p.first.name}" for m, p in best)
        raise UploadError(
            best[0][0].first.name,
            f"several {most_echoes}-echo magnitude/phase series pairs found ({names})",
            "upload one GRE scan at a time",
        )
    return best[0]


def _require_both_parts(headers: list[SliceHeader], by_part: dict[str, list]) -> None:
    enhanced = next((h for h in headers if h.enhanced), None)
    if enhanced is not None and not (by_part[MAGNITUDE] and by_part[PHASE]):
        raise UploadError(enhanced.source.name, "is an enhanced (multi-frame) DICOM, which is not read", _REMEDY_ENHANCED)
    name = headers[0].source.name
    if not by_part[MAGNITUDE]:
        raise UploadError(name, "no magnitude images (ImageType M/MAGNITUDE) found in the DICOM files", _REMEDY_SERIES)
    if not by_part[PHASE]:
        raise UploadError(name, "no phase images (ImageType P/PHASE) found in the DICOM files", _REMEDY_SERIES)


def _valid_layouts(groups: list[list[SliceHeader]]) -> list[SeriesLayout]:
    layouts = []
    for group in groups:
        try:
            layouts.append(layout_series(group))
        except UploadError:
            continue
    return layouts


def _explain_mismatch(by_part: dict[str, list[list[SliceHeader]]]) -> None:
    """Raise the most specific error for the largest magnitude and phase series."""
    magnitude = layout_series(max(by_part[MAGNITUDE], key=len))
    phase = layout_series(max(by_part[PHASE], key=len))
    name = phase.first.name
    if magnitude.shape != phase.shape:
        raise UploadError(
            name,
            f"phase grid {_dims(phase.shape)} differs from magnitude {_dims(magnitude.shape)} "
            f"({magnitude.first.name})",
            "upload magnitude and phase from the same scan",
        )
    if not np.allclose(magnitude.echo_times_ms, phase.echo_times_ms, atol=_ECHO_TIME_TOL_MS):
        raise UploadError(
            name,
            f"phase echo times {_ms(phase.echo_times_ms)} differ from magnitude {_ms(magnitude.echo_times_ms)}",
            "upload magnitude and phase from the same scan",
        )
    raise UploadError(
        name,
        f"phase slice positions/orientation differ from magnitude ({magnitude.first.name}) by more than 1e-3 mm",
        "upload magnitude and phase from the same scan",
    )


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape[:3]) + f" with {shape[3]} echoes"


def _ms(times: list[float]) -> str:
    return "[" + ", ".join(f"{t:g}" for t in times) + "] ms"


def layout_series(group: list[SliceHeader]) -> SeriesLayout:
    """Check one series' geometry and order its files by echo and slice.

    Raises
    ------
    UploadError
        Naming the first file that breaks consistency.
    """
    _check_geometry_present(group)
    _check_same_plane(group)
    echoes = _group_echoes(group)
    echo_times = [_echo_time(files) for files in echoes]
    echo_times_s(echo_times, "ms", [files[0].source.name for files in echoes], "DICOM EchoTime")
    normal = _slice_normal(group[0])
    ordered = [_sorted_slices(files, normal) for files in echoes]
    _check_same_slices(ordered, normal)
    return SeriesLayout(files=ordered, echo_times_ms=echo_times, affine=_affine(ordered[0]))


def _check_geometry_present(group: list[SliceHeader]) -> None:
    for header in group:
        if header.orientation is None or header.position is None or header.pixel_spacing is None:
            raise UploadError(
                header.source.name,
                "lacks ImageOrientationPatient, ImagePositionPatient or PixelSpacing",
                "export the original scanner images, not screenshots or secondary captures",
            )


def _check_same_plane(group: list[SliceHeader]) -> None:
    first = group[0]
    for header in group[1:]:
        same = (
            header.rows == first.rows
            and header.columns == first.columns
            and np.allclose(header.orientation, first.orientation, atol=_ORIENTATION_TOL)
            and np.allclose(header.pixel_spacing, first.pixel_spacing, atol=1e-4)
        )
        if not same:
            raise UploadError(
                header.source.name,
                f"image size, orientation or pixel spacing differs from {first.source.name} in the same series",
                _REMEDY_SERIES,
            )


def _group_echoes(group: list[SliceHeader]) -> list[list[SliceHeader]]:
    missing = next((h for h in group if h.echo_time_ms is None), None)
    if missing is not None:
        raise UploadError(missing.source.name, "has no EchoTime (0018,0081)", _REMEDY_SERIES)
    use_numbers = all(h.echo_number is not None for h in group)
    echoes: dict[float, list[SliceHeader]] = defaultdict(list)
    for header in group:
        key = header.echo_number if use_numbers else round(header.echo_time_ms, 3)
        echoes[key].append(header)
    return [echoes[key] for key in sorted(echoes)]


def _echo_time(files: list[SliceHeader]) -> float:
    first = files[0]
    for header in files[1:]:
        if abs(header.echo_time_ms - first.echo_time_ms) > _ECHO_TIME_TOL_MS:
            raise UploadError(
                header.source.name,
                f"EchoTime {header.echo_time_ms:g} ms differs from {first.echo_time_ms:g} ms "
                f"of {first.source.name} with the same EchoNumbers",
                _REMEDY_SERIES,
            )
    return first.echo_time_ms


def _slice_normal(header: SliceHeader) -> np.ndarray:
    row, column = np.array(header.orientation[:3]), np.array(header.orientation[3:])
    return np.cross(row, column)


def _sorted_slices(files: list[SliceHeader], normal: np.ndarray) -> list[SliceHeader]:
    ordered = sorted(files, key=lambda h: float(np.dot(h.position, normal)))
    for below, above in zip(ordered, ordered[1:]):
        if np.dot(np.subtract(above.position, below.position), normal) < _POSITION_TOL_MM:
            raise UploadError(
                above.source.name,
                f"has the same slice position and echo as {below.source.name}",
                "upload each image once, from one series",
            )
    return ordered


def _check_same_slices(ordered: list[list[SliceHeader]], normal: np.ndarray) -> None:
    reference = ordered[0]
    if len(reference) < 2:
        raise UploadError(
            reference[0].source.name, "is a single 2D slice per echo", "upload the whole 3D multi-echo series"
        )
    for echo, files in enumerate(ordered[1:], start=2):
        if len(files) != len(reference):
            raise UploadError(
                files[0].source.name,
                f"echo {echo} has {len(files)} slices but echo 1 has {len(reference)}",
                _REMEDY_SERIES,
            )
        for header, ref in zip(files, reference):
            if not np.allclose(header.position, ref.position, atol=_POSITION_TOL_MM):
                raise UploadError(header.source.name, f"slice position differs from {ref.source.name}", _REMEDY_SERIES)
    step = (np.array(reference[-1].position) - np.array(reference[0].position)) / (len(reference) - 1)
    tolerance = max(_POSITION_TOL_MM, 0.02 * float(np.linalg.norm(step)))
    for index, header in enumerate(reference):
        expected = np.array(reference[0].position) + index * step
        if np.linalg.norm(np.array(header.position) - expected) > tolerance:
            raise UploadError(
                header.source.name,
                "slice positions are not evenly spaced along one line (a slice is missing?)",
                _REMEDY_SERIES,
            )


def _affine(slices: list[SliceHeader]) -> np.ndarray:
    first, last = slices[0], slices[-1]
    row_cosine, column_cosine = np.array(first.orientation[:3]), np.array(first.orientation[3:])
    row_spacing, column_spacing = first.pixel_spacing
    lps = np.eye(4)
    lps[:3, 0] = row_cosine * column_spacing
    lps[:3, 1] = column_cosine * row_spacing
    lps[:3, 2] = (np.array(last.position) - np.array(first.position)) / (len(slices) - 1)
    lps[:3, 3] = first.position
    return _LPS_TO_RAS @ lps


def _read_pixels(layout: SeriesLayout, out: np.ndarray, deid_dir: Path, study_code: str, salt: str) -> None:
    """Fill ``out[..., slice, echo]`` file by file, writing de-identified copies."""
    for echo, files in enumerate(layout.files):
        echo_dir = deid_dir / f"e{echo + 1}"
        echo_dir.mkdir(parents=True, exist_ok=True)
        for index, header in enumerate(files):
            ds = pydicom.dcmread(header.source.path)
            out[:, :, index, echo] = _scaled_pixels(ds, header).T
            deidentify_dataset(ds, study_code, salt)
            pydicom.dcmwrite(echo_dir / f"{index + 1:04d}.dcm", ds, enforce_file_format=True)


def _scaled_pixels(ds, header: SliceHeader) -> np.ndarray:
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # missing codec, truncated data: pydicom varies
        raise UploadError(
            header.source.name,
            f"pixel data cannot be decoded ({exc})",
            "export the series uncompressed (explicit VR little endian)",
        ) from exc
    if pixels.shape != (header.rows, header.columns):
        raise UploadError(header.source.name, f"pixel array has shape {pixels.shape}, expected one 2D image", _REMEDY_ENHANCED)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _phase_to_radians(phase: np.ndarray, layout: SeriesLayout) -> None:
    """Convert phase in place to radians; a refusal names the slice holding the most extreme value."""
    phase_to_radians([
        (header.source.name, phase[:, :, index, echo])
        for echo, files in enumerate(layout.files)
        for index, header in enumerate(files)
    ])


def _acquisition_sidecar(magnitude: SeriesLayout, phase: SeriesLayout) -> tuple[dict, float | None]:
    """Build the de-identified sidecar from non-identifying header fields only."""
    ds = pydicom.dcmread(magnitude.first.path, stop_before_pixels=True)
    phase_ds = pydicom.dcmread(phase.first.path, stop_before_pixels=True)
    field = _optional_float(ds.get("MagneticFieldStrength"))
    if field is not None:
        field = field_strength_t(field, magnitude.first.name, "MagneticFieldStrength")
    sidecar = {
        "Manufacturer": str(ds.get("Manufacturer", "")),
        "ManufacturersModelName": str(ds.get("ManufacturerModelName", "")),
        "SoftwareVersions": str(ds.get("SoftwareVersions", "")),
        "MagneticFieldStrength": field,
        "ProtocolName": str(ds.get("ProtocolName", "")),
        "SeriesDescription": str(ds.get("SeriesDescription", "")),
        "SeriesNumber": _optional_int(ds.get("SeriesNumber")),
        "PhaseSeriesNumber": _optional_int(phase_ds.get("SeriesNumber")),
        "ImageType": [str(t) for t in ds.get("ImageType", [])],
        "PhaseImageType": [str(t) for t in phase_ds.get("ImageType", [])],
        "EchoTime": [t / 1000.0 for t in magnitude.echo_times_ms],
        "RepetitionTime": _seconds(ds.get("RepetitionTime")),
        "FlipAngle": _optional_float(ds.get("FlipAngle")),
        "ImagingFrequency": _optional_float(ds.get("ImagingFrequency")),
        "MRAcquisitionType": str(ds.get("MRAcquisitionType", "")),
        "SliceThickness": _optional_float(ds.get("SliceThickness")),
    }
    return sidecar, field


def _seconds(milliseconds) -> float | None:
    value = _optional_float(milliseconds)
    return None if value is None else value / 1000.0
