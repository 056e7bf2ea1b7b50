"""Entry point: from uploaded paths to a checked, de-identified :class:`ScanData`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .checks import protocol_warnings
from .dicom import DicomHeader, read_dicom_header, read_dicom_scan
from .errors import UploadError
from .limits import UploadLimits
from .model import ScanData
from .nifti import is_nifti, read_nifti_scan
from .ondisk import c_order_sha256
from .safezip import SourceFile, expand_upload

_MAX_STUDY_CODE_LENGTH = 64  # DICOM LO (PatientID)
_REMEDY_FORMAT = "upload only DICOM files, NIfTI files with their JSON sidecars, or a zip of either"


def read_upload(
    paths: list[Path],
    workdir: Path,
    *,
    limits: UploadLimits,
    study_code: str,
    expected_field_strength_t: float | None = None,
    uid_salt: str | None = None,
) -> ScanData:
    """Recognise, check, de-identify and convert one uploaded GRE scan.

    Parameters
    ----------
    paths : list of Path
        The uploaded files: DICOM files, NIfTI + JSON files, or zips of
        either (a zip may hold a whole exam; the multi-echo GRE magnitude and
        phase series are picked from it).
    workdir : Path
        Scratch directory owned by the caller; everything this function
        writes (extracted archives, de-identified originals) goes into a new
        ``scanio-*`` folder inside it.  Nothing is written anywhere else.
    limits : UploadLimits
        Size, count and compression bounds.
    study_code : str
        Pseudonym stored as PatientName/PatientID (at most 64 characters).
    expected_field_strength_t : float, optional
        The study's field strength; a difference over 0.1 T is a warning.
    uid_salt : str, optional
        Secret key for replacing DICOM UIDs (defaults to the study code);
        pass a server secret so replaced UIDs cannot be linked to PACS.

    Returns
    -------
    ScanData
        Canonical volumes (files in ``workdir``), affine, echo times, de-identified sidecar, hash,
        protocol warnings and the folder of de-identified originals.

    Raises
    ------
    UploadError
        For anything that makes the upload unusable; the message names the
        file and what to do.
    ValueError
        If ``study_code`` is empty, too long or contains a backslash.
    """
    _check_study_code(study_code)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="scanio-", dir=workdir))
    files = expand_upload([Path(p) for p in paths], scratch, limits)
    niftis, sidecars, dicoms = _sort_by_format(files)
    deid_dir = scratch / "deidentified"
    if niftis and dicoms:
        raise UploadError(
            niftis[0].name, f"is NIfTI but {dicoms[0].source.name} is DICOM", "upload one format per scan"
        )
    if niftis:
        scan = read_nifti_scan(niftis, sidecars, scratch / "assembled", deid_dir / "nifti", study_code)
    elif dicoms:
        if sidecars:
            raise UploadError(sidecars[0].name, "is a JSON sidecar without its NIfTI file", _REMEDY_FORMAT)
        scan = read_dicom_scan(dicoms, scratch, deid_dir / "dicom", study_code, uid_salt or study_code)
    else:
        name = files[0].name if files else Path(paths[0]).name
        raise UploadError(name, "no DICOM or NIfTI image found", _REMEDY_FORMAT)
    result = ScanData(
        volumes=scan.volumes,
        affine=np.asarray(scan.affine, dtype=np.float64),
        echo_times_s=list(scan.echo_times_s),
        field_strength_t=scan.field_strength_t,
        source_format=scan.source_format,
        sidecar={**scan.sidecar, "SourceFormat": scan.source_format, "PatientID": study_code},
        pixel_sha256=c_order_sha256([scan.volumes["magnitude"], scan.volumes["phase"]]),
        deidentified=deid_dir,
        acquired_at=scan.acquired_at,
    )
    result.warnings = scan.notes + protocol_warnings(
        result.echo_times_s, result.voxel_size_mm, result.field_strength_t, expected_field_strength_t
    )
    return result


def _check_study_code(study_code: str) -> None:
    if not study_code or len(study_code) > _MAX_STUDY_CODE_LENGTH or "\\" in study_code:
        raise ValueError(f"study_code must be 1-{_MAX_STUDY_CODE_LENGTH} characters without a backslash")


def _sort_by_format(files: list[SourceFile]) -> tuple[list[SourceFile], list[SourceFile], list[DicomHeader]]:
    """Split files into NIfTI, JSON and indexed DICOM; refuse anything else."""
    niftis, sidecars, dicoms = [], [], []
    for source in files:
        lower = source.path.name.lower()
        if lower.endswith(".json"):
            sidecars.append(source)
        elif is_nifti(lower):
            niftis.append(source)
        else:
            header = read_dicom_header(source)
            if header is None:
                raise UploadError(source.name, "is not a DICOM, NIfTI, JSON or zip file", _REMEDY_FORMAT)
            dicoms.append(header)
    return niftis, sidecars, dicoms
