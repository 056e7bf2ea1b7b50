"""DICOM uploads: index the headers, pick the gradient-echo series, convert them with dcm2niix.

dcm2niix is the converter of record [1]_: it reads classic and enhanced
(multi-frame) DICOM of every vendor, the compressed transfer syntaxes (JPEG
lossless, JPEG-LS, JPEG 2000, RLE), one series per echo or all echoes in one,
magnitude and phase in one series or two, and knows each vendor's quirks.  What
stays here is what it does not do for us:

* **Indexing** (pydicom, headers only): every file of an upload or a whole exam
  becomes a small :class:`DicomHeader`.  Truncated files are found here
  (pixel data shorter than Rows x Columns x frames, or an encapsulated stream
  without its end marker), since a converter skips them without a word.
* **Choosing**: only original, non-localizer gradient-echo images holding
  magnitude, phase, real or imaginary parts are converted; when nothing is left,
  the refusal names the user's file and what it was (localizer, derived image,
  another sequence).
* **Assembling** the NIfTI + JSON that dcm2niix writes goes through the same
  reader as a NIfTI upload (:mod:`clinical.scanio.nifti`), so echo order, grids,
  real/imaginary pairs and the vendor's phase scale (:mod:`qsm.inputs`) are
  judged in one place; its messages name the user's DICOM file and series.
* **De-identification** of the stored originals (:mod:`clinical.scanio.deid`).

References
----------
.. [1] Li X, Morgan PS, Ashburner J, Smith J, Rorden C. The first step for
   neuroimaging data analysis: DICOM to NIfTI conversion. J Neurosci Methods
   2016;264:47-56.  https://github.com/rordenlab/dcm2niix
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from .deid import deidentify_dataset
from .errors import UploadError, without_paths
from .model import DecodedScan
from .nifti import read_converted_scan
from .safezip import SourceFile

MAGNITUDE, PHASE, REAL, IMAGINARY = "magnitude", "phase", "real", "imaginary"
MEDIA_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"
#: MR Image Storage and Enhanced MR Image Storage: files that must carry pixel data.
MR_IMAGE_STORAGE = frozenset({"1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1"})
#: Longest a conversion may take; a 1 GiB exam converts in well under a minute.
CONVERSION_TIMEOUT_S = 600
_TOKEN_PARTS = {"M": MAGNITUDE, "MAGNITUDE": MAGNITUDE, "P": PHASE, "PHASE": PHASE, "PHASE MAP": PHASE,
                "R": REAL, "REAL": REAL, "I": IMAGINARY, "IMAGINARY": IMAGINARY}
_GE_PARTS = {0: MAGNITUDE, 1: PHASE, 2: REAL, 3: IMAGINARY}
_LOCALIZER_NAME = re.compile(r"locali[sz]er|scout|survey|3[- ]?plane|aahead", re.IGNORECASE)
_ITEM_DELIMITER_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
#: dcm2niix warnings about harmless export habits, left out of refusals.
_ROUTINE_WARNINGS = ("Instance Number (0020,0013) order is not spatial", "exported as classic not enhanced")
_REMEDY_SERIES = "upload the original magnitude and phase series of the multi-echo GRE (QSM) scan"
_REMEDY_COPY = "copy the file again from the scanner or PACS export and upload it again"


@dataclass(frozen=True)
class DicomHeader:
    """What choosing a series needs from one DICOM file's header."""

    source: SourceFile
    series_uid: str
    manufacturer: str
    series_number: int | None
    description: str
    image_type: tuple[str, ...]
    image: bool
    parts: frozenset[str]
    echo_number: int | None
    echo_time_ms: float | None
    enhanced: bool
    sequence: str
    gradient_echo: bool | None
    localizer: bool
    truncated: str | None

    @property
    def derived(self) -> bool:
        return bool(self.image_type) and self.image_type[0] == "DERIVED"

    @property
    def series(self) -> str:
        """The series as the scanner console shows it: ``series 5 'qsm_megre'``."""
        number = f"series {self.series_number}" if self.series_number is not None else "a series"
        return f"{number} '{self.description}'" if self.description else number


def read_dicom_header(source: SourceFile) -> DicomHeader | None:
    """Index one file's header, or return None if it is not DICOM.

    Parameters
    ----------
    source : SourceFile
        Candidate file.

    Returns
    -------
    DicomHeader or None
        None for files that are not DICOM.  DICOMDIR and non-image objects
        give a header without parts, so they are passed over.

    Raises
    ------
    UploadError
        For a DICOM file cut short inside its header.
    """
    try:
        with source.path.open("rb") as handle:
            ds = pydicom.dcmread(handle, stop_before_pixels=True, force=_is_headerless(source.path))
            pixel_offset = handle.tell()
    except InvalidDicomError:
        return None
    except Exception as exc:  # pydicom raises many types on garbled files
        if _has_dicom_magic(source.path):
            raise UploadError(source.name, f"is a truncated or damaged DICOM file ({without_paths(str(exc))})",
                              _REMEDY_COPY) from exc
        return None
    if "SOPClassUID" not in ds and "MediaStorageSOPClassUID" not in getattr(ds, "file_meta", {}):
        return None
    return _header(ds, source, _truncation(ds, source.path, pixel_offset))


def _has_dicom_magic(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def _is_headerless(path: Path) -> bool:
    """Files written without the 128-byte preamble start with group 0008 (or 0002) in little endian."""
    if _has_dicom_magic(path):
        return False
    with path.open("rb") as handle:
        start = handle.read(4)
    return start[:2] in (b"\x08\x00", b"\x02\x00") and len(start) == 4


def _truncation(ds, path: Path, pixel_offset: int) -> str | None:
    """Describe how an image file is cut short, or None when its pixel data is whole."""
    size = path.stat().st_size
    if _sop_class(ds) in MR_IMAGE_STORAGE and ("Rows" not in ds or pixel_offset >= size):
        return "ends before its pixel data"
    if "Rows" not in ds:
        return None
    if ds.file_meta.get("TransferSyntaxUID") is not None and ds.file_meta.TransferSyntaxUID.is_compressed:
        with path.open("rb") as handle:
            handle.seek(size - len(_ITEM_DELIMITER_END))
            if handle.read() != _ITEM_DELIMITER_END:
                return "ends inside its compressed pixel data"
        return None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    expected = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * frames
    expected = expected * int(ds.get("BitsAllocated", 16)) // 8
    found = size - pixel_offset - (8 if ds.file_meta.get("TransferSyntaxUID") == pydicom.uid.ImplicitVRLittleEndian else 12)
    if found < expected:
        return f"holds {max(found, 0)} of the {expected} bytes of pixel data its header announces"
    return None


def _sop_class(ds) -> str:
    """From the file meta first: a file cut short may hold only part of its SOPClassUID."""
    return str(ds.file_meta.get("MediaStorageSOPClassUID", "") or ds.get("SOPClassUID", ""))


def _header(ds, source: SourceFile, truncated: str | None) -> DicomHeader:
    is_image = "Rows" in ds and _sop_class(ds) != MEDIA_DIRECTORY_STORAGE
    image_type = tuple(str(t).strip().upper() for t in ds.get("ImageType", []))
    description = str(ds.get("SeriesDescription", "") or ds.get("ProtocolName", "")).strip()
    return DicomHeader(
        source=source,
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        manufacturer=str(ds.get("Manufacturer", "")).strip(),
        series_number=_optional_int(ds.get("SeriesNumber")),
        description=description,
        image_type=image_type,
        image=is_image,
        parts=_parts(ds, image_type) if is_image else frozenset(),
        echo_number=_optional_int(_first(ds.get("EchoNumbers"))),
        echo_time_ms=_optional_float(ds.get("EchoTime")),
        enhanced="PerFrameFunctionalGroupsSequence" in ds,
        sequence=_sequence(ds),
        gradient_echo=_is_gradient_echo(ds),
        localizer="LOCALIZER" in image_type or bool(_LOCALIZER_NAME.search(description)),
        truncated=truncated,
    )


def _optional_int(value) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _optional_float(value) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _parts(ds, image_type: tuple[str, ...]) -> frozenset[str]:
    """Magnitude/phase/real/imaginary held by the file, the way dcm2niix tells them apart."""
    ge = _private_value(ds, 0x0043, "GEMS_PARM_01", 0x2F)
    if ge is not None:
        code = int.from_bytes(ge[:2], "little", signed=True) if isinstance(ge, bytes) else int(_first(ge))
        return frozenset({_GE_PARTS[code]}) if code in _GE_PARTS else frozenset()
    components = {str(c).strip().upper() for c in _frame_values(ds, "MRImageFrameTypeSequence", "ComplexImageComponent")}
    components |= {str(ds.get("ComplexImageComponent", "")).strip().upper()} - {"", "MIXED"}
    found = {_TOKEN_PARTS[c] for c in components if c in _TOKEN_PARTS}
    if found:
        return frozenset(found)
    philips = _private_value(ds, 0x2005, "Philips MR Imaging DD 001", 0x11)
    if philips is not None:
        code = philips.decode("ascii", "replace") if isinstance(philips, bytes) else str(_first(philips))
        part = _TOKEN_PARTS.get(code.strip().upper())
        return frozenset({part}) if part else frozenset()
    return frozenset(_TOKEN_PARTS[t] for t in image_type[2:] if t in _TOKEN_PARTS)


def _frame_values(ds, sequence: str, keyword: str) -> list:
    """A functional-group attribute from the shared and every per-frame group of an enhanced file."""
    values = []
    for groups in (ds.get("SharedFunctionalGroupsSequence") or [], ds.get("PerFrameFunctionalGroupsSequence") or []):
        for group in groups:
            for item in group.get(sequence) or []:
                if keyword in item:
                    values.append(item.get(keyword))
    return values


def _private_value(ds, group: int, creator: str, offset: int):
    try:
        return ds.private_block(group, creator)[offset].value
    except KeyError:
        return None


def _first(value):
    return value[0] if isinstance(value, (list, pydicom.multival.MultiValue)) else value


def _sequence(ds) -> str:
    scanning = ds.get("ScanningSequence")
    if scanning:
        return "\\".join(str(v) for v in (scanning if isinstance(scanning, pydicom.multival.MultiValue) else [scanning]))
    return str(ds.get("EchoPulseSequence", ""))


def _is_gradient_echo(ds) -> bool | None:
    """Whether the series is a plain gradient echo (not EPI, not inversion-prepared); None if unrecorded."""
    scanning = ds.get("ScanningSequence")
    if scanning:
        codes = set(scanning if isinstance(scanning, pydicom.multival.MultiValue) else [scanning])
        return "GR" in codes and not codes & {"EP", "IR", "SE"}
    pulse = ds.get("EchoPulseSequence")
    if pulse:
        return (str(pulse) == "GRADIENT" and str(ds.get("EchoPlanarPulseSequence", "NO")) != "YES"
                and str(ds.get("InversionRecovery", "NO")) != "YES")
    return None


def read_dicom_scan(headers: list[DicomHeader], workdir: Path, deid_dir: Path, study_code: str, salt: str) -> DecodedScan:
    """Convert the GRE series of an upload with dcm2niix, assemble it and de-identify the originals.

    Parameters
    ----------
    headers : list of DicomHeader
        Every DICOM file of the upload.
    workdir : Path
        Scratch folder for dcm2niix's input links and output and the assembled volumes.
    deid_dir : Path
        Where the de-identified originals go (``<series>/0001.dcm`` ...).
    study_code : str
        Replaces PatientName and PatientID.
    salt : str
        Key for UID replacement.

    Returns
    -------
    DecodedScan
        The chosen magnitude/phase (or real/imaginary) pair, ``source_format="dicom"``.

    Raises
    ------
    UploadError
        If no consistent multi-echo magnitude/phase pair can be read.
    """
    chosen = choose_files(headers)
    converted = convert(chosen, workdir)
    by_series = _first_file_by_series(chosen)
    scan, used_series = read_converted_scan(converted, lambda sidecar, part: _describe(sidecar, part, by_series),
                                            workdir / "assembled")
    _write_deidentified([h for h in chosen if h.series_uid in used_series], deid_dir, study_code, salt)
    return scan


def choose_files(headers: list[DicomHeader]) -> list[DicomHeader]:
    """The files worth converting: original gradient-echo images with a complex part.

    Raises
    ------
    UploadError
        For a truncated file among them, or, when none is left, naming the
        largest series and why it is not a QSM acquisition.
    """
    images = [h for h in headers if h.image or h.truncated]
    originals = [h for h in images if h.gradient_echo is not False and not h.localizer and not h.derived]
    chosen = [h for h in originals if h.parts or h.truncated]
    truncated = next((h for h in chosen if h.truncated), None)
    if truncated is not None:
        raise UploadError(truncated.source.name, f"is a truncated DICOM file: it {truncated.truncated}", _REMEDY_COPY)
    timeless = next((h for h in chosen if not h.enhanced and h.echo_time_ms is None), None)
    if timeless is not None:
        raise UploadError(timeless.source.name, "has no EchoTime (0018,0081)", _REMEDY_SERIES)
    if chosen:
        return chosen
    if not images:
        name = headers[0].source.name if headers else "upload"
        raise UploadError(name, "no MR images (only DICOMDIR or non-image objects) among the DICOM files", _REMEDY_SERIES)
    if originals:
        unknown = _largest_series(originals)
        image_type = "\\".join(unknown.image_type) or "missing"
        raise UploadError(unknown.source.name, f"{unknown.series} holds images whose part (magnitude, phase, real or "
                          f"imaginary) cannot be told: ImageType {image_type}, no ComplexImageComponent and no "
                          "vendor tag", _REMEDY_SERIES)
    raise UploadError(*_why_not_qsm(_largest_series(images)), _REMEDY_SERIES)


def _largest_series(headers: list[DicomHeader]) -> DicomHeader:
    series: dict[str, list[DicomHeader]] = defaultdict(list)
    for header in headers:
        series[header.series_uid].append(header)
    return max(series.values(), key=len)[0]


def _why_not_qsm(header: DicomHeader) -> tuple[str, str]:
    image_type = "\\".join(header.image_type)
    if header.localizer:
        return header.source.name, f"{header.series} is a localizer (ImageType {image_type}), not a multi-echo GRE scan"
    if header.derived:
        return header.source.name, (f"{header.series} is a derived image (ImageType {image_type}), "
                                    "not the scanner's original magnitude and phase")
    return header.source.name, (f"{header.series} is not a gradient-echo series "
                                f"(sequence {header.sequence or 'unknown'}), so it holds no QSM data")


def _first_file_by_series(headers: list[DicomHeader]) -> dict[tuple, DicomHeader]:
    """The first file (by name) of each series, of each part and of each echo, to name in messages."""
    first: dict[tuple, DicomHeader] = {}
    for header in sorted(headers, key=lambda h: h.source.name):
        first.setdefault((header.series_uid,), header)
        for part in header.parts:
            first.setdefault((header.series_uid, part), header)
            first.setdefault((header.series_uid, part, header.echo_number), header)
    return first


def _describe(sidecar: dict, part: str, by_series: dict[tuple, DicomHeader]) -> tuple[str, str | None]:
    """The user's file and the DICOM Manufacturer behind one of dcm2niix's outputs."""
    uid = str(sidecar.get("SeriesInstanceUID", ""))
    keys = ((uid, part, _optional_int(sidecar.get("EchoNumber"))), (uid, part), (uid,))
    header = next((by_series[key] for key in keys if key in by_series), None)
    if header is None:
        return f"series {sidecar.get('SeriesNumber', '?')}", None
    return header.source.name, header.manufacturer or None


def dcm2niix_executable() -> str:
    """The dcm2niix binary: the one installed with this environment's Python, else the one on PATH."""
    beside = Path(sys.executable).with_name("dcm2niix")
    found = str(beside) if beside.exists() else shutil.which("dcm2niix")
    if found is None:
        raise RuntimeError("dcm2niix is not installed; `pip install dcm2niix` (a dependency of qsmstudy)")
    return found


def convert(headers: list[DicomHeader], workdir: Path) -> Path:
    """Run dcm2niix over the chosen files; return the folder of NIfTI + JSON it wrote.

    The files are hard-linked (or copied) into folders of their own, so that
    dcm2niix sees only them and not the rest of an exam: classic files in one
    run, each enhanced file in a run of its own (dcm2niix v1.0.20260724 decodes
    several compressed Siemens enhanced files of one run with the last file's
    frame table).  ``-p n`` keeps Philips display values (RescaleSlope and
    Intercept, milliradians for phase), not its "precise" floats.

    Raises
    ------
    UploadError
        When dcm2niix fails or writes nothing, with its own words.
    """
    output = workdir / "dcm2niix-out"
    batches = [[h for h in headers if not h.enhanced]] + [[h] for h in headers if h.enhanced]
    for number, batch in enumerate(b for b in batches if b):
        source = workdir / "dcm2niix-in" / str(number)
        source.mkdir(parents=True)
        for index, header in enumerate(batch):
            _link_or_copy(header.source.path, source / f"{index:06d}.dcm")
        _run_dcm2niix(source, output / str(number), batch[0])
    shutil.rmtree(workdir / "dcm2niix-in")
    return output


def _run_dcm2niix(source: Path, output: Path, first: DicomHeader) -> None:
    output.mkdir(parents=True)
    command = [dcm2niix_executable(), "-b", "y", "-ba", "n", "-z", "n", "-p", "n", "-f", "%s_%j",
               "-o", str(output), str(source)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=CONVERSION_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise UploadError(first.source.name, f"DICOM conversion took longer than {CONVERSION_TIMEOUT_S} s",
                          "upload only the multi-echo GRE series") from exc
    if run.returncode != 0 or not any(output.glob("*.nii")):
        raise UploadError(first.source.name, f"dcm2niix could not convert every image ({_problems(run)})",
                          _REMEDY_SERIES)


def _link_or_copy(path: Path, target: Path) -> None:
    try:
        os.link(path, target)
    except OSError:
        shutil.copyfile(path, target)


def _problems(run: subprocess.CompletedProcess) -> str:
    """dcm2niix's own words: its error, then the warnings that explain it (not the routine ones)."""
    lines = [line.strip() for line in (run.stdout + run.stderr).replace("Error:", "\nError:").splitlines()]
    errors = [line.removeprefix("Error:").strip() for line in lines if line.startswith("Error:")]
    warnings = [line.removeprefix("Warning:").strip() for line in lines
                if line.startswith("Warning:") and not any(routine in line for routine in _ROUTINE_WARNINGS)]
    found = list(dict.fromkeys(errors + warnings))[:3]
    return "; ".join(found) or f"exit status {run.returncode}"


def _write_deidentified(headers: list[DicomHeader], deid_dir: Path, study_code: str, salt: str) -> None:
    """Store the originals of the used series, de-identified, as ``<part>/0001.dcm`` (uploaded names can identify)."""
    counts: dict[str, int] = defaultdict(int)
    for header in sorted(headers, key=lambda h: h.source.name):
        part = "+".join(sorted(header.parts))
        counts[part] += 1
        folder = deid_dir / part
        folder.mkdir(parents=True, exist_ok=True)
        ds = pydicom.dcmread(header.source.path)
        deidentify_dataset(ds, study_code, salt)
        pydicom.dcmwrite(folder / f"{counts[part]:04d}.dcm", ds, enforce_file_format=True)

