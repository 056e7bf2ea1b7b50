"""A web server killed in the middle of receiving an upload: no row, and nothing left once the sweep has run."""
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from clinical.models import Ingest, Patient, ScanSession
from recon.sweep import sweep
from tests.conftest import ARTIFACTS, wait_for, worker_environment

pytestmark = pytest.mark.worker  # a real server process
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(transactional_db):
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "qsmstudy.wsgi", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=worker_environment(), start_new_session=True,
        stdout=open(ARTIFACTS / "gunicorn-killed.log", "wb"), stderr=subprocess.STDOUT)

    def answers() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(answers, timeout=60)
    yield process, port
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def incoming_files() -> list[Path]:
    incoming = Path(settings.MEDIA_ROOT) / ".incoming"
    return [p for p in incoming.rglob("*") if p.is_file()] if incoming.exists() else []


def test_a_killed_upload_leaves_no_row_and_the_sweep_removes_its_bytes(gunicorn, coordinator, study, settings):
    process, port = gunicorn
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    token = Token.objects.create(user=coordinator).key
    before = set(incoming_files())
    boundary = "qsmstudyboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"patient\"\r\n\r\n{patient.pk}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"exam.zip\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()
    declared = len(head) + 64 * 1024**2  # a 64 MiB file, of which only 8 MiB will ever arrive
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall((f"POST /api/v1/studies/{study.pk}/scans/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        f"Authorization: Token {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                        f"Content-Length: {declared}\r\n\r\n").encode() + head)
    connection.sendall(b"\0" * 8 * 1024**2)
    wait_for(lambda: [p for p in set(incoming_files()) - before if p.stat().st_size > 0], timeout=30)

    os.killpg(process.pid, signal.SIGKILL)  # gunicorn and its worker, mid-request
    process.wait()
    connection.close()
    partial = sorted(set(incoming_files()) - before)
    assert partial and all(p.parent.name == "tmp" for p in partial)  # only under .incoming, never /tmp
    assert not Ingest.objects.exists() and not ScanSession.objects.exists()

    settings.SWEEP_LEFTOVERS_AFTER = 0
    sweep()
    assert not any(p.exists() for p in partial)
