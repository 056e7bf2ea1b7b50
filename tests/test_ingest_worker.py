"""Ingest through a real worker process: stored once, even when the worker is SIGKILLed at each stage."""
import datetime as dt
import os
import signal
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from clinical.models import Ingest, Patient, ScanSession
from clinical.scanio.synthetic import write_dicom_series
from recon.models import ReconRun
from recon.sweep import sweep
from tests.api.conftest import token_client
from tests.conftest import wait_for
from tests.scan_data import ECHO_TIMES_S, dicom_zip, gre_arrays

pytestmark = pytest.mark.worker


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))


def post(coordinator, patient, archive: Path):
    with archive.open("rb") as handle:
        response = token_client(coordinator).post(f"/api/v1/studies/{patient.study_id}/scans/",
                                                  {"patient": patient.pk, "files": [handle]}, format="multipart")
    assert response.status_code == 202, response.json()
    return Ingest.objects.get(uid=response.json()["id"])


def larger_zip(folder: Path) -> Path:
    """A series big enough (96 x 96 x 48, 4 echoes) that each ingest stage lasts long enough to be killed in."""
    magnitude, phase, affine = gre_arrays(shape=(96, 96, 48))
    write_dicom_series(folder / "dicom", magnitude, phase, ECHO_TIMES_S, affine, identifying=True)
    target = folder / "large.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted((folder / "dicom").rglob("*")):
            archive.write(path, path.relative_to(folder / "dicom").as_posix())
    return target


def reload(ingest: Ingest) -> Ingest:
    ingest.refresh_from_db()
    return ingest


def incoming_leftovers() -> list[Path]:
    incoming = Path(settings.MEDIA_ROOT) / ".incoming"
    return sorted(p for p in incoming.rglob("*") if p.is_file()) if incoming.exists() else []


def test_an_upload_is_checked_and_stored_by_the_worker(workers, coordinator, patient, tmp_path):
    workers.start()
    ingest = post(coordinator, patient, dicom_zip(tmp_path))
    wait_for(lambda: reload(ingest).finished, timeout=60)
    assert ingest.status == Ingest.Status.STORED, ingest.errors
    assert ingest.scan == ScanSession.objects.get() and ingest.attempts == 1
    assert ReconRun.objects.get(scan=ingest.scan).created_by == coordinator  # handed on to reconstruction
    wait_for(lambda: not ingest.folder.exists(), timeout=10)  # removed just after the commit


@pytest.mark.parametrize("stage", ["converting and de-identifying", "storing"])
def test_a_worker_killed_while_ingesting_is_replaced_and_the_scan_stored_once(workers, coordinator, patient,
                                                                              tmp_path, settings, stage):
    worker = workers.start()
    ingest = post(coordinator, patient, larger_zip(tmp_path))
    wait_for(lambda: reload(ingest).stage == stage, timeout=60, interval=0.02)
    os.killpg(worker.pid, signal.SIGKILL)  # the main process and its pool child, no warning
    worker.wait()
    assert not ScanSession.objects.exists() and reload(ingest).status == Ingest.Status.CHECKING

    workers.start("ingest-restarted")  # a starting worker sends unfinished ingests again
    wait_for(lambda: reload(ingest).finished, timeout=90)
    assert ingest.status == Ingest.Status.STORED, ingest.errors
    assert ingest.attempts == 2 and ScanSession.objects.count() == 1
    assert all(ingest.scan.path(kind).is_file() for kind in ScanSession.FILES)
    settings.SWEEP_LEFTOVERS_AFTER = 0  # the killed worker's work folder, now that nothing is running
    sweep()
    assert incoming_leftovers() == []
