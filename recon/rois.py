"""ROI definitions on a scan's grid (drawn, uploaded or placed) and their measurement on reconstructions."""
from __future__ import annotations

import gzip
import re
from pathlib import Path

import nibabel as nib
import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max

from clinical.models import ScanSession

from clinical.dispatch import send_on_commit
from .models import ReconRun, RoiDefinition, RoiValue
from qsm.inputs import InputError, check_same_grid
from qsm.io import reading_voxels
from qsm.roi import roi_statistics, sphere_mask

MAX_LABEL_BYTES = 512 * 1024 * 1024


class RoiError(ValueError):
    """A mask or mapping that cannot be used; the message says what to do."""


def scan_grid(scan: ScanSession) -> tuple[tuple[int, int, int], np.ndarray]:
    header = nib.load(scan.path("magnitude"))
    return tuple(header.shape[:3]), header.affine


def read_label_image(data: bytes, filename: str) -> nib.Nifti1Image:
    """A NIfTI (.nii or .nii.gz) from uploaded bytes."""
    if len(data) > MAX_LABEL_BYTES:
        raise RoiError(f"{filename}: larger than {MAX_LABEL_BYTES // 2**20} MiB; a label image is much smaller.")
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise RoiError(f"{filename}: damaged gzip ({exc}); save the label image again.") from exc
    try:
        image = nib.Nifti1Image.from_bytes(data)
    except Exception as exc:  # nibabel raises several types for non-NIfTI bytes
        raise RoiError(f"{filename}: not a NIfTI image; save the labels as .nii or .nii.gz.") from exc
    if image.ndim not in (3, 4) or (image.ndim == 4 and image.shape[3] != 1):
        raise RoiError(f"{filename}: a label image must be 3D; got shape {image.shape}.")
    _label_voxels(image, filename)  # refuse a truncated file here, before its mapping is checked
    return image


def _label_voxels(image: nib.Nifti1Image, filename: str) -> np.ndarray:
    """A label image's voxels, read now (nibabel reads them only when first used).

    Raises
    ------
    RoiError
        When the file is truncated or damaged, naming it.
    """
    try:
        with reading_voxels(filename, "save the label image again"):
            return np.asarray(image.dataobj)
    except InputError as exc:
        raise RoiError(str(exc)) from exc


def parse_mapping(text: str, allowed: list[str]) -> dict[int, str]:
    """'1=LMC, 2=RMC' -> {1: 'LMC', 2: 'RMC'}, with names from the study's ROI labels."""
    mapping: dict[int, str] = {}
    for item in filter(None, (part.strip() for part in re.split(r"[,\n;]", text))):
        match = re.fullmatch(r"(\d+)\s*[=:]\s*(\S+)", item)
        if not match:
            raise RoiError(f"'{item}': write each mapping as value=name, e.g. 1=LMC.")
        value, name = int(match[1]), match[2]
        if name not in allowed:
            raise RoiError(f"'{name}' is not one of this study's ROI labels ({', '.join(allowed)}).")
        if value == 0:
            raise RoiError("Label value 0 is background; number the regions from 1.")
        if name in mapping.values():
            raise RoiError(f"'{name}' is mapped twice; give each ROI one label value.")
        mapping[value] = name
    if not mapping:
        raise RoiError("Give at least one mapping such as 1=LMC.")
    return mapping


def masks_from_labels(image: nib.Nifti1Image, mapping: dict[int, str], scan: ScanSession,
                      filename: str) -> dict[str, np.ndarray]:
    shape, affine = scan_grid(scan)
    try:
        check_same_grid(image.shape, image.affine, shape, affine, filename, "the scan")
    except ValueError as exc:
        raise RoiError(str(exc)) from exc
    labels = np.rint(_label_voxels(image, filename).reshape(shape)).astype(np.int32)
    masks = {}
    for value, name in mapping.items():
        masks[name] = labels == value
        if not masks[name].any():
            raise RoiError(f"{filename}: label value {value} ({name}) has no voxels; check the mapping.")
    return masks


def sphere_roi(scan: ScanSession, centre_ras_mm, radius_mm: float, within_brain: bool) -> np.ndarray:
    shape, affine = scan_grid(scan)
    try:
        mask = sphere_mask(shape, affine, centre_ras_mm, radius_mm)
    except ValueError as exc:
        raise RoiError(str(exc)) from exc
    if within_brain:
        run = ReconRun.objects.filter(scan=scan, is_current=True).first()
        if run is None:
            raise RoiError("Intersecting with the brain mask needs a finished reconstruction; wait for it or untick.")
        mask &= np.asarray(nib.load(run.output_path("mask")).dataobj) > 0
    if not mask.any():
        raise RoiError("The sphere holds no voxels of the scan; check the centre (RAS mm) and radius.")
    return mask


def save_rois(scan: ScanSession, masks: dict[str, np.ndarray], source: str, details: dict, user=None
              ) -> list[RoiDefinition]:
    """Store each mask as the next version of its ROI, files and rows together; then re-measure."""
    empty = [name for name, mask in masks.items() if not mask.any()]
    if empty:
        raise RoiError(f"{', '.join(empty)} has no voxels; draw or place it again.")
    _, affine = scan_grid(scan)
    folder = roi_folder(scan)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        with transaction.atomic():
            saved = []
            for name, mask in masks.items():
                version = (RoiDefinition.objects.filter(scan=scan, name=name).aggregate(v=Max("version"))["v"] or 0) + 1
                path = folder / f"{name}_v{version}.nii.gz"
                image = nib.Nifti1Image(mask.astype(np.uint8), affine)
                image.header["descrip"] = f"qsmstudy ROI {name} v{version}".encode()
                temporary = path.with_name(f".tmp-{path.name}")
                nib.save(image, temporary)
                temporary.rename(path)
                written.append(path)
                saved.append(RoiDefinition.objects.create(
                    scan=scan, name=name, version=version, source=source, details=details.get(name, {}),
                    voxels=int(mask.sum()), mask_file=str(path.relative_to(settings.MEDIA_ROOT)), created_by=user,
                ))
            queue_measurement_of_current(scan)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return saved


def queue_measurement_of_current(scan: ScanSession) -> None:
    """Changed ROIs are measured again on the scan's current run (recon.tasks.measure_rois_task)."""
    run = ReconRun.objects.current().filter(scan=scan).first()
    if run is not None:
        send_on_commit("recon.measure_rois", run.pk)


def measure(run: ReconRun) -> list[RoiValue]:
    """Statistics of every ROI's latest version on the run's chi (idempotent: upserts)."""
    chi = np.asarray(nib.load(run.output_path("chi")).dataobj, dtype=np.float32)
    values = []
    for roi in RoiDefinition.latest_for(run.scan):
        stats = roi_statistics(chi, np.asarray(nib.load(roi.path).dataobj) > 0)
        fields = {column: stats[key] for key, column in RoiValue.STATISTICS.items()}
        value, _ = RoiValue.objects.update_or_create(
            roi=roi, run=run,
            defaults={**fields, "voxels": stats["voxels"], "reference": reference_label(run)},
        )
        values.append(value)
    return values


def reference_label(run: ReconRun) -> str:
    return {"brain": "whole-brain mean"}.get(run.params.get("reference"), run.params.get("reference", ""))


def roi_folder(scan: ScanSession) -> Path:
    return Path(settings.MEDIA_ROOT) / "rois" / str(scan.study_id) / str(scan.uid)


def first_echo_magnitude(scan: ScanSession) -> Path:
    """A cached 3D NIfTI of the first echo's magnitude (the viewer's background and drawing grid)."""
    path = roi_folder(scan) / "magnitude_echo1.nii.gz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        image = nib.load(scan.path("magnitude"))
        first = np.asarray(image.dataobj[..., 0], dtype=np.float32)
        temporary = path.with_name(f".{path.name}.tmp.nii.gz")
        nib.save(nib.Nifti1Image(first, image.affine), temporary)
        temporary.rename(path)
    return path


def combined_labels(scan: ScanSession, labels: list[str]) -> bytes:
    """The latest ROIs as one uint8 NIfTI: voxel value i+1 for the study's i-th label (later labels win)."""
    shape, affine = scan_grid(scan)
    combined = np.zeros(shape, dtype=np.uint8)
    for roi in RoiDefinition.latest_for(scan):
        if roi.name in labels:
            combined[np.asarray(nib.load(roi.path).dataobj) > 0] = labels.index(roi.name) + 1
    return gzip.compress(nib.Nifti1Image(combined, affine).to_bytes(), compresslevel=1)


def label_values_present(image: nib.Nifti1Image) -> list[int]:
    return [int(v) for v in np.unique(np.rint(np.asarray(image.dataobj))) if v > 0]


def unchanged_names(scan: ScanSession, masks: dict[str, np.ndarray]) -> set[str]:
    """ROIs whose new mask equals their latest version (saving them again would add empty versions)."""
    latest = {roi.name: roi for roi in RoiDefinition.latest_for(scan)}
    return {name for name, mask in masks.items()
            if name in latest and np.array_equal(np.asarray(nib.load(latest[name].path).dataobj) > 0, mask)}
