"""Ingesting a scan: check and convert it (clinical.scanio), keep files and row together, hand it on.

:func:`ingest` is the one way in, for the upload page, the API and the BIDS import. Nothing is
half-saved: everything is written under MEDIA_ROOT/.incoming first, moved into place with one
rename, and removed again if the database row cannot be created. Apps above clinical (recon)
receive every stored scan through :func:`register_scan_stored`, so that clinical never imports them.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .forms import ScanUploadForm
from .models import Patient, ScanSession, scan_directory
from .previews import write_magnitude_preview
from .scanio import ScanData, UploadError, UploadLimits, read_upload, write_canonical
from .scanio.errors import describe_files

#: hook(scan, reconstruction, user), called in the transaction that saves the scan.
ScanStored = Callable[[ScanSession, dict | None, object], None]
_scan_stored: list[ScanStored] = []
FIELD_STRENGTH_TOLERANCE_T = 0.05


def register_scan_stored(hook: ScanStored) -> ScanStored:
    """Register hook(scan, reconstruction, user), run for every stored scan (recon queues its first run).

    ``reconstruction`` is what the caller of :func:`ingest` passed: parameters for the first
    reconstruction, or None for the defaults. Clinical passes it on without reading it.
    """
    if hook not in _scan_stored:
        _scan_stored.append(hook)
    return hook


class IngestRefused(Exception):
    """The scan was not stored; ``errors`` maps form fields to messages, as ``Form.errors`` does."""

    def __init__(self, errors: Mapping[str, list[str]], duplicate: ScanSession | None = None) -> None:
        self.errors = {field: list(messages) for field, messages in errors.items()}
        self.duplicate = duplicate
        super().__init__(" ".join(m for messages in self.errors.values() for m in messages))

    @property
    def files_were_fine(self) -> bool:
        """Whether only the typed fields were wrong, so the same files may be used again."""
        return "files" not in self.errors


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


def too_large_message(advice: str = "upload magnitude and phase of one series only") -> str:
    """The one refusal of an oversized upload, with what to do instead."""
    return (f"The upload is larger than the {filesizeformat(settings.SCAN_UPLOAD_MAX_BYTES)} limit; {advice}, "
            "or ask an administrator to raise SCAN_UPLOAD_MAX_BYTES.")


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


# Subfolders of .incoming whose owners clean them: ingest jobs, kept files, resumable uploads.
OWNED_INCOMING = frozenset({"ingests", "held", "tus", "tmp"})


def remove_incoming_leftovers(older_than_s: float) -> int:
    """Delete what killed uploads left under MEDIA_ROOT/.incoming (untouched for ``older_than_s``); return how many.

    That is the work folders of killed ingests and Django's temporary files of killed requests (in tmp/);
    the owned subfolders (ingests, held, tus) are cleaned by their owners.
    """
    folder = Path(settings.MEDIA_ROOT) / ".incoming"
    if not folder.is_dir():
        return 0
    entries = [entry for entry in folder.iterdir() if entry.name not in OWNED_INCOMING]
    temporary = folder / "tmp"
    return remove_untouched(entries + (list(temporary.iterdir()) if temporary.is_dir() else []), older_than_s)


def remove_orphan_scan_folders(older_than_s: float) -> int:
    """Delete scan folders without a row, untouched for ``older_than_s``; return how many.

    :func:`ingest` renames the finished folder into place just before the transaction that saves the
    row: a process killed between the two leaves a folder no row names (the ingest is then done again).
    """
    root = Path(settings.MEDIA_ROOT) / "scans"
    folders = list(root.glob("*/*")) if root.is_dir() else []
    if not folders:
        return 0
    stored = {str(uid) for uid in ScanSession.objects.values_list("uid", flat=True)}
    return remove_untouched([folder for folder in folders if folder.name not in stored], older_than_s)


def remove_untouched(entries: Iterable[Path], older_than_s: float) -> int:
    """Delete the files and folders among ``entries`` untouched for ``older_than_s``; return how many."""
    removed = 0
    for entry in entries:
        try:
            if time.time() - entry.lstat().st_mtime < older_than_s:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:  # finished (or removed) meanwhile
            continue
        removed += 1
    return removed


def safe_relative_path(name: str, index: int) -> Path:
    """A client's file name as a relative path with no way out: no drive, root or '..' survives."""
    parts = [part for part in re.split(r"[\\/]+", name) if part not in ("", ".", "..")]
    return Path(*parts) if parts else Path(f"file-{index}")


def save_uploads(uploads: Sequence[UploadedFile | Path], folder: Path, names: Sequence[str] | None = None) -> list[Path]:
    """Put uploaded files into ``folder`` under their (relative) names; repeated names go into 2/, 3/, ...

    ``names`` are the paths the browser gave inside a chosen folder (``upload.name`` is only the
    base name); DICOM exports repeat base names such as IM_0001 in every series folder. Files already
    on disk (a Path, or an upload Django streamed to MEDIA_ROOT/.incoming/tmp) are moved, not copied.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, upload in enumerate(uploads):
        relative = safe_relative_path(names[index] if names else upload.name, index)
        path, copy = folder / relative, 1
        while path.exists():
            copy += 1
            path = folder / str(copy) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        _put(upload, path)
        paths.append(path)
    return paths


def _put(upload: UploadedFile | Path, path: Path) -> None:
    if isinstance(upload, Path):
        shutil.move(upload, path)
    elif hasattr(upload, "temporary_file_path"):
        shutil.move(upload.temporary_file_path(), path)  # Django ignores the vanished file when it closes it
    else:
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _header_fields(data: ScanData, typed: dict, names: Sequence[str]) -> dict:
    """The session's fields: scanner facts from the headers; typed values only where headers are silent.

    A typed date or field strength that disagrees with the headers is refused rather than
    silently replaced: one of them is wrong and the person typing should know which.
    """
    sidecar, files = data.sidecar, describe_files(names)
    errors: dict[str, list[str]] = {}
    acquired = data.acquired_at
    scan_date = typed.get("scan_date")
    if acquired is None and scan_date is None:
        errors["scan_date"] = [f"The headers of {files} do not record when the scan was acquired; type the scan date."]
    elif acquired is not None and scan_date is not None and scan_date != acquired.date():
        errors["scan_date"] = [f"The headers of {files} say the scan was acquired on {acquired:%Y-%m-%d}; you typed "
                               f"{scan_date:%Y-%m-%d}. Correct the date or leave it blank."]
    header_tesla = round(data.field_strength_t, 1) if data.field_strength_t else None
    typed_tesla = typed.get("field_strength_t")
    if header_tesla and typed_tesla is not None and abs(float(typed_tesla) - header_tesla) > FIELD_STRENGTH_TOLERANCE_T:
        errors["field_strength_t"] = [f"The headers of {files} say the field strength is {header_tesla} T; you typed "
                                      f"{typed_tesla} T. Correct it or leave it blank."]
    if errors:
        raise IngestRefused(errors)
    return {
        "scan_date": acquired.date() if acquired else scan_date,
        "acquired_at": timezone.make_aware(acquired, timezone.get_default_timezone()) if acquired else None,
        "site": typed.get("site") or "",
        "field_strength_t": header_tesla or typed_tesla,
        "manufacturer": _text(sidecar.get("Manufacturer")),
        "model_name": _text(sidecar.get("ManufacturersModelName")),
        "software_version": _text(sidecar.get("SoftwareVersions")),
        "sequence_name": _text(sidecar.get("SequenceName")),
        "scanner": " ".join(filter(None, [sidecar.get("Manufacturer"), sidecar.get("ManufacturersModelName")])),
        "protocol_name": _text(sidecar.get("ProtocolName")) or _text(sidecar.get("SeriesDescription")),
    }


def _text(value) -> str:
    """Header values may be missing (None) or lists (DICOM multi-valued SoftwareVersions)."""
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value or "")


def ingest(patient: Patient, data: Mapping, files: Sequence[UploadedFile | Path], user, *,
           reconstruction: dict | None = None, stored: Callable[[ScanSession], None] | None = None,
           progress: Callable[[str], None] | None = None) -> ScanSession:
    """Check, de-identify, convert and store one scan, then hand it to reconstruction.

    Parameters
    ----------
    patient : Patient
        Whose scan it is; the study comes with it.
    data : mapping
        The upload form's fields as submitted (``ScanUploadForm``): the scan date (optional when
        the headers have it), site, and field strength (only when the headers lack it).
    files : sequence of UploadedFile or Path
        Uploaded files (saved under their base names) or files already on disk (read in place).
    user : User
        Who uploads (recorded, and the owner of the first reconstruction).
    reconstruction : dict, optional
        Parameters of the first reconstruction, passed to the :func:`register_scan_stored` hooks.
    stored : callable, optional
        stored(scan), called in the transaction that saves the scan (the ingest job marks itself there).
    progress : callable, optional
        progress(stage), told each stage in words ("converting and de-identifying", "storing").

    Raises
    ------
    IngestRefused
        With the problems by form field; nothing was saved.
    """
    form = ScanUploadForm(data, patient=patient)
    if not form.is_valid():
        raise IngestRefused(form.errors)
    if not files:
        raise IngestRefused({"files": ["Choose the scan's files, a zip or a folder."]})
    try:
        return _store(patient, form.typed_fields(), files, user, reconstruction, stored, progress or _silent)
    except UploadError as exc:
        raise IngestRefused({"files": [str(exc)]}) from exc
    except DuplicateScan as exc:
        raise IngestRefused({"files": [str(exc)]}, duplicate=exc.existing) from exc


def _silent(stage: str) -> None:
    """No one follows a synchronous ingest's stages."""


def _store(patient: Patient, typed: dict, files: Sequence[UploadedFile | Path], user, reconstruction: dict | None,
           stored: Callable[[ScanSession], None] | None, progress: Callable[[str], None]) -> ScanSession:
    study = patient.study
    with tempfile.TemporaryDirectory(dir=incoming_dir()) as work:
        work = Path(work)
        uploads = [f for f in files if not isinstance(f, Path)]
        paths = [f for f in files if isinstance(f, Path)] + save_uploads(uploads, work / "upload")
        (work / "extract").mkdir()
        progress("converting and de-identifying")
        data = read_upload(
            paths, work / "extract", limits=upload_limits(), study_code=patient.code,
            expected_field_strength_t=float(study.field_strength_t) if study.field_strength_t else None,
            # Keyed by the server's secret so replacement UIDs cannot be linked back by anyone holding the code.
            uid_salt=salted_hmac("qsmstudy.scan-uids", str(study.pk)).hexdigest(),
        )
        fields = _header_fields(data, typed, [p.name for p in paths])
        existing = ScanSession.objects.filter(study=study, pixel_sha256=data.pixel_sha256).first()
        if existing:
            raise DuplicateScan(existing)
        progress("storing")
        staged = work / "out"
        staged.mkdir()
        written = write_canonical(data, staged)
        write_magnitude_preview(data.magnitude[..., 0], data.affine, staged / ScanSession.FILES["preview"])
        scan = ScanSession(
            uid=uuid.uuid4(), study=study, patient=patient, source_format=data.source_format,
            echo_times_ms=[round(t * 1000, 4) for t in data.echo_times_s],
            matrix=list(data.matrix), voxel_size_mm=[round(float(v), 4) for v in data.voxel_size_mm],
            orientation=data.orientation, b0_direction=[round(float(v), 5) for v in data.b0_direction],
            warnings=list(data.warnings), pixel_sha256=data.pixel_sha256,
            file_sha256={kind: sha256_of(path) for kind, path in written.items()},
            uploaded_by=user, **fields,
        )
        scan._change_reason = "Uploaded"
        scan._history_user = user  # an ingest worker has no request to take it from
        final = Path(settings.MEDIA_ROOT) / scan_directory(scan)
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(final)
        try:
            with transaction.atomic():
                scan.save()
                if stored:
                    stored(scan)
                for hook in _scan_stored:
                    hook(scan, reconstruction, user)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
    return scan
