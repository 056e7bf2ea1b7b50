"""Reading multi-echo GRE inputs and writing QSM outputs.

Inputs
------
Magnitude and phase come as one 4D NIfTI each (echoes last) or as one 3D
NIfTI per echo, all on one grid (same shape and affine).  Echo times (seconds,
BIDS ``EchoTime``) and field strength (``MagneticFieldStrength``, T) come from
the BIDS/dcm2niix JSON sidecars beside the images (``x.nii.gz`` ->
``x.json``), or from arguments, which take precedence.  What is accepted
(phase scales, echo-time and field-strength ranges, grids, output paths) is
decided in :mod:`qsm.inputs`, shared with the web upload.

References
----------
.. [1] Gorgolewski KJ, et al. The brain imaging data structure (BIDS). Sci
   Data 2016;3:160044 (sidecar fields EchoTime, MagneticFieldStrength).
.. [2] Li X, Morgan PS, Ashburner J, Smith J, Rorden C. The first step for
   neuroimaging data analysis: DICOM to NIfTI conversion. J Neurosci Methods
   2016;264:47-56 (dcm2niix).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import nibabel as nib
import numpy as np

from .inputs import (
    InputError,
    check_output_path,
    check_same_grid,
    echo_times_s,
    field_strength_t,
    phase_to_radians,
)


class Reconstruction(Protocol):
    """What :func:`save_outputs` reads from a :class:`qsm.QSMResult` (not imported: no io -> pipeline cycle)."""

    chi: np.ndarray
    mask: np.ndarray
    total_field_ppm: np.ndarray
    local_field_ppm: np.ndarray
    params: dict
    timings: dict


@dataclass
class QSMInputs:
    """Validated inputs, ready for :func:`qsm.reconstruct`.

    Attributes
    ----------
    magnitude, phase : ndarray
        float32 (X, Y, Z, E); phase in radians.
    te_s : tuple of float
        Echo times, s.
    b0_tesla : float
    affine : ndarray
        4x4 voxel-to-RAS-mm.
    mask : ndarray of bool or None
    phase_scaling : str
        ``"radians"``, ``"siemens"`` or ``"unsigned12"`` (what the files held).
    sources : dict
        Input paths and SHA-256 digests by role.
    """

    magnitude: np.ndarray
    phase: np.ndarray
    te_s: tuple[float, ...]
    b0_tesla: float
    affine: np.ndarray
    mask: np.ndarray | None = None
    phase_scaling: str = "radians"
    sources: dict = field(default_factory=dict)


def sidecar_path(image_path: str | Path) -> Path:
    """The BIDS JSON sidecar beside an image (``x.nii.gz`` -> ``x.json``)."""
    path = Path(image_path)
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_suffix(".json")


def read_sidecar(image_path: str | Path) -> dict:
    """The sidecar's fields, or ``{}`` when there is none."""
    path = sidecar_path(image_path)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(path, f"unreadable JSON sidecar ({error})", "fix or remove it") from error


#: What to do about a damaged input file on the command line (the upload asks for the file again).
REMEDY_DAMAGED = "copy or convert the file again"


@contextmanager
def reading_voxels(name: str | Path, remedy: str) -> Iterator[None]:
    """Refuse a NIfTI file whose voxel data cannot be read, naming the file.

    nibabel reads only the header when it opens a file; the voxels are read (and
    a ``.nii.gz`` decompressed) when the data are first used, so a truncated or
    damaged file fails there, with gzip, zlib or file errors.  Wrap every such
    read in this context manager.

    Parameters
    ----------
    name : str or Path
        The file as the user knows it (its path, or the name it was uploaded as).
    remedy : str
        What the user should do.

    Raises
    ------
    InputError
        E.g. ``"x.nii.gz: is truncated or damaged (gzip stream ends early); ..."``.
    """
    try:
        yield
    except (EOFError, OSError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise InputError(name, f"is truncated or damaged ({_damage(error)})", remedy) from error


def _damage(error: Exception) -> str:
    """The failure in the user's words; nibabel's own messages name the server's temporary path."""
    if isinstance(error, EOFError):
        return "gzip stream ends early"
    if isinstance(error, (zlib.error, gzip.BadGzipFile)):
        return "gzip data are corrupt"
    return "voxel data end early"  # nibabel: "Expected N bytes, got M"


def load_inputs(
    mag_paths: Sequence[str | Path],
    phase_paths: Sequence[str | Path],
    te_ms: Sequence[float] | None = None,
    b0_tesla: float | None = None,
    mask_path: str | Path | None = None,
) -> QSMInputs:
    """Read and validate magnitude, phase, echo times, field strength and mask.

    Parameters
    ----------
    mag_paths, phase_paths : sequence of path
        One 4D NIfTI each, or one 3D NIfTI per echo in echo order.
    te_ms : sequence of float, optional
        Echo times in ms; otherwise read from the sidecars (``EchoTime``, s).
    b0_tesla : float, optional
        Field strength; otherwise the sidecars' ``MagneticFieldStrength``.
    mask_path : path, optional
        Brain mask NIfTI on the same grid (non-zero = brain).

    Returns
    -------
    QSMInputs

    Raises
    ------
    InputError
        With a one-line message naming the offending file and the fix.
    """
    mag_paths, phase_paths = [Path(p) for p in mag_paths], [Path(p) for p in phase_paths]
    if not mag_paths or not phase_paths:
        raise InputError("--mag/--phase", "no magnitude or phase given", "pass --mag and --phase files")
    # Arguments are checked before any image is read, so a typo fails fast.
    given_te_s = None if te_ms is None else echo_times_s(te_ms, "ms", [phase_paths[0]] * len(te_ms), "--te-ms")
    given_b0 = None if b0_tesla is None else field_strength_t(b0_tesla, phase_paths[0], "--b0-tesla")
    reference = mag_paths[0]
    ref_image = _load_image(reference)
    shape, affine = ref_image.shape[:3], ref_image.affine

    magnitude = _stack(mag_paths, shape, affine, reference)
    phase = _stack(phase_paths, shape, affine, reference)
    echoes = magnitude.shape[3]
    if phase.shape[3] != echoes:
        raise InputError(phase_paths[0], f"{phase.shape[3]} phase echoes but {echoes} magnitude echoes ({reference})",
                         "give the same echoes for both")
    owners = phase_paths if len(phase_paths) == echoes else [phase_paths[0]] * echoes
    phase_scaling = phase_to_radians([(str(owner), phase[..., e]) for e, owner in enumerate(owners)],
                                     read_sidecar(phase_paths[0]).get("Manufacturer"))
    te_s = given_te_s if given_te_s is not None else _sidecar_echo_times([phase_paths, mag_paths])
    if len(te_s) != echoes:
        raise InputError(phase_paths[0], f"{echoes} echoes but {len(te_s)} echo times", "give one echo time per echo")
    b0 = given_b0 if given_b0 is not None else _sidecar_field_strength(phase_paths + mag_paths)
    mask = None if mask_path is None else load_mask(mask_path, shape, affine, reference)
    sources = {
        "magnitude": [_describe(p) for p in mag_paths],
        "phase": [_describe(p) for p in phase_paths],
        "mask": _describe(Path(mask_path)) if mask_path is not None else None,
    }
    return QSMInputs(
        magnitude=magnitude,
        phase=phase,
        te_s=te_s,
        b0_tesla=b0,
        affine=np.asarray(affine, dtype=float),
        mask=mask,
        phase_scaling=phase_scaling,
        sources=sources,
    )


def load_mask(path: str | Path, shape, affine: np.ndarray, reference: str | Path) -> np.ndarray:
    """Boolean mask (non-zero voxels) checked against the grid of ``reference``.

    Raises
    ------
    InputError
        When unreadable, on another grid, empty or not finite.
    """
    path = Path(path)
    image = _load_image(path)
    check_same_grid(image.shape, image.affine, shape, affine, str(path), str(reference))
    with reading_voxels(path, REMEDY_DAMAGED):
        data = np.asarray(image.dataobj).reshape(tuple(shape[:3]))
    if not np.isfinite(data).all() or not (data > 0).any():
        raise InputError(path, "the mask is empty or not finite", "give a mask with non-zero voxels")
    return data > 0


def save_outputs(
    result: Reconstruction,
    inputs: QSMInputs,
    out_path: str | Path,
    intermediates_dir: str | Path | None = None,
) -> dict[str, Path]:
    """Write chi (float32 NIfTI, ppm), its provenance JSON and optional intermediates.

    Every file is written under a temporary name and renamed only once all are
    written, so a failure leaves no partial output.

    Parameters
    ----------
    result : QSMResult
        Or anything with its ``chi``, ``mask``, field maps, ``params`` and ``timings``.
    inputs : QSMInputs
        Supplies the affine and the input provenance.
    out_path : path
        ``.nii`` or ``.nii.gz``; the provenance goes beside it as ``<stem>.json``.
    intermediates_dir : path, optional
        Also writes ``mask``, ``total_field_ppm`` and ``local_field_ppm`` there.

    Returns
    -------
    dict of str to Path
        Written files by role.

    Raises
    ------
    InputError
        When ``out_path`` does not end with .nii/.nii.gz or its folder is missing or read-only.
    """
    intermediates: dict[str, tuple[Path, np.ndarray]] = {}
    if intermediates_dir is not None:
        folder = Path(intermediates_dir)
        folder.mkdir(parents=True, exist_ok=True)  # before the output check: it may be chi's folder (recon jobs)
        intermediates = {
            "mask": (folder / "mask.nii.gz", result.mask.astype(np.uint8)),
            "total_field_ppm": (folder / "total_field_ppm.nii.gz", result.total_field_ppm.astype(np.float32)),
            "local_field_ppm": (folder / "local_field_ppm.nii.gz", result.local_field_ppm.astype(np.float32)),
        }
    out_path = check_output_path(out_path)
    targets = {"chi": (out_path, result.chi.astype(np.float32))} | intermediates
    provenance_path = sidecar_path(out_path)
    written: list[tuple[Path, Path]] = []
    try:
        for role, (path, data) in targets.items():
            temporary = _temporary_name(path)
            image = nib.Nifti1Image(data, inputs.affine)
            image.header.set_xyzt_units("mm", "sec")
            image.header["descrip"] = b"QSM chi ppm" if role == "chi" else role.encode()
            nib.save(image, temporary)
            written.append((temporary, path))
        temporary = _temporary_name(provenance_path)
        temporary.write_text(json.dumps(_provenance(result, inputs, targets), indent=2, sort_keys=True))
        written.append((temporary, provenance_path))
    except BaseException:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, path in written:
        os.replace(temporary, path)
    return {role: path for role, (path, _) in targets.items()} | {"provenance": provenance_path}


def _temporary_name(path: Path) -> Path:
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else path.suffix
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")


def _provenance(result: Reconstruction, inputs: QSMInputs, targets: dict) -> dict:
    return {
        "software": "qsm",
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "units": "ppm",
        "inputs": inputs.sources,
        "echo_times_s": list(inputs.te_s),
        "b0_tesla": inputs.b0_tesla,
        "phase_scaling": inputs.phase_scaling,
        "parameters": result.params,
        "stage_seconds": result.timings,
        "outputs": {role: str(path) for role, (path, _) in targets.items()},
    }


def _describe(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "sha256": digest.hexdigest()}


def _load_image(path: Path) -> nib.Nifti1Image:
    if not path.exists():
        raise InputError(path, "file not found", "check the path")
    try:
        return nib.load(path)
    except Exception as error:  # nibabel raises several types for bad files
        raise InputError(path, f"not a readable NIfTI image ({error})", "give a .nii or .nii.gz file") from error


def _stack(paths: list[Path], shape, affine, reference: Path) -> np.ndarray:
    """One (X, Y, Z, E) float32 array from a 4D file or one 3D file per echo."""
    volumes = []
    for path in paths:
        image = _load_image(path)
        if len(image.shape) < 3 or min(image.shape[:3]) < 2:
            raise InputError(path, f"image of shape {image.shape} is not 3D", "QSM needs a 3D volume per echo")
        if len(paths) > 1 and len(image.shape) > 3 and any(n > 1 for n in image.shape[3:]):
            raise InputError(path, "4D image among per-echo files", "give one 4D file or one 3D file per echo")
        if len(image.shape) > 4:
            raise InputError(path, f"{len(image.shape)}D image", "give echoes along the 4th dimension")
        check_same_grid(image.shape, image.affine, shape, affine, str(path), str(reference))
        with reading_voxels(path, REMEDY_DAMAGED):
            data = np.asarray(image.get_fdata(dtype=np.float32))
        if not np.isfinite(data).all():
            raise InputError(path, "contains NaN or infinite voxels", "replace them (e.g. with 0) and retry")
        volumes.append(data.reshape(shape + (-1,)))
    return np.concatenate(volumes, axis=-1)


def _sidecar_echo_times(groups: list[list[Path]]) -> tuple[float, ...]:
    """Echo times from the first group (phase, then magnitude) whose sidecars all have them."""
    for group in groups:
        values = [read_sidecar(p).get("EchoTime") for p in group]
        if len(group) == 1 and isinstance(values[0], list):
            return echo_times_s(values[0], "s", [str(sidecar_path(group[0]))] * len(values[0]), "EchoTime")
        if all(isinstance(v, int | float) for v in values):
            return echo_times_s(values, "s", [str(sidecar_path(p)) for p in group], "EchoTime")
    raise InputError(groups[0][0], f"no EchoTime in sidecar {sidecar_path(groups[0][0])} and none given",
                     "pass --te-ms (e.g. 4,10,16)")


def _sidecar_field_strength(paths: list[Path]) -> float:
    for path in paths:
        value = read_sidecar(path).get("MagneticFieldStrength")
        if isinstance(value, int | float):
            return field_strength_t(value, str(sidecar_path(path)), "MagneticFieldStrength")
    raise InputError(paths[0], f"no MagneticFieldStrength in sidecar {sidecar_path(paths[0])} and none given",
                     "pass --b0-tesla (e.g. 3)")
