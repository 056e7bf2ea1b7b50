"""NIfTI + JSON sidecars (dcm2niix or BIDS naming): classify, check, assemble.

Each NIfTI file must have a JSON sidecar with the same stem next to it.
Magnitude and phase are told apart by name (BIDS ``part-phase``/``part-mag``,
dcm2niix ``_ph``) and then by the sidecar ImageType (``P``/``PHASE``); a file
marked as neither is magnitude, as in BIDS.  Echo order comes from the echo
times: a 3D file's sidecar EchoTime (seconds), or for a 4D file an EchoTime
list or ``EchoTime1``, ``EchoTime2``, ... keys.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from qsm.inputs import (
    PhaseRange, PhaseScale, apply_phase_scale, check_same_grid, echo_times_s, field_strength_t, same_grid,
    series_phase_scale,
)
from qsm.io import reading_voxels

from . import dates
from .deid import deidentify_sidecar
from .errors import UploadError
from .model import DecodedScan
from .ondisk import GZIP_LEVEL, EchoWriter, copy_bytes, gunzip_file
from .safezip import SourceFile

MAGNITUDE, PHASE, REAL, IMAGINARY = "magnitude", "phase", "real", "imaginary"
NIFTI_SUFFIXES = (".nii.gz", ".nii")
#: BIDS files that describe the dataset rather than an image.
BIDS_DATASET_FILES = frozenset({"dataset_description.json", "participants.json"})
#: BIDS suffixes of gradient-echo images; other BIDS images (T1w, ...) are skipped.
BIDS_GRE_SUFFIXES = frozenset({"MEGRE", "GRE"})
#: Parts by BIDS ``part-`` entity, dcm2niix name postfix and sidecar ImageType token.
_NAMED_PARTS = {"mag": MAGNITUDE, "phase": PHASE, "ph": PHASE, "real": REAL, "imag": IMAGINARY, "imaginary": IMAGINARY}
_IMAGE_TYPE_PARTS = {"P": PHASE, "PHASE": PHASE, "R": REAL, "REAL": REAL, "I": IMAGINARY, "IMAGINARY": IMAGINARY}
_ECHO_TIME_TOL_S = 1e-6
_REMEDY_SIDECAR = "upload each NIfTI with the JSON sidecar dcm2niix wrote for it"
_REMEDY_SERIES = "upload magnitude and phase, all echoes, from the same scan"
_REMEDY_DAMAGED = "upload the file again"
_SIDECAR_KEYS = (
    "Manufacturer", "ManufacturersModelName", "SoftwareVersions", "MagneticFieldStrength",
    "ProtocolName", "SeriesDescription", "SeriesNumber", "ImageType", "RepetitionTime",
    "FlipAngle", "ImagingFrequency", "MRAcquisitionType", "SliceThickness", "SequenceName",
)


@dataclass
class NiftiVolume:
    """One NIfTI file with its sidecar and what it contributes."""

    source: SourceFile
    sidecar_source: SourceFile
    sidecar: dict
    part: str
    echo_number: int | None
    echo_times_s: list[float]
    image: nib.Nifti1Image
    bids: bool

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.image.shape[:3])


def is_nifti(name: str) -> bool:
    """Return whether a file name has a NIfTI extension."""
    return name.lower().endswith(NIFTI_SUFFIXES)


def stem(path: Path) -> str:
    """File name without ``.nii.gz``, ``.nii`` or ``.json``."""
    name = path.name
    for suffix in (*NIFTI_SUFFIXES, ".json"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_nifti_scan(
    niftis: list[SourceFile], sidecars: list[SourceFile], workdir: Path, deid_dir: Path, study_code: str
) -> DecodedScan:
    """Assemble magnitude and phase from NIfTI files and de-identify them.

    Parameters
    ----------
    niftis, sidecars : list of SourceFile
        The uploaded NIfTI and JSON files.
    workdir : Path
        Scratch folder for uncompressed copies and the assembled volumes.
    deid_dir : Path
        Where de-identified copies go, renamed ``magnitude_e1.nii.gz``,
        ``phase.nii.gz`` + ``.json`` etc. (uploaded names can carry patient
        names, so they are not kept).
    study_code : str
        Stored as the sidecars' PatientID.

    Returns
    -------
    DecodedScan

    Raises
    ------
    UploadError
        Naming the file that is missing, unreadable or inconsistent.
    """
    volumes, notes = _classify(niftis, sidecars)
    first, second = choose_pair(volumes, niftis[0].name)
    # Assembling reads every voxel of these volumes, so a damaged file is refused before anything is written.
    scan = _assemble(first, second, notes, "bids" if all(v.bids for v in volumes) else "nifti", workdir)
    _write_deidentified(first + second, deid_dir, study_code)
    return scan


def read_converted_scan(
    folder: Path, describe: Callable[[dict, str], tuple[str, str | None]], workdir: Path
) -> tuple[DecodedScan, set[str]]:
    """Assemble the NIfTI + JSON that dcm2niix wrote from an upload's DICOM files.

    Parameters
    ----------
    folder : Path
        dcm2niix's output folder.
    describe : callable
        Maps a sidecar and part to the name the coordinator knows that image by
        (a DICOM file of it, used in every message instead of dcm2niix's names)
        and the DICOM Manufacturer, which decides the phase scale (dcm2niix
        guesses a vendor from other tags too).
    workdir : Path
        Where the assembled volumes go.

    Returns
    -------
    scan : DecodedScan
        ``source_format="dicom"``.
    series : set of str
        SeriesInstanceUIDs of the series the scan was assembled from.
    """
    niftis, sidecars, manufacturers = [], [], {}
    for path in sorted(folder.rglob("*.nii")):
        sidecar_path = path.with_suffix(".json")
        sidecar = _load_sidecar(SourceFile(sidecar_path, sidecar_path.name))
        name, manufacturers[path] = describe(sidecar, _part(stem(path).split("_"), {}, sidecar))
        niftis.append(SourceFile(path, name))
        sidecars.append(SourceFile(sidecar_path, name))
    volumes, notes = _classify(niftis, sidecars)
    for volume in volumes:
        volume.sidecar["Manufacturer"] = manufacturers[volume.source.path] or volume.sidecar.get("Manufacturer")
    first, second = choose_pair(volumes, niftis[0].name)
    series = {_series_uid(v) for v in first + second}
    return _assemble(first, second, notes, "dicom", workdir), series


def choose_pair(volumes: list[NiftiVolume], name: str) -> tuple[list[NiftiVolume], list[NiftiVolume]]:
    """The magnitude and phase (or real and imaginary) volumes of one scan.

    Volumes are grouped by part, grid and series: a multi-echo series stays
    on its own, while single-echo series on one grid join up (an export with
    one series per echo).  Two groups pair up when grid and echo times agree;
    of several pairs the one with the most echoes is taken, and a tie is refused.

    Raises
    ------
    UploadError
        When no pair is complete, naming what is missing or which image differs.
    """
    groups = _grid_groups(volumes)
    pairs = [
        (group, other)
        for first_part, second_part in ((MAGNITUDE, PHASE), (REAL, IMAGINARY))
        for group in groups if group[0].part == first_part
        for other in groups if other[0].part == second_part and _same_grid(group[0], other[0])
        and _same_echo_times(group, other)
    ]
    pairs = [pair for pair in pairs if pair[0][0].part == MAGNITUDE] or pairs
    if not pairs:
        _explain_no_pair(volumes, groups, name)
    most = max(_frame_count(first) for first, _ in pairs)
    best = [pair for pair in pairs if _frame_count(pair[0]) == most]
    if len(best) > 1:
        names = ", ".join(dict.fromkeys(first[0].source.name for first, _ in best))
        raise UploadError(best[0][0][0].source.name, f"several {most}-echo magnitude/phase series pairs found "
                          f"({names})", "upload one GRE scan at a time")
    return best[0]


def _same_echo_times(first: list[NiftiVolume], second: list[NiftiVolume]) -> bool:
    times = [sorted(te for v in group for te in v.echo_times_s) for group in (first, second)]
    return len(times[0]) == len(times[1]) and np.allclose(times[0], times[1], atol=_ECHO_TIME_TOL_S)


def _grid_groups(volumes: list[NiftiVolume]) -> list[list[NiftiVolume]]:
    echoes: dict[tuple[str, str], set[float]] = defaultdict(set)
    for volume in volumes:
        echoes[(_series_uid(volume), volume.part)].update(volume.echo_times_s)

    def series_key(volume: NiftiVolume) -> str:
        uid = _series_uid(volume)
        return uid if len(echoes[(uid, volume.part)]) > 1 else ""

    groups: list[list[NiftiVolume]] = []
    for volume in volumes:
        group = next((g for g in groups if g[0].part == volume.part and series_key(g[0]) == series_key(volume)
                      and _same_grid(g[0], volume)), None)
        if group is None:
            groups.append([volume])
        else:
            group.append(volume)
    return groups


def _series_uid(volume: NiftiVolume) -> str:
    return str(volume.sidecar.get("SeriesInstanceUID", ""))


def _same_grid(a: NiftiVolume, b: NiftiVolume) -> bool:
    return same_grid(a.spatial_shape, a.image.affine, b.spatial_shape, b.image.affine)


def _frame_count(volumes: list[NiftiVolume]) -> int:
    return sum(len(v.echo_times_s) for v in volumes)


def _explain_no_pair(volumes: list[NiftiVolume], groups: list[list[NiftiVolume]], name: str) -> None:
    """Raise the most specific reason: a missing part, an image off the grid, or differing echo times."""
    largest = {part: max((g for g in groups if g[0].part == part), key=_frame_count, default=None)
               for part in (MAGNITUDE, PHASE, REAL, IMAGINARY)}
    if largest[REAL] and largest[IMAGINARY] and not (largest[MAGNITUDE] and largest[PHASE]):
        first, second = largest[REAL], largest[IMAGINARY]
    elif not largest[MAGNITUDE]:
        raise UploadError(name, "no magnitude image found (every image is marked as phase)", _REMEDY_SERIES)
    elif not largest[PHASE]:
        raise UploadError(name, "no phase image found (no _ph / part-phase name or ImageType P)", _REMEDY_SERIES)
    else:
        first, second = largest[MAGNITUDE], largest[PHASE]
    reference = first[0]
    for volume in volumes:
        if volume.part in (first[0].part, second[0].part):
            check_same_grid(volume.image.shape, volume.image.affine, reference.spatial_shape, reference.image.affine,
                            volume.source.name, reference.source.name)
    _check_same_echo_times(_ordered_frames(first), _ordered_frames(second))


def _assemble(first: list[NiftiVolume], second: list[NiftiVolume], notes: list[str], source_format: str,
              workdir: Path) -> DecodedScan:
    """Write the two parts echo by echo to float32 files in ``workdir``, holding one echo at a time.

    Real/imaginary become magnitude/phase; phase becomes radians.
    """
    first_frames, second_frames = _ordered_frames(first), _ordered_frames(second)
    _check_same_echo_times(first_frames, second_frames)
    workdir.mkdir(parents=True, exist_ok=True)
    for index, volume in enumerate(first + second):
        _uncompress(volume, workdir / f"uncompressed-{index}.nii")
    reference = first[0]
    shape = (*reference.spatial_shape, len(first_frames))
    files = {MAGNITUDE: workdir / "magnitude.nii", PHASE: workdir / "phase.nii"}
    with EchoWriter(files[MAGNITUDE], shape, reference.image.affine) as magnitude, \
            EchoWriter(files[PHASE], shape, reference.image.affine) as phase:
        # Each echo is passed on as a temporary, so it is freed before the next one is read.
        if reference.part == REAL:
            for real, imaginary in zip(first_frames, second_frames):
                _write_complex(_read_echo(real), _read_echo(imaginary), magnitude, phase)
        else:
            for frame in first_frames:
                magnitude.write(_read_echo(frame))
            # The scale is decided on the whole series, so the phase is read twice rather than held.
            ranges = [PhaseRange.of(frame[1].source.name, _read_echo(frame)) for frame in second_frames]
            scale = series_phase_scale(ranges, second[0].sidecar.get("Manufacturer"))
            for frame in second_frames:
                phase.write(_in_radians(_read_echo(frame), scale))
    echo_times = [te for te, _, _ in first_frames]
    sidecar = _canonical_sidecar(reference, second[0], echo_times)
    return DecodedScan(
        volumes=files,
        affine=reference.image.affine,
        echo_times_s=echo_times,
        sidecar=sidecar,
        field_strength_t=sidecar["MagneticFieldStrength"],
        source_format=source_format,
        notes=notes,
        acquired_at=dates.from_sidecar(reference.sidecar),
    )


def _uncompress(volume: NiftiVolume, copy: Path) -> None:
    """Read a ``.nii.gz`` from an uncompressed copy: gzip can only be read from its start, and echoes are read twice.

    Only the bytes the header accounts for are decompressed, as nibabel would.
    """
    if not volume.source.path.name.lower().endswith(".gz"):
        return
    with reading_voxels(volume.source.name, _REMEDY_DAMAGED):
        gunzip_file(volume.source.path, copy, limit=_data_offset(volume.image) + _data_bytes(volume.image))
    volume.image = nib.load(copy, mmap=False)


def _data_offset(image: nib.Nifti1Image) -> int:
    return int(image.dataobj.offset)  # the file's: a loaded image's header says 0 until saved


def _data_bytes(image: nib.Nifti1Image) -> int:
    return int(np.prod(image.header.get_data_shape())) * image.header.get_data_dtype().itemsize


def _classify(niftis: list[SourceFile], sidecars: list[SourceFile]) -> tuple[list[NiftiVolume], list[str]]:
    by_key = {(s.path.parent, stem(s.path)): s for s in sidecars}
    used: set[SourceFile] = set()
    volumes, notes = [], []
    for source in niftis:
        sidecar_source = by_key.get((source.path.parent, stem(source.path)))
        if sidecar_source is None:
            raise UploadError(source.name, f"has no JSON sidecar {stem(source.path)}.json next to it", _REMEDY_SIDECAR)
        used.add(sidecar_source)
        volume = _volume(source, sidecar_source)
        if volume is None:
            notes.append(f"{source.name}: ignored (not a gradient-echo image)")
        else:
            volumes.append(volume)
    for orphan in (s for s in sidecars if s not in used and s.path.name not in BIDS_DATASET_FILES):
        raise UploadError(orphan.name, "is a JSON sidecar without its NIfTI file", _REMEDY_SIDECAR)
    return volumes, notes


def _volume(source: SourceFile, sidecar_source: SourceFile) -> NiftiVolume | None:
    tokens = stem(source.path).split("_")
    entities = dict(t.split("-", 1) for t in tokens if "-" in t)
    bids = tokens[0].startswith("sub-")
    if bids and tokens[-1] not in BIDS_GRE_SUFFIXES:
        return None
    sidecar = _load_sidecar(sidecar_source)
    part = _part(tokens, entities, sidecar)
    image = _load_image(source)
    echo_times = _echo_times(image, sidecar, sidecar_source)
    return NiftiVolume(
        source=source,
        sidecar_source=sidecar_source,
        sidecar=sidecar,
        part=part,
        echo_number=_echo_number(tokens, entities, sidecar),
        echo_times_s=echo_times,
        image=image,
        bids=bids,
    )


def _load_sidecar(source: SourceFile) -> dict:
    try:
        with source.path.open(encoding="utf-8") as handle:
            sidecar = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UploadError(source.name, f"is not valid JSON ({exc})", _REMEDY_SIDECAR) from exc
    if not isinstance(sidecar, dict):
        raise UploadError(source.name, "is JSON but not an object of key/value pairs", _REMEDY_SIDECAR)
    return sidecar


def _part(tokens: list[str], entities: dict[str, str], sidecar: dict) -> str:
    """By BIDS part entity, then dcm2niix postfix, then sidecar ImageType; magnitude otherwise, as in BIDS."""
    named = entities.get("part", "").lower() or tokens[-1].lower()
    if named in _NAMED_PARTS:
        return _NAMED_PARTS[named]
    image_type = sidecar.get("ImageType", [])
    image_type = image_type.split("\\") if isinstance(image_type, str) else image_type
    found = [_IMAGE_TYPE_PARTS[t] for t in (str(t).strip().upper() for t in image_type) if t in _IMAGE_TYPE_PARTS]
    return found[0] if found else MAGNITUDE


def _echo_number(tokens: list[str], entities: dict[str, str], sidecar: dict) -> int | None:
    if entities.get("echo", "").isdigit():
        return int(entities["echo"])
    for token in tokens:
        match = re.fullmatch(r"e(\d+)", token)
        if match:
            return int(match.group(1))
    number = sidecar.get("EchoNumber")
    return int(number) if isinstance(number, (int, float)) else None


def _load_image(source: SourceFile) -> nib.Nifti1Image:
    try:
        image = nib.load(source.path, mmap=False)  # voxels are read echo by echo, never mapped whole
    except Exception as exc:  # nibabel raises several types for damaged files
        why = str(exc).replace(str(source.path), source.name)  # nibabel names the server's copy
        raise UploadError(source.name, f"is not a readable NIfTI file ({why})", "upload the file dcm2niix wrote") from exc
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise UploadError(source.name, "is not NIfTI-1 or NIfTI-2", "convert with dcm2niix")
    if image.ndim < 3 or image.shape[2] < 2:
        raise UploadError(source.name, f"is 2D (shape {image.shape})", "upload the whole 3D multi-echo scan")
    if image.ndim > 4:
        raise UploadError(source.name, f"has {image.ndim} dimensions (shape {image.shape})", "upload 3D or 4D NIfTI")
    return image


def _echo_times(image: nib.Nifti1Image, sidecar: dict, sidecar_source: SourceFile) -> list[float]:
    n_frames = image.shape[3] if image.ndim == 4 else 1
    value = sidecar.get("EchoTime")
    if isinstance(value, (int, float)):
        times = [float(value)]
    elif isinstance(value, list):
        times = [float(t) for t in value]
    else:
        times = [sidecar[k] for k in (f"EchoTime{i}" for i in range(1, n_frames + 1)) if k in sidecar]
    if len(times) != n_frames:
        raise UploadError(
            sidecar_source.name,
            f"gives {len(times)} echo time(s) for {n_frames} volume(s)",
            "upload the sidecar with EchoTime (seconds) for every echo",
        )
    return list(echo_times_s(times, "s", [sidecar_source.name] * len(times), "EchoTime"))


def _ordered_frames(volumes: list[NiftiVolume]) -> list[tuple[float, NiftiVolume, int | None]]:
    """Return (echo time, volume, frame index or None for 3D) sorted by echo."""
    frames = []
    for volume in volumes:
        if volume.image.ndim == 4:
            frames.extend((te, volume, k) for k, te in enumerate(volume.echo_times_s))
        else:
            frames.append((volume.echo_times_s[0], volume, None))
    numbers = [v.echo_number for v in volumes]
    if None not in numbers and len(set(numbers)) == len(numbers) and all(v.image.ndim == 3 for v in volumes):
        frames.sort(key=lambda f: f[1].echo_number)  # a wrong echo time then shows as out of order
    else:
        frames.sort(key=lambda f: f[0])  # e.g. one series per echo, each numbered 1
        for (earlier_te, earlier, _), (te, volume, _) in zip(frames, frames[1:]):
            if abs(te - earlier_te) < _ECHO_TIME_TOL_S and volume is not earlier:
                raise UploadError(volume.sidecar_source.name, f"gives the {volume.part} echo time {1000 * te:g} ms, "
                                  f"like {earlier.sidecar_source.name}", "upload each echo once, from one scan")
    echo_times_s([te for te, _, _ in frames], "s", [volume.sidecar_source.name for _, volume, _ in frames], "EchoTime")
    return frames


def _check_same_echo_times(magnitude, phase) -> None:
    magnitude_times = [te for te, _, _ in magnitude]
    phase_times = [te for te, _, _ in phase]
    if len(magnitude_times) != len(phase_times) or not np.allclose(
        magnitude_times, phase_times, atol=_ECHO_TIME_TOL_S
    ):
        raise UploadError(
            phase[0][1].source.name,
            f"phase echo times {phase_times} s differ from magnitude {magnitude_times} s",
            _REMEDY_SERIES,
        )


def _read_echo(frame: tuple[float, NiftiVolume, int | None]) -> np.ndarray:
    """One frame's voxels as float32 (X, Y, Z), read now from its file.

    Raises
    ------
    UploadError
        When the file is truncated or damaged, or holds NaN or infinite values.
    """
    _, volume, index = frame
    proxy = volume.image.dataobj
    with reading_voxels(volume.source.name, _REMEDY_DAMAGED):
        echo = np.asarray(proxy[..., index] if index is not None else proxy, dtype=np.float32)
    if not np.isfinite(echo).all():
        raise UploadError(volume.source.name, "contains NaN or infinite values", "upload the unprocessed scanner data")
    return echo


def _in_radians(echo: np.ndarray, scale: PhaseScale) -> np.ndarray:
    apply_phase_scale(echo, scale)
    return echo


def _write_complex(real: np.ndarray, imaginary: np.ndarray, magnitude: EchoWriter, phase: EchoWriter) -> None:
    signal = real + 1j * imaginary
    magnitude.write(np.abs(signal).astype(np.float32))
    phase.write(np.angle(signal).astype(np.float32))


def _write_deidentified(volumes: list[NiftiVolume], deid_dir: Path, study_code: str) -> None:
    deid_dir.mkdir(parents=True, exist_ok=True)
    for part in dict.fromkeys(v.part for v in volumes):
        of_part = [v for v in volumes if v.part == part]
        for index, volume in enumerate(of_part):
            neutral = part if len(of_part) == 1 else f"{part}_e{volume.echo_number or index + 1}"
            extension = ".nii.gz" if volume.source.path.name.lower().endswith(".gz") else ".nii"
            _save_scrubbed_nifti(volume.image, deid_dir / f"{neutral}{extension}")
            sidecar = deidentify_sidecar(volume.sidecar, study_code)
            (deid_dir / f"{neutral}.json").write_text(json.dumps(sidecar, indent=2), encoding="utf-8")


def _save_scrubbed_nifti(image: nib.Nifti1Image, destination: Path) -> None:
    """Save without free-text header fields or extensions (dcm2niix puts times there).

    The header and voxels are copied as stored, the voxels block by block, so the copy costs no
    memory and keeps every bit (a loaded image's header has lost the stored scaling).
    """
    with open(image.get_filename(), "rb") as source, destination.open("wb") as raw:
        header = image.header_class.from_fileobj(source)
        header.extensions.clear()
        for field in ("descrip", "aux_file", "db_name", "intent_name"):
            if field in header.keys():
                header[field] = b""
        header["vox_offset"] = 0  # placed right after the header again, now that the extensions are gone
        out = gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) \
            if destination.name.endswith(".gz") else raw
        with out:
            header.write_to(out)
            source.seek(_data_offset(image))
            copy_bytes(source, out, _data_bytes(image))


def _canonical_sidecar(magnitude: NiftiVolume, phase: NiftiVolume, echo_times: list[float]) -> dict:
    """Acquisition fields only (:data:`_SIDECAR_KEYS`): nothing identifying is picked."""
    sidecar = {key: magnitude.sidecar.get(key) for key in _SIDECAR_KEYS}
    sidecar["PhaseImageType"] = phase.sidecar.get("ImageType")
    sidecar["PhaseSeriesNumber"] = phase.sidecar.get("SeriesNumber")
    sidecar["EchoTime"] = echo_times
    field = sidecar["MagneticFieldStrength"]
    if isinstance(field, (int, float)):
        field = field_strength_t(field, magnitude.sidecar_source.name, "MagneticFieldStrength")
    sidecar["MagneticFieldStrength"] = field if isinstance(field, float) else None
    return sidecar
