"""NIfTI + JSON sidecars (dcm2niix or BIDS naming): classify, check, assemble.

Each NIfTI file must have a JSON sidecar with the same stem next to it.
Magnitude and phase are told apart by name (BIDS ``part-phase``/``part-mag``,
dcm2niix ``_ph``) and then by the sidecar ImageType (``P``/``PHASE``); a file
marked as neither is magnitude, as in BIDS.  Echo order comes from the echo
times: a 3D file's sidecar EchoTime (seconds), or for a 4D file an EchoTime
list or ``EchoTime1``, ``EchoTime2``, ... keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from qsm.inputs import check_same_grid, echo_times_s, field_strength_t, phase_to_radians

from . import dates
from .deid import deidentify_sidecar
from .errors import UploadError
from .model import DecodedScan
from .safezip import SourceFile

MAGNITUDE = "magnitude"
PHASE = "phase"
NIFTI_SUFFIXES = (".nii.gz", ".nii")
#: BIDS files that describe the dataset rather than an image.
BIDS_DATASET_FILES = frozenset({"dataset_description.json", "participants.json"})
#: BIDS suffixes of gradient-echo images; other BIDS images (T1w, ...) are skipped.
BIDS_GRE_SUFFIXES = frozenset({"MEGRE", "GRE"})
_PHASE_TOKENS = frozenset({"P", "PHASE"})
_OTHER_PARTS = frozenset({"real", "imag", "imaginary"})
_ECHO_TIME_TOL_S = 1e-6
_REMEDY_SIDECAR = "upload each NIfTI with the JSON sidecar dcm2niix wrote for it"
_REMEDY_SERIES = "upload magnitude and phase, all echoes, from the same scan"
_SIDECAR_KEYS = (
    "Manufacturer", "ManufacturersModelName", "SoftwareVersions", "MagneticFieldStrength",
    "ProtocolName", "SeriesDescription", "SeriesNumber", "ImageType", "RepetitionTime",
    "FlipAngle", "ImagingFrequency", "MRAcquisitionType", "SliceThickness",
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
    niftis: list[SourceFile], sidecars: list[SourceFile], deid_dir: Path, study_code: str
) -> DecodedScan:
    """Assemble magnitude and phase from NIfTI files and de-identify them.

    Parameters
    ----------
    niftis, sidecars : list of SourceFile
        The uploaded NIfTI and JSON files.
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
    by_part = {part: [v for v in volumes if v.part == part] for part in (MAGNITUDE, PHASE)}
    first_name = niftis[0].name
    if not by_part[MAGNITUDE]:
        raise UploadError(first_name, "no magnitude NIfTI found (every file is marked as phase)", _REMEDY_SERIES)
    if not by_part[PHASE]:
        raise UploadError(
            first_name, "no phase NIfTI found (no _ph / part-phase name or ImageType P)", _REMEDY_SERIES
        )
    magnitude_frames = _ordered_frames(by_part[MAGNITUDE])
    phase_frames = _ordered_frames(by_part[PHASE])
    reference = by_part[MAGNITUDE][0]
    for volume in volumes:
        check_same_grid(volume.image.shape, volume.image.affine, reference.spatial_shape, reference.image.affine,
                        volume.source.name, reference.source.name)
    _check_same_echo_times(magnitude_frames, phase_frames)
    magnitude = _load_frames(magnitude_frames, reference.spatial_shape)
    phase = _load_frames(phase_frames, reference.spatial_shape)
    phase_to_radians([(volume.source.name, phase[..., echo]) for echo, (_, volume, _) in enumerate(phase_frames)])
    _write_deidentified(by_part, deid_dir, study_code)
    sidecar = _canonical_sidecar(reference, by_part[PHASE][0], [te for te, _, _ in magnitude_frames], study_code)
    return DecodedScan(
        magnitude=magnitude,
        phase=phase,
        affine=reference.image.affine,
        echo_times_s=[te for te, _, _ in magnitude_frames],
        sidecar=sidecar,
        field_strength_t=sidecar["MagneticFieldStrength"],
        source_format="bids" if all(v.bids for v in volumes) else "nifti",
        notes=notes,
        acquired_at=dates.from_sidecar(reference.sidecar),
    )


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
            notes.append(f"{source.name}: ignored (not a magnitude or phase gradient-echo image)")
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
    if part is None:
        return None
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


def _part(tokens: list[str], entities: dict[str, str], sidecar: dict) -> str | None:
    named = entities.get("part", "").lower()
    if named in ("phase", "mag"):
        return PHASE if named == "phase" else MAGNITUDE
    if named in _OTHER_PARTS or tokens[-1].lower() in ("real", "imaginary"):
        return None
    if tokens[-1] == "ph":
        return PHASE
    image_type = sidecar.get("ImageType", [])
    image_type = image_type.split("\\") if isinstance(image_type, str) else image_type
    if {str(t).strip().upper() for t in image_type} & _PHASE_TOKENS:
        return PHASE
    return MAGNITUDE


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
        image = nib.load(source.path)
    except Exception as exc:  # nibabel raises several types for damaged files
        raise UploadError(source.name, f"is not a readable NIfTI file ({exc})", "upload the file dcm2niix wrote") from exc
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
    if all(v.echo_number is not None for v in volumes) and all(v.image.ndim == 3 for v in volumes):
        frames.sort(key=lambda f: f[1].echo_number)
        for (_, earlier, _), (_, volume, _) in zip(frames, frames[1:]):
            if volume.echo_number == earlier.echo_number:
                raise UploadError(
                    volume.source.name,
                    f"is echo {volume.echo_number} {volume.part}, like {earlier.source.name}",
                    "upload each echo once",
                )
    else:
        frames.sort(key=lambda f: f[0])
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


def _load_frames(frames, shape: tuple[int, int, int]) -> np.ndarray:
    out = np.empty((*shape, len(frames)), dtype=np.float32)
    for echo, (_, volume, frame) in enumerate(frames):
        proxy = volume.image.dataobj
        out[..., echo] = proxy[..., frame] if frame is not None else proxy
        if not np.isfinite(out[..., echo]).all():
            raise UploadError(volume.source.name, "contains NaN or infinite values", "upload the unprocessed scanner data")
    return out


def _write_deidentified(by_part: dict[str, list[NiftiVolume]], deid_dir: Path, study_code: str) -> None:
    deid_dir.mkdir(parents=True, exist_ok=True)
    for part, volumes in by_part.items():
        for index, volume in enumerate(volumes):
            neutral = part if len(volumes) == 1 else f"{part}_e{volume.echo_number or index + 1}"
            extension = ".nii.gz" if volume.source.path.name.lower().endswith(".gz") else ".nii"
            _save_scrubbed_nifti(volume.image, deid_dir / f"{neutral}{extension}")
            sidecar = deidentify_sidecar(volume.sidecar, study_code)
            (deid_dir / f"{neutral}.json").write_text(json.dumps(sidecar, indent=2), encoding="utf-8")


def _save_scrubbed_nifti(image: nib.Nifti1Image, destination: Path) -> None:
    """Save without free-text header fields or extensions (dcm2niix puts times there)."""
    image.header.extensions.clear()
    for field in ("descrip", "aux_file", "db_name", "intent_name"):
        if field in image.header.keys():
            image.header[field] = b""
    nib.save(image, destination)


def _canonical_sidecar(magnitude: NiftiVolume, phase: NiftiVolume, echo_times: list[float], study_code: str) -> dict:
    source = deidentify_sidecar(magnitude.sidecar, study_code)
    sidecar = {key: source.get(key) for key in _SIDECAR_KEYS}
    sidecar["PhaseImageType"] = phase.sidecar.get("ImageType")
    sidecar["EchoTime"] = echo_times
    field = sidecar["MagneticFieldStrength"]
    if isinstance(field, (int, float)):
        field = field_strength_t(field, magnitude.sidecar_source.name, "MagneticFieldStrength")
    sidecar["MagneticFieldStrength"] = field if isinstance(field, float) else None
    return sidecar
