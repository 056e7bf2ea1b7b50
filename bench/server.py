"""A throwaway qsmstudy installation for benchmarks: its own var/ folder, a login and a gunicorn server."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Installation:
    """Settings, database and media under a temporary folder; SQLite and the embedded broker."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="qsmstudy-bench-"))
        self.env = os.environ.copy() | {
            "QSMSTUDY_VAR_DIR": str(self.folder),
            "DJANGO_SETTINGS_MODULE": "qsmstudy.settings",
            "DEBUG": "0",
            "SECURE": "0",
            "SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        }
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

    def coordinator_session(self, username: str = "bench"):
        """A coordinator of a new study and a logged-in session key for them."""
        from django.contrib.auth import get_user_model
        from django.contrib.sessions.backends.db import SessionStore

        from clinical.models import Role, Study

        user = get_user_model().objects.create_user(username, password="bench-password-123")
        study = Study.objects.create(name=f"Benchmark study {username}")
        study.add_member(user, Role.COORDINATOR)
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        return user, study, session.session_key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """One synchronous gunicorn worker serving the installation, so its memory can be read."""

    def __init__(self, installation: Installation, timeout_s: int = 3600) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "qsmstudy.wsgi", "--workers", "1", "--timeout", str(timeout_s),
             "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning"],
            cwd=ROOT, env=installation.env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not start")

    def worker_pid(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def memory_kib(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (peak resident set) of a process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)
