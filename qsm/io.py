"""Reading multi-echo GRE inputs and writing QSM outputs.

Inputs
------
Magnitude and phase come as one 4D NIfTI each (echoes last) or as one 3D
NIfTI per echo, all on one grid (same shape and affine).  Echo times (seconds,
BIDS ``EchoTime``) and field strength (``MagneticFieldStrength``, T) come from
the BIDS/dcm2niix JSON sidecars beside the images (``x.nii.gz`` ->
``x.json``), or from arguments, which take precedence.  Phase is accepted in
radians or in the Siemens integer scale -4096..4095, converted by
``radians = value * pi / 4096``.

Geometry
--------
Affines map voxel indices to RAS+ world millimetres (NIfTI convention:
+x Right, +y Anterior, +z Superior).  The scanner's B0 points along world +z.
:func:`b0_direction` maps it into the orthonormal frame of the voxel axes with
the inverse of the affine's rotation (the affine with its voxel sizes divided
out), so oblique slabs get the right dipole kernel.

References
----------
.. [1] Gorgolewski KJ, et al. The brain imaging data structure (BIDS). Sci
   Data 2016;3:160044 (sidecar fields EchoTime, MagneticFieldStrength).
.. [2] Li X, Morgan PS, Ashburner J, Smith J, Rorden C. The first step for
   neuroimaging data analysis: DICOM to NIfTI conversion. J Neurosci Methods
   2016;264:47-56 (dcm2niix).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np

if TYPE_CHECKING:
    from .pipeline import QSMResult

SIEMENS_PHASE_MIN, SIEMENS_PHASE_MAX = -4096, 4095


class InputError(ValueError):
    """Unusable input; the message names the file and says how to fix it."""


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
        ``"radians"`` or ``"siemens"`` (what the files held).
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


def voxel_sizes(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel edge lengths (mm): the column norms of the affine's linear part."""
    sizes = np.linalg.norm(np.asarray(affine, dtype=float)[:3, :3], axis=0)
    if np.any(sizes <= 0):
        raise ValueError("the affine has a zero-length voxel axis")
    return tuple(float(s) for s in sizes)


def b0_direction(affine: np.ndarray, b0_world: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Unit B0 vector in the orthonormal voxel-axis frame.

    Parameters
    ----------
    affine : ndarray
        4x4 voxel-to-RAS-mm affine.
    b0_world : sequence of float
        B0 in world (RAS) coordinates; scanner +z (superior) by default.

    Returns
    -------
    ndarray
        ``R^-1 b0_world`` normalised, with ``R`` the affine's linear part with
        voxel sizes divided out (an orthogonal matrix for unsheared affines).
    """
    linear = np.asarray(affine, dtype=float)[:3, :3]
    rotation = linear / np.array(voxel_sizes(affine))
    direction = np.linalg.solve(rotation, np.asarray(b0_world, dtype=float))
    return direction / np.linalg.norm(direction)


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
        raise InputError(f"{path}: unreadable JSON sidecar ({error}); fix or remove it") from error


def phase_to_radians(phase: np.ndarray, path: str | Path = "phase") -> tuple[np.ndarray, str]:
    """Detect the phase scale and return radians plus ``"radians"``/``"siemens"``.

    Raises
    ------
    InputError
        When the values are neither radians nor Siemens integers.
    """
    low, high = float(phase.min()), float(phase.max())
    tolerance = 1e-3
    if -2 * np.pi - tolerance <= low and high <= 2 * np.pi + tolerance and high - low <= 2 * np.pi + tolerance:
        return phase.astype(np.float32, copy=False), "radians"
    integral = np.allclose(phase, np.round(phase), atol=1e-3)
    if integral and SIEMENS_PHASE_MIN <= low and high <= SIEMENS_PHASE_MAX:
        return (phase * np.float32(np.pi / 4096)).astype(np.float32), "siemens"
    raise InputError(
        f"{path}: phase values span [{low:.4g}, {high:.4g}], neither radians (-pi..pi) "
        f"nor Siemens integers (-4096..4095); convert the phase to radians"
    )


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
        raise InputError("no magnitude or phase given; pass --mag and --phase files")
    reference = mag_paths[0]
    ref_image = _load_image(reference)
    shape, affine = ref_image.shape[:3], ref_image.affine

    magnitude = _stack(mag_paths, shape, affine, reference)
    phase_raw = _stack(phase_paths, shape, affine, reference)
    if magnitude.shape[3] != phase_raw.shape[3]:
        raise InputError(
            f"{phase_paths[0]}: {phase_raw.shape[3]} phase echoes but {magnitude.shape[3]} magnitude echoes "
            f"({reference}); give the same echoes for both"
        )
    phase_parts, scalings = [], set()
    for e, path in enumerate(_echo_owners(phase_paths, phase_raw.shape[3])):
        part, scaling = phase_to_radians(phase_raw[..., e], path)
        phase_parts.append(part)
        scalings.add(scaling)
    phase = np.stack(phase_parts, axis=-1)

    te_s = _echo_times(te_ms, [phase_paths, mag_paths], magnitude.shape[3])
    b0 = _field_strength(b0_tesla, phase_paths + mag_paths)
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
        phase_scaling="siemens" if "siemens" in scalings else "radians",
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
    _check_grid(path, image, tuple(shape[:3]), affine, Path(reference))
    data = np.asarray(image.dataobj).reshape(tuple(shape[:3]))
    if not np.isfinite(data).all() or not (data > 0).any():
        raise InputError(f"{path}: the mask is empty or not finite; give a mask with non-zero voxels")
    return data > 0


def save_outputs(
    result: QSMResult,
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
    """
    out_path = Path(out_path)
    if not out_path.name.endswith((".nii", ".nii.gz")):
        raise InputError(f"{out_path}: output must end with .nii or .nii.gz")
    targets: dict[str, tuple[Path, np.ndarray | None]] = {"chi": (out_path, result.chi.astype(np.float32))}
    if intermediates_dir is not None:
        folder = Path(intermediates_dir)
        folder.mkdir(parents=True, exist_ok=True)
        targets["mask"] = (folder / "mask.nii.gz", result.mask.astype(np.uint8))
        targets["total_field_ppm"] = (folder / "total_field_ppm.nii.gz", result.total_field_ppm.astype(np.float32))
        targets["local_field_ppm"] = (folder / "local_field_ppm.nii.gz", result.local_field_ppm.astype(np.float32))
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


def _provenance(result: QSMResult, inputs: QSMInputs, targets: dict) -> dict:
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
        raise InputError(f"{path}: file not found; check the path")
    try:
        return nib.load(path)
    except Exception as error:  # nibabel raises several types for bad files
        raise InputError(f"{path}: not a readable NIfTI image ({error}); give a .nii or .nii.gz file") from error


def _check_grid(path: Path, image, shape, affine, reference: Path) -> None:
    if image.shape[:3] != shape:
        raise InputError(
            f"{path}: shape {image.shape[:3]} differs from {reference} {shape}; give images on one grid"
        )
    if not np.allclose(image.affine, affine, atol=1e-3):
        raise InputError(
            f"{path}: affine differs from {reference}; give images of one series on one grid (reslice if needed)"
        )


def _stack(paths: list[Path], shape, affine, reference: Path) -> np.ndarray:
    """One (X, Y, Z, E) float32 array from a 4D file or one 3D file per echo."""
    volumes = []
    for path in paths:
        image = _load_image(path)
        if len(image.shape) < 3 or min(image.shape[:3]) < 2:
            raise InputError(f"{path}: image of shape {image.shape} is not 3D; QSM needs a 3D volume per echo")
        if len(paths) > 1 and len(image.shape) > 3 and any(n > 1 for n in image.shape[3:]):
            raise InputError(f"{path}: 4D image among per-echo files; give one 4D file or one 3D file per echo")
        if len(image.shape) > 4:
            raise InputError(f"{path}: {len(image.shape)}D image; give echoes along the 4th dimension")
        _check_grid(path, image, shape, affine, reference)
        data = np.asarray(image.get_fdata(dtype=np.float32))
        if not np.isfinite(data).all():
            raise InputError(f"{path}: contains NaN or infinite voxels; replace them (e.g. with 0) and retry")
        volumes.append(data.reshape(shape + (-1,)))
    return np.concatenate(volumes, axis=-1)


def _echo_owners(paths: list[Path], echoes: int) -> list[Path]:
    return paths if len(paths) == echoes else [paths[0]] * echoes


def _echo_times(te_ms, groups: list[list[Path]], echoes: int) -> tuple[float, ...]:
    owner = groups[0][0]
    if te_ms is not None:
        te_s, source = tuple(float(t) / 1000.0 for t in te_ms), "--te-ms"
    else:
        te_s, owner = _sidecar_echo_times(groups)
        source = f"sidecar {sidecar_path(owner)}"
    if len(te_s) != echoes:
        raise InputError(
            f"{owner}: {echoes} echoes but {len(te_s)} echo times from {source}; give one TE per echo"
        )
    if te_s[0] <= 0 or any(b <= a for a, b in zip(te_s, te_s[1:])):
        raise InputError(
            f"{owner}: echo times {[round(t * 1000, 3) for t in te_s]} ms from {source} are not positive "
            f"and increasing; list echoes (files and TEs) in echo order"
        )
    return te_s


def _sidecar_echo_times(groups: list[list[Path]]) -> tuple[tuple[float, ...], Path]:
    """Echo times from the first group (phase, then magnitude) whose sidecars all have them."""
    for group in groups:
        values = [read_sidecar(p).get("EchoTime") for p in group]
        if len(group) == 1 and isinstance(values[0], list):
            return tuple(float(v) for v in values[0]), group[0]
        if all(isinstance(v, int | float) for v in values):
            return tuple(float(v) for v in values), group[0]
    raise InputError(
        f"{groups[0][0]}: no EchoTime in sidecar {sidecar_path(groups[0][0])} and none given; "
        f"pass --te-ms (e.g. 4,10,16)"
    )


def _field_strength(b0_tesla: float | None, paths: list[Path]) -> float:
    if b0_tesla is None:
        for path in paths:
            value = read_sidecar(path).get("MagneticFieldStrength")
            if isinstance(value, int | float):
                b0_tesla = float(value)
                break
        else:
            raise InputError(
                f"{paths[0]}: no MagneticFieldStrength in sidecar {sidecar_path(paths[0])} and none given; "
                f"pass --b0-tesla (e.g. 3)"
            )
    if not b0_tesla > 0:
        raise InputError(f"{paths[0]}: field strength {b0_tesla} T is not positive; pass --b0-tesla (e.g. 3)")
    return float(b0_tesla)
