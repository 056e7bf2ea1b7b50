"""Transfer jobs are idempotent: a finished one is not run again, a live one is left alone, a stale one is
taken over, and a delivery that lost its claim saves nothing."""
import datetime as dt
import io
import os
import zipfile
from pathlib import Path

import pytest
from django.utils import timezone

from exchange import transfers
from exchange.export import Selection, export_study
from exchange.models import Transfer
from exchange.tasks import export_bids_task, import_bids_task
from clinical.upload_handler import IncomingUploadedFile
from tests.conftest import wait_for
from tests.exchange.conftest import run_jobs
from tests.exchange.study_data import DESIGN, build_study

pytestmark = pytest.mark.django_db(transaction=True)


def incoming_upload(name: str, data: bytes) -> IncomingUploadedFile:
    """An upload as the BIDS views receive it: streamed to MEDIA_ROOT/.incoming."""
    upload = IncomingUploadedFile(name, "application/zip", len(data), None)
    upload.write(data)
    upload.flush()
    return upload


def exported(study) -> bytes:
    out = io.BytesIO()
    export_study(study, Selection(), out)
    return out.getvalue()


def test_a_second_delivery_of_a_finished_export_does_nothing(study, coordinator, media):
    build_study(study, design=DESIGN[:2], scans=False)
    transfer = transfers.start_export(study, Selection(), coordinator)
    assert export_bids_task.apply(args=[transfer.pk]).get() == "succeeded"
    transfer.refresh_from_db()
    written = transfer.file.stat().st_mtime_ns
    assert (transfer.attempts, transfer.result) == (1, {"participants": 2, "sessions": 0, "with_derivatives": 0})

    assert export_bids_task.apply(args=[transfer.pk]).get() == "finished"
    assert export_bids_task.apply(args=[transfer.pk + 1000]).get() == "missing"
    transfer.refresh_from_db()
    assert transfer.attempts == 1 and transfer.file.stat().st_mtime_ns == written


def test_a_live_job_is_left_alone_and_a_stale_one_is_taken_over(study, coordinator, media, settings):
    build_study(study, design=DESIGN[:1], scans=False)
    transfer = transfers.start_export(study, Selection(), coordinator)
    other = transfers.claim(transfer.pk)  # another worker holds it and beats
    leftover = transfers.exports_dir() / f"{transfer.uid}.zip.tmp-{other.token}"
    leftover.write_bytes(b"half a zip")

    assert export_bids_task.apply(args=[transfer.pk]).get() == "busy"
    transfer.refresh_from_db()
    assert transfer.status == "running" and transfer.claim == other.token and leftover.exists()

    stale = timezone.now() - dt.timedelta(seconds=settings.RECON_STALE_AFTER_SECONDS + 1)
    Transfer.objects.filter(pk=transfer.pk).update(heartbeat_at=stale)  # that worker was killed
    assert export_bids_task.apply(args=[transfer.pk]).get() == "succeeded"
    transfer.refresh_from_db()
    assert transfer.attempts == 2 and transfer.file.is_file() and not leftover.exists()
    assert sorted(p.name for p in transfers.exports_dir().iterdir()) == [f"{transfer.uid}.zip"]


def test_an_import_whose_claim_was_taken_over_saves_nothing_and_keeps_the_zip(study, other_study, coordinator, media,
                                                                            settings):
    build_study(study, design=DESIGN[:2], scans=False)
    transfer = transfers.start_import(other_study, incoming_upload("study.zip", exported(study)), coordinator)
    first = transfers.claim(transfer.pk)
    Transfer.objects.filter(pk=transfer.pk).update(heartbeat_at=timezone.now() - dt.timedelta(hours=1))
    second = transfers.claim(transfer.pk)  # a later delivery took over

    # The first delivery gets to the end of its import only to find the job is not its own any more.
    assert transfers.run(first, transfers.Progress(first)) == "taken over"
    assert not other_study.patients.exists() and transfer.upload.is_file()
    assert transfers.run(second, transfers.Progress(second)) == "succeeded"
    transfer.refresh_from_db()
    assert transfer.result["patients"] == 2 and other_study.patients.count() == 2 and not transfer.upload.exists()
    assert import_bids_task.apply(args=[transfer.pk]).get() == "finished"
    assert other_study.patients.count() == 2


def test_an_import_whose_zip_is_gone_says_to_upload_it_again(study, coordinator, media):
    transfer = transfers.start_import(study, incoming_upload("visit.zip", b"PK"), coordinator)
    transfer.upload.unlink()
    assert import_bids_task.apply(args=[transfer.pk]).get() == "failed"
    transfer.refresh_from_db()
    assert transfer.message.startswith("The uploaded visit.zip is gone") and "upload it again" in transfer.message


def test_a_zip_that_is_not_one_is_refused_with_its_name(study, coordinator, media):
    transfer = transfers.start_import(study, incoming_upload("notes.zip", b"not a zip at all"), coordinator)
    assert import_bids_task.apply(args=[transfer.pk]).get() == "failed"
    transfer.refresh_from_db()
    assert transfer.message.startswith("Nothing was imported from notes.zip")
    assert transfer.problems and "notes.zip" in transfer.problems[0]
    assert not transfer.upload.exists()


def test_an_upload_is_moved_not_copied_into_its_job(study, coordinator, media):
    upload = incoming_upload("study.zip", b"PK" * 10)
    streamed = Path(upload.temporary_file_path())
    assert streamed.parent == media / ".incoming" / "tmp"
    inode = os.stat(streamed).st_ino
    transfer = transfers.start_import(study, upload, coordinator)
    assert not streamed.exists() and transfer.upload.stat().st_ino == inode
    assert transfer.upload == media / ".incoming" / f"bids-import-{transfer.uid}.zip"


def test_the_progress_of_an_export_goes_up_to_the_end(study, media):
    build_study(study, design=DESIGN[:2])
    reports = []
    export_study(study, Selection(), io.BytesIO(), lambda stage, fraction: reports.append((stage, fraction)))
    fractions = [fraction for _, fraction in reports]
    assert fractions == sorted(fractions) and fractions[0] == 0 and fractions[-1] == 1
    assert [stage for stage, _ in reports] == ["reading the study", "writing scans", "writing scans",
                                               "writing derivatives", "writing derivatives", "written"]


def test_a_running_job_shows_the_progress_its_worker_reports(study, coordinator, settings):
    settings.RECON_HEARTBEAT_SECONDS = 0.05
    build_study(study, design=DESIGN[:1], scans=False)
    transfer = transfers.start_export(study, Selection(), coordinator)
    held = transfers.claim(transfer.pk)
    progress = transfers.Progress(held)
    progress.start()
    progress("writing scans", 0.4)
    try:
        def reported():
            transfer.refresh_from_db()
            return transfer.percent == 40

        wait_for(reported, timeout=5, interval=0.05)
        assert transfer.as_status()["state"] == "writing scans (40 %)"
        Transfer.objects.filter(pk=transfer.pk).update(claim=None)  # taken over by another delivery
        wait_for(progress.lost.is_set, timeout=5, interval=0.05)
        with pytest.raises(transfers.TakenOver):
            progress("writing scans", 0.5)
    finally:
        progress.stopped.set()
        progress.join()


def test_a_refused_import_names_the_users_file_not_the_servers_copy(study, coordinator, media):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escape.txt", b"x")  # refused by the zip check, which names the archive
    upload = incoming_upload("my-study.zip", archive.getvalue())
    transfer = transfers.start_import(study, upload, coordinator)
    run_jobs()
    transfer.refresh_from_db()
    said = " ".join([transfer.message, *transfer.problems])
    assert transfer.status == Transfer.Status.FAILED and "my-study.zip" in said
    assert "bids-import-" not in said and str(media) not in said
