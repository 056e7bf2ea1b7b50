"""Reconstruction jobs per hour with one worker (concurrency 1) on the phantom scan.

Phantom: 1.5 mm isotropic, 112 x 120 x 112, 5 echoes (TE 4-28 ms), 3 T, default parameters.
Scans go through the real upload path; the clock runs from the first queued run to the last success.
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

from .server import ROOT, Installation

JOBS = 6


def main() -> None:
    install = Installation()
    user, study, _ = install.coordinator_session()
    from clinical.models import Patient
    from recon.models import ReconRun
    from recon.phantom_upload import upload_phantom
    from qsm.phantom import simulate_head

    patient = Patient.objects.create(study=study, code="BENCH-1", diagnosis="ALS")
    started = time.perf_counter()
    for seed in range(JOBS):
        upload_phantom(patient, simulate_head(seed=seed), dt.date(2024, 1, 1 + seed), user)
    print(f"uploaded {JOBS} phantom scans in {time.perf_counter() - started:.0f} s")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "qsmstudy", "worker", "--queues=recon,celery", "--concurrency=1",
         "--loglevel=WARNING"],
        cwd=ROOT, env=install.env,
    )
    try:
        runs = ReconRun.objects.filter(scan__study=study)
        started = time.perf_counter()
        while runs.exclude(status__in=ReconRun.FINISHED).exists():
            time.sleep(0.5)
        seconds = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    succeeded = runs.filter(status=ReconRun.Status.SUCCEEDED)
    print(f"{succeeded.count()}/{JOBS} runs succeeded in {seconds:.0f} s (including worker start-up)")
    per_run = [sum(r.timings.values()) for r in succeeded]
    print(f"pipeline seconds per run: {min(per_run):.1f}-{max(per_run):.1f}")
    print(f"throughput: {3600 * succeeded.count() / seconds:.0f} jobs per hour with one worker")
