"""Serve qsmstudy on a laptop: a Celery worker process plus Django's development server."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from clinical.models import Role, Study

LOCAL_USER = "coordinator"
LOCAL_PASSWORD = "qsmstudy-local"
LOCAL_STUDY = "Motor cortex QSM (local)"


class Command(BaseCommand):
    help = ("Start a Celery worker and the development server; create a local login on first run and the "
            "synthetic demo study (DEMO=0 skips it) once the server answers.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addrport", default=os.environ.get("QSMSTUDY_ADDRPORT", "127.0.0.1:8000"))

    def handle(self, *args, addrport: str, **options) -> None:
        created = self.ensure_local_login()
        host, _, port = addrport.rpartition(":")
        host = host or "127.0.0.1"
        # The worker's banner and task log would bury the login lines: they go to a file.
        log_path = settings.VAR_DIR / "worker.log"
        with open(log_path, "ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "qsmstudy", "worker", "--loglevel=INFO",
                 "--queues=celery,ingest,recon", "--concurrency=1", "--beat"],  # embedded beat: the periodic sweep
                env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
            )
        lines = [
            f"qsmstudy is at http://{host}:{port}/",
            f"Log in as '{LOCAL_USER}' with password '{LOCAL_PASSWORD}'" + (" (created just now)." if created else "."),
        ]
        footer = f"Worker pid {worker.pid} (log: {log_path}), broker {settings.CELERY_BROKER_URL}. Ctrl-C stops both."
        threading.Thread(target=self.after_serving, args=(host, int(port), lines, footer), daemon=True).start()
        # A plain `kill` must also stop the worker: turn SIGTERM into a normal exit.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            call_command("runserver", addrport, use_reloader=False, skip_checks=True)  # migrate checked
        finally:
            worker.terminate()
            worker.wait(timeout=30)

    def after_serving(self, host: str, port: int, lines: list[str], footer: str) -> None:
        """Once the port answers: seed the demo, then print the URL and login last, where they are seen."""
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        seeded = os.environ.get("DEMO", "1") == "0" or self.seed_demo(lines[0])
        connection.close()  # this thread's own
        if not seeded:  # stopped meanwhile
            return
        self.stdout.write(footer)
        self.stdout.write(self.style.SUCCESS("\n" + lines[0]))
        self.stdout.write(lines[1] + "\n")

    def seed_demo(self, serving: str) -> bool:
        """The synthetic demo study, created in its own process so that the server keeps answering meanwhile;
        its scans reconstruct on the worker. False if that process was stopped (Ctrl-C)."""
        from dashboard.demo import DEMO_STUDY

        if Study.objects.filter(name=DEMO_STUDY).exists() or not get_user_model().objects.filter(
                username=LOCAL_USER).exists():
            return True
        # Usable meanwhile: say where, and with which login, before the minutes the demo takes.
        self.stdout.write(f"{serving} (login {LOCAL_USER} / {LOCAL_PASSWORD}); creating the synthetic demo study "
                          f"'{DEMO_STUDY}' meanwhile (DEMO=0 skips this)…")
        seeding = subprocess.run([sys.executable, "-m", "django", "seed_demo", LOCAL_USER], cwd=settings.BASE_DIR,
                                 env=os.environ.copy(), capture_output=True, text=True)
        if seeding.returncode < 0:
            return False
        if seeding.returncode != 0:
            self.stderr.write(f"The demo study could not be created:\n{seeding.stderr.strip()}")
        else:
            self.stdout.write("Demo study created: the dashboard fills in as the worker reconstructs its scans.")
        return True

    @transaction.atomic
    def ensure_local_login(self) -> bool:
        """On an empty installation, a coordinator login and a study to work in."""
        users = get_user_model().objects
        if users.exists():
            return False
        user = users.create_user(LOCAL_USER, password=LOCAL_PASSWORD)
        study = Study.objects.create(name=LOCAL_STUDY, site="Local", description="Created by make run.")
        study.add_member(user, Role.COORDINATOR)
        return True
