"""Uploads as jobs: the request receives the files, a worker checks and stores them.

:func:`receive` is what the upload page and the API call: it moves the received files under
MEDIA_ROOT/.incoming/ingests/<uid>/files/ (the only place raw uploads live), records their sizes
and SHA-256, saves an :class:`~clinical.models.Ingest` and sends the ``clinical.ingest`` task once
that row is committed. :func:`perform` is the task's work: it runs :func:`clinical.scans.ingest`
(the one check-and-store path) on the files and ends the ingest ``stored`` or ``refused``.

Reliability follows the reconstruction runs (recon.jobs): a delivery claims the ingest with a token
and keeps a heartbeat; a second delivery of a live ingest does nothing, a stale one is taken over,
a finished one is left alone. The scan row and the ingest's "stored" are saved in one transaction,
so a worker killed at any point leaves either no scan or a stored ingest, never both half-way.
Lost messages (a broker outage at the send, a Redis restarted empty) are re-sent by the sweep.
"""
from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from .claims import Claim, Heartbeat, claim_row, held_by, unfinished
from .dispatch import send_now, send_on_commit
from .forms import ScanUploadForm
from .held import HeldUpload
from .models import Ingest, Patient, ScanSession
from .scans import IngestRefused, incoming_dir, ingest, remove_untouched, save_uploads, sha256_of
from .tus import take_uploads

TASK = "clinical.ingest"  # clinical.tasks.ingest_task


def receive(patient: Patient, fields: dict, files: Sequence[UploadedFile | Path], names: Sequence[str] | None,
            user, *, reconstruction: dict | None = None) -> Ingest:
    """Take the files of one upload (uploaded, or on disk under MEDIA_ROOT/.incoming), queue the ingest.

    Parameters
    ----------
    patient : Patient
        Whose scan it is.
    fields : dict
        The upload form's typed fields (scan_date, site, field_strength_t) as strings; the worker checks them.
    files : sequence of UploadedFile or Path
        Uploaded files (moved from Django's temporary files) or files already received (moved).
    names : sequence of str, optional
        The files' relative names (a chosen folder's paths); the uploads' own names otherwise.
    user : User
        Who uploads.
    reconstruction : dict, optional
        Parameters of the first reconstruction.

    Raises
    ------
    IngestRefused
        When the typed fields are wrong (checked now, as the form does, so the answer is immediate).
    """
    typed = checked_fields(patient, fields)
    ingest_row = Ingest(study=patient.study, patient=patient, uploaded_by=user, reconstruction=reconstruction,
                        fields=typed)
    target = ingest_row.folder / "files"
    try:
        paths = save_uploads(files, target, names)
        ingest_row.files = [{"name": path.relative_to(target).as_posix(), "bytes": path.stat().st_size,
                             "sha256": sha256_of(path)} for path in paths]
        with transaction.atomic():
            ingest_row.save()
            send_on_commit(TASK, ingest_row.pk)
    except BaseException:
        shutil.rmtree(ingest_row.folder, ignore_errors=True)
        raise
    return ingest_row


def receive_resumable(patient: Patient, fields: dict, tus_ids: list, user, *,
                      reconstruction: dict | None = None) -> Ingest:
    """:func:`receive` for files sent ahead with tus (clinical.tus); ValueError names an unusable upload.

    The typed fields are checked first, so that a refusal of them leaves the uploads to be used again.
    """
    checked_fields(patient, fields)
    with tempfile.TemporaryDirectory(dir=incoming_dir()) as folder:
        paths = take_uploads(tus_ids, user, Path(folder), study=patient.study)
        names = [path.relative_to(folder).as_posix() for path in paths]
        return receive(patient, fields, paths, names, user, reconstruction=reconstruction)


def checked_fields(patient: Patient, fields: dict) -> dict:
    """The typed fields as text, if the upload form accepts them; IngestRefused with its errors if not."""
    typed = {name: "" if value is None else str(value) for name, value in fields.items()}
    form = ScanUploadForm(typed, patient=patient)
    if not form.is_valid():
        raise IngestRefused(form.errors)
    return typed


def claim(ingest_id: int) -> Claim | str:
    """Take the ingest for this delivery, or say why not: "missing", "finished", "busy" (a live worker has it)."""
    return claim_row(Ingest, ingest_id, Ingest.Status.CHECKING, stage="checking the files")


def _holding(claim: Claim):
    return held_by(Ingest, claim, Ingest.Status.CHECKING)


def heartbeat(claim: Claim) -> Heartbeat:
    return Heartbeat(lambda: _holding(claim))


class TakenOver(Exception):
    """Another delivery took the ingest over (this one's heartbeat had gone stale)."""


def perform(claim: Claim) -> Ingest:
    """Check and store a claimed ingest's files; end it stored or refused. Transient errors propagate."""
    row = Ingest.objects.select_related("patient__study", "uploaded_by").get(pk=claim.pk)
    paths = sorted(p for p in (row.folder / "files").rglob("*") if p.is_file())
    if not paths:
        _refuse(claim, {"files": ["The received files are gone from the server (removed before they were checked); "
                                  "upload them again."]})
        return Ingest.objects.get(pk=row.pk)

    def stored(scan: ScanSession) -> None:  # inside the transaction that saves the scan
        if not _holding(claim).update(status=Ingest.Status.STORED, stage="stored", scan=scan, finished_at=timezone.now()):
            raise TakenOver(f"ingest {row.pk} was taken over before it was stored")

    def progress(stage: str) -> None:
        _holding(claim).update(stage=stage, heartbeat_at=timezone.now())

    try:
        ingest(row.patient, row.fields, paths, row.uploaded_by, reconstruction=row.reconstruction,
               stored=stored, progress=progress)
    except IngestRefused as exc:
        held = ""
        if exc.files_were_fine and row.uploaded_by:
            held = HeldUpload.adopt(row.folder / "files", row.uploaded_by, row.patient).token
        _refuse(claim, exc.errors, held=held, duplicate=exc.duplicate)
    shutil.rmtree(row.folder, ignore_errors=True)
    return Ingest.objects.get(pk=row.pk)


def _refuse(claim: Claim, errors: dict, held: str = "", duplicate: ScanSession | None = None) -> None:
    _holding(claim).update(status=Ingest.Status.REFUSED, stage="refused", errors=errors, held=held,
                           duplicate_of=duplicate, finished_at=timezone.now())


def give_up(ingest_id: int, message: str) -> None:
    """End an ingest that cannot be done (retries exhausted), removing its files."""
    row = Ingest.objects.filter(pk=ingest_id).exclude(status__in=Ingest.FINISHED).first()
    if row is None:
        return
    Ingest.objects.filter(pk=row.pk).update(status=Ingest.Status.REFUSED, stage="refused",
                                            errors={"files": [message]}, finished_at=timezone.now())
    shutil.rmtree(row.folder, ignore_errors=True)


def release(claim: Claim) -> None:
    """Give a claimed ingest back to the queue (before a retry after a transient failure)."""
    _holding(claim).update(status=Ingest.Status.RECEIVED, claim=None, heartbeat_at=None, stage="waiting to retry")


def resend_lost(received_before=None, only_stale: bool = False) -> list[int]:
    """Send again ingests whose message may be lost (see :func:`clinical.claims.unfinished`); return their ids."""
    ids = unfinished(Ingest, Ingest.Status.RECEIVED, Ingest.Status.CHECKING, received_before, only_stale)
    return [pk for pk in ids if send_now(TASK, pk)]


def remove_leftovers(older_than_s: float) -> int:
    """Delete ingest folders a killed process left: those of finished ingests, and those without a row
    (a request killed while receiving) untouched for ``older_than_s``; return how many."""
    root = Path(settings.MEDIA_ROOT) / ".incoming" / "ingests"
    folders = list(root.iterdir()) if root.is_dir() else []
    if not folders:
        return 0
    rows = dict(Ingest.objects.values_list("uid", "status"))
    finished = [folder for folder in folders if rows.get(_uuid(folder.name)) in Ingest.FINISHED]
    for folder in finished:
        shutil.rmtree(folder, ignore_errors=True)
    return len(finished) + remove_untouched([f for f in folders if _uuid(f.name) not in rows], older_than_s)


def _uuid(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(name)
    except ValueError:
        return None
