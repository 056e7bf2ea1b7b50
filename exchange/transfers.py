"""BIDS exports and imports as jobs: started by a request, run by a worker, put right by the sweep.

The request saves a Transfer and its task is sent once the transaction commits (clinical.dispatch):
with the broker down the row stays queued, the page says it waits for a worker, and the sweep sends
it later. One delivery of the task at a time holds the job (a claim token on the row, as for
reconstruction runs in recon.jobs); a worker killed mid-job stops its heartbeat and a later delivery
takes over. An export is written to a file named after its claim and renamed into place by the claim
holder in the transaction that marks it succeeded; an import saves everything and marks the job
succeeded in one transaction, so a second delivery can never import the same zip twice.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone

from clinical.claims import Claim, claim_row, held_by, unfinished
from clinical.dispatch import send_now, send_on_commit
from clinical.models import Study
from clinical.scans import incoming_dir, remove_untouched
from clinical.scanio.errors import without_paths

from .export import Selection, export_study
from .importer import BidsImportError, ImportResult, import_bids
from .models import Transfer

log = logging.getLogger(__name__)
TASKS = {Transfer.Kind.EXPORT: "exchange.export_bids", Transfer.Kind.IMPORT: "exchange.import_bids"}  # exchange.tasks


class TakenOver(Exception):
    """Another delivery of the task holds the job now; this one stops without touching it."""


def exports_dir() -> Path:
    folder = Path(settings.MEDIA_ROOT) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Starting jobs (the pages and the API).

def start_export(study: Study, selection: Selection, user) -> Transfer:
    """Save an export job for the selection and send its task once the transaction commits."""
    transfer = Transfer.objects.create(kind=Transfer.Kind.EXPORT, study=study, requested_by=user,
                                       selection=selection.as_dict())
    send_on_commit(TASKS[transfer.kind], transfer.pk)
    return transfer


def start_import(study: Study, upload: UploadedFile, user) -> Transfer:
    """Save an import job for an upload streamed to MEDIA_ROOT/.incoming (clinical.upload_handler), moving it
    to the job's own name there, and send its task once the transaction commits."""
    transfer = Transfer(kind=Transfer.Kind.IMPORT, study=study, requested_by=user, upload_name=upload.name[:255])
    target = incoming_dir() / f"bids-import-{transfer.uid}.zip"
    Path(upload.temporary_file_path()).replace(target)  # a rename: the upload is already on this disk
    upload.close()  # its temporary file is now the job's: nothing left for the request to remove
    transfer.upload_path = target.relative_to(settings.MEDIA_ROOT).as_posix()
    try:
        transfer.save()
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    send_on_commit(TASKS[transfer.kind], transfer.pk)
    return transfer


# Running them (exchange.tasks).

def claim(transfer_id: int) -> Claim | str:
    """Take the job for this delivery, or say why not: "missing", "finished", "busy" (a live worker has it)."""
    return claim_row(Transfer, transfer_id, Transfer.Status.RUNNING, stage="starting", percent=0)


def _holding(claim: Claim):
    return held_by(Transfer, claim, Transfer.Status.RUNNING)


class Progress(threading.Thread):
    """The job's progress callback, and a thread that stores its latest stage and percent with a heartbeat.

    The thread writes from its own database connection: an import saves everything in one
    transaction, where the job's own writes would stay unseen until the end. If the job was
    taken over meanwhile, the next report raises TakenOver.
    """

    def __init__(self, claim: Claim) -> None:
        super().__init__(daemon=True)
        self.claim, self.stopped, self.lost = claim, threading.Event(), threading.Event()
        self.stage, self.percent = "starting", 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        if self.lost.is_set():
            raise TakenOver(f"transfer {self.claim.pk} was taken over")
        # 100 % is for the published outcome; the last step (renaming, committing) is still to come.
        self.stage, self.percent = stage, round(min(99.0, 100 * fraction), 1)

    def run(self) -> None:
        interval = min(1.0, settings.RECON_HEARTBEAT_SECONDS)  # often enough for the page's progress bar
        while not self.stopped.wait(interval):
            if not _holding(self.claim).update(stage=self.stage, percent=self.percent, heartbeat_at=timezone.now()):
                self.lost.set()
        connection.close()  # this thread's own connection


def work(transfer_id: int) -> str:
    """Run the job if this delivery can claim it; return what happened (for the task's result and logs)."""
    held = claim(transfer_id)
    if isinstance(held, str):
        return held
    progress = Progress(held)
    progress.start()
    try:
        return run(held, progress)
    finally:
        progress.stopped.set()


def run(claim: Claim, progress: Progress) -> str:
    """Do a claimed job and record its outcome; return its status, or "taken over" (then nothing was changed)."""
    transfer = Transfer.objects.select_related("study", "requested_by").get(pk=claim.pk)
    try:
        if transfer.kind == Transfer.Kind.EXPORT:
            _export(transfer, claim, progress)
        else:
            _import(transfer, claim, progress)
    except TakenOver:
        return "taken over"
    except BidsImportError as exc:
        _fail(claim, f"Nothing was imported from {transfer.upload_name}: fix these problems in the dataset and "
                     "upload it again.", exc.problems)
    except ValueError as exc:  # bad or vanished input: trying again cannot help
        _fail(claim, without_paths(str(exc)))
    except Exception as exc:
        log.exception("transfer %s failed", transfer.pk)
        _fail(claim, f"The {transfer.kind} failed ({exc.__class__.__name__}: {without_paths(str(exc))}); start it "
                     "again, and if it fails again ask an administrator to look at the worker's log.")
    if transfer.kind == Transfer.Kind.IMPORT:
        transfer.upload.unlink(missing_ok=True)  # imported or refused: the zip is not needed any more
    return Transfer.objects.values_list("status", flat=True).get(pk=transfer.pk)


def _export(transfer: Transfer, claim: Claim, progress: Progress) -> None:
    selection = Selection.from_dict(transfer.selection)
    if not selection.patients(transfer.study).exists():
        raise ValueError("No patient matches this selection any more; widen the filters and export again.")
    folder = exports_dir()
    for partial in folder.glob(f"{transfer.uid}.zip.tmp-*"):  # what a killed worker left of this job
        partial.unlink(missing_ok=True)
    partial = folder / f"{transfer.uid}.zip.tmp-{claim.token}"
    try:
        with partial.open("wb") as out:
            summary = export_study(transfer.study, selection, out, progress)
        with transaction.atomic():
            held = _holding(claim).select_for_update().first()
            if held is None:
                raise TakenOver(f"transfer {transfer.pk} was taken over before it finished")
            target = folder / f"{transfer.uid}.zip"
            partial.rename(target)
            _succeed(held, f"Exported {selection.describe()}: {summary}.",
                     {"participants": summary.participants, "sessions": summary.sessions,
                      "with_derivatives": summary.with_derivatives},
                     file_path=target.relative_to(settings.MEDIA_ROOT).as_posix(), file_name=f"{summary.name}.zip")
    finally:
        partial.unlink(missing_ok=True)


def _import(transfer: Transfer, claim: Claim, progress: Progress) -> None:
    if not transfer.upload.is_file():
        raise ValueError(f"The uploaded {transfer.upload_name} is gone (uploads waiting longer than "
                         f"{settings.SWEEP_LEFTOVERS_AFTER} s for a worker are removed); upload it again.")

    def record(result: ImportResult) -> None:  # inside the import's transaction
        held = _holding(claim).select_for_update().first()
        if held is None:
            raise TakenOver(f"transfer {transfer.pk} was taken over before it finished")
        counts = {name: getattr(result, name) for name in ("patients", "exams", "scans", "rois", "external_values")}
        _succeed(held, f"Imported {transfer.upload_name}: {result.summary()}.",
                 {**counts, "notes": result.notes, "summary": result.summary()})

    import_bids(transfer.study, transfer.upload, filename=transfer.upload_name, user=transfer.requested_by,
                progress=progress, before_commit=record)


def _succeed(transfer: Transfer, message: str, result: dict, **fields) -> None:
    transfer.status, transfer.stage, transfer.percent = Transfer.Status.SUCCEEDED, "done", 100
    transfer.message, transfer.result, transfer.finished_at = message, result, timezone.now()
    for name, value in fields.items():
        setattr(transfer, name, value)
    transfer.save()


def _fail(claim: Claim, message: str, problems: list[str] | None = None) -> None:
    _holding(claim).update(status=Transfer.Status.FAILED, stage="failed", message=message, problems=problems or [],
                           finished_at=timezone.now())


# Putting things right (registered with recon.sweep).

def resend_lost(queued_before: dt.datetime | None = None, only_stale: bool = False) -> list[int]:
    """Send again the jobs whose message may have been lost (see :func:`clinical.claims.unfinished`);
    return the ids sent."""
    ids = unfinished(Transfer, Transfer.Status.QUEUED, Transfer.Status.RUNNING, queued_before, only_stale)
    kinds = dict(Transfer.objects.filter(pk__in=ids).values_list("pk", "kind"))
    return [pk for pk in ids if send_now(TASKS[kinds[pk]], pk)]


def remove_expired_exports() -> int:
    """Delete export zips older than BIDS_EXPORT_KEPT_FOR (their jobs then say so), and what killed
    workers or deleted studies left in MEDIA_ROOT/exports as long untouched; return how many files."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.BIDS_EXPORT_KEPT_FOR)
    expired = Transfer.objects.filter(kind=Transfer.Kind.EXPORT, status=Transfer.Status.SUCCEEDED,
                                      finished_at__lt=cutoff).exclude(file_path="")
    removed = 0
    for transfer in expired:
        (Path(settings.MEDIA_ROOT) / transfer.file_path).unlink(missing_ok=True)
        Transfer.objects.filter(pk=transfer.pk).update(file_path="")
        removed += 1
    return removed + remove_untouched(exports_dir().iterdir(), settings.BIDS_EXPORT_KEPT_FOR)


def sweep(worker_start: bool) -> str:
    """The sweep's part for transfers (recon.sweep.register_sweeper): as for runs, every queued or running
    job is sent when a worker starts, otherwise only old queued and stale running ones."""
    if worker_start:
        resent = resend_lost()
    else:
        resent = resend_lost(queued_before=timezone.now() - dt.timedelta(seconds=settings.SWEEP_RESEND_AFTER),
                             only_stale=True)
    expired = remove_expired_exports()
    return f"resent BIDS transfers {resent}, removed {expired} expired exports" if resent or expired else ""
