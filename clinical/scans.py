"""Storing an uploaded scan: check and convert it (clinical.scanio), then keep files and row together.

Nothing is half-saved: everything is written under MEDIA_ROOT/.incoming first, moved into place
with one rename, and removed again if the database row cannot be created.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest
from django.db import transaction
from django.utils.crypto import salted_hmac

from .models import Patient, ScanSession, scan_directory
from .previews import write_magnitude_preview
from .scanio import ScanData, UploadError, UploadLimits, read_upload, write_canonical


class DuplicateScan(Exception):
    """The same pixel data is already stored in this study."""

    def __init__(self, existing: ScanSession) -> None:
        super().__init__(f"This series was already uploaded as {existing} (pixel data SHA-256 {existing.pixel_sha256[:12]}…).")
        self.existing = existing


def declared_too_large(request: HttpRequest) -> bool:
    """Whether the request announces a body over SCAN_UPLOAD_MAX_BYTES: refuse it before reading anything."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > settings.SCAN_UPLOAD_MAX_BYTES
    except ValueError:
        return False


def upload_limits() -> UploadLimits:
    return UploadLimits(
        max_total_bytes=settings.SCAN_UPLOAD_MAX_BYTES,
        max_files=settings.SCAN_UPLOAD_MAX_FILES,
        max_uncompressed_bytes=settings.SCAN_UPLOAD_MAX_UNCOMPRESSED_BYTES,
        max_compression_ratio=settings.SCAN_UPLOAD_MAX_COMPRESSION_RATIO,
    )


def incoming_dir() -> Path:
    folder = Path(settings.MEDIA_ROOT) / ".incoming"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _save_uploads(uploads: list[UploadedFile], folder: Path) -> list[Path]:
    """Stream the uploaded files to disk under their base names (no directories from the client)."""
    folder.mkdir()
    paths = []
    for index, upload in enumerate(uploads):
        name = Path(upload.name).name or f"file-{index}"
        path = folder / name
        if path.exists():
            raise UploadError(name, "two files with the same name were uploaded", "rename one of them and upload again")
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        paths.append(path)
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _session_fields(data: ScanData, fields: dict) -> dict:
    """Form fields win; blanks are filled from the scanner's own headers."""
    sidecar = data.sidecar
    scanner = " ".join(filter(None, [sidecar.get("Manufacturer"), sidecar.get("ManufacturersModelName")]))
    return {
        **fields,
        "scanner": fields.get("scanner") or scanner,
        "protocol_name": fields.get("protocol_name") or sidecar.get("ProtocolName", "") or sidecar.get("SeriesDescription", ""),
        "field_strength_t": fields.get("field_strength_t") or (
            round(data.field_strength_t, 1) if data.field_strength_t else None
        ),
    }


def store_upload(patient: Patient, fields: dict, uploads: list[UploadedFile], user) -> ScanSession:
    """Check, de-identify, convert and store an upload for a patient; raise UploadError or DuplicateScan."""
    study = patient.study
    with tempfile.TemporaryDirectory(dir=incoming_dir()) as work:
        work = Path(work)
        paths = _save_uploads(uploads, work / "upload")
        (work / "extract").mkdir()
        data = read_upload(
            paths, work / "extract", limits=upload_limits(), study_code=patient.code,
            expected_field_strength_t=float(study.field_strength_t) if study.field_strength_t else None,
            # Keyed by the server's secret so replacement UIDs cannot be linked back by anyone holding the code.
            uid_salt=salted_hmac("qsmstudy.scan-uids", str(study.pk)).hexdigest(),
        )
        existing = ScanSession.objects.filter(study=study, pixel_sha256=data.pixel_sha256).first()
        if existing:
            raise DuplicateScan(existing)
        staged = work / "out"
        staged.mkdir()
        files = write_canonical(data, staged)
        write_magnitude_preview(data.magnitude[..., 0], data.affine, staged / ScanSession.FILES["preview"])
        scan = ScanSession(
            uid=uuid.uuid4(), study=study, patient=patient, source_format=data.source_format,
            echo_times_ms=[round(t * 1000, 4) for t in data.echo_times_s],
            matrix=list(data.matrix), voxel_size_mm=[round(float(v), 4) for v in data.voxel_size_mm],
            orientation=data.orientation, b0_direction=[round(float(v), 5) for v in data.b0_direction],
            warnings=list(data.warnings), pixel_sha256=data.pixel_sha256,
            file_sha256={kind: _sha256(path) for kind, path in files.items()},
            uploaded_by=user, **_session_fields(data, fields),
        )
        scan._change_reason = "Uploaded"
        final = Path(settings.MEDIA_ROOT) / scan_directory(scan)
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(final)
        try:
            with transaction.atomic():
                scan.save()
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
    return scan
