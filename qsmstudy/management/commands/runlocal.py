"""Serve qsmstudy on a laptop: a Celery worker process plus Django's development server."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from clinical.models import Role, Study

LOCAL_USER = "coordinator"
LOCAL_PASSWORD = "qsmstudy-local"
LOCAL_STUDY = "Motor cortex QSM (local)"


class Command(BaseCommand):
    help = "Start a Celery worker and the development server; create a local login on first run."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addrport", default=os.environ.get("QSMSTUDY_ADDRPORT", "127.0.0.1:8000"))

    def handle(self, *args, addrport: str, **options) -> None:
        created = self.ensure_local_login()
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "qsmstudy", "worker", "--loglevel=INFO",
             "--queues=celery,ingest,recon", "--concurrency=1", "--beat"],  # embedded beat: the periodic sweep
            env=os.environ.copy(),
        )
        if os.environ.get("DEMO", "1") != "0":
            self.seed_demo()
        host, _, port = addrport.rpartition(":")
        self.stdout.write(self.style.SUCCESS(f"\nqsmstudy is at http://{host or '127.0.0.1'}:{port}/"))
        self.stdout.write(
            f"Log in as '{LOCAL_USER}' with password '{LOCAL_PASSWORD}'"
            + (" (created just now)." if created else ".")
        )
        self.stdout.write(f"Worker pid {worker.pid}, broker {settings.CELERY_BROKER_URL}. Ctrl-C stops both.\n")
        # A plain `kill` must also stop the worker: turn SIGTERM into a normal exit.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            worker.terminate()
            worker.wait(timeout=30)

    def seed_demo(self) -> None:
        """The synthetic demo study (DEMO=0 skips it); its scans reconstruct on the worker just started."""
        from dashboard.demo import DEMO_STUDY, seed_demo

        user = get_user_model().objects.filter(username=LOCAL_USER).first()
        if user is None:
            return
        self.stdout.write(f"Creating the synthetic demo study '{DEMO_STUDY}' (DEMO=0 skips this)…")
        if seed_demo(user, say=self.stdout.write):
            self.stdout.write("Demo scans are queued; the dashboard fills in as the worker reconstructs them.")

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
