"""Peak memory of ingesting a ~1 GB DICOM zip: in the web process, in an ingest worker, and in dcm2niix.

The zip is a synthetic Siemens-like multi-echo GRE series (magnitude + phase) written with
clinical.scanio.synthetic.  It is posted with curl to a gunicorn worker, whose peak resident set
(VmHWM) is read from /proc before and after.  It is then ingested again, into a second study, by
``clinical.scans.ingest`` in a fresh child process, the function an ingest worker runs; that
process reports its own peak resident set and the time taken.  The dcm2niix conversion inside an
ingest is last timed alone on the same files, with its own peak memory (a separate process).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from .server import ROOT, Gunicorn, Installation, memory_kib

# 400 x 400 x 208 voxels, 8 echoes, magnitude + phase: 3,328 slices of 312 KiB = about 1 GiB of DICOM.
SHAPE = tuple(int(v) for v in os.environ.get("BENCH_UPLOAD_SHAPE", "400,400,208,8").split(","))

#: Run in a fresh interpreter: Django set up as a worker has it, then one ingest of the zip.
WORKER = """
import json, sys, time
from pathlib import Path

import django

django.setup()
from django.contrib.auth import get_user_model

from clinical.models import Patient
from clinical.scans import ingest

def kib(field):
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith(field + ":")).split()[1])

patient_pk, user_pk, archive = json.loads(sys.argv[1])
patient, user = Patient.objects.get(pk=patient_pk), get_user_model().objects.get(pk=user_pk)
before = kib("VmHWM")
started = time.perf_counter()
scan = ingest(patient, {}, [Path(archive)], user)  # the date comes from the headers
print(json.dumps({"seconds": time.perf_counter() - started, "before_kib": before, "peak_kib": kib("VmHWM"),
                  "matrix": scan.matrix, "echoes": len(scan.echo_times_ms)}))
"""


def make_zip(folder: Path) -> Path:
    from clinical.scanio.synthetic import write_dicom_series

    x, y, z, echoes = SHAPE
    rng = np.random.default_rng(0)
    te = [0.004 + 0.004 * i for i in range(echoes)]
    magnitude = rng.uniform(100, 1000, size=SHAPE).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, size=SHAPE).astype(np.float32)
    affine = np.diag([0.7, 0.7, 0.8, 1.0])
    series = folder / "dicom"
    write_dicom_series(series, magnitude, phase, te, affine)
    del magnitude, phase
    target = folder / "exam.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(series.rglob("*")):
            archive.write(path, path.relative_to(series).as_posix())
    return target


def main() -> None:
    install = Installation()
    _, study, session_key = install.coordinator_session()
    from clinical.models import Patient

    patient = Patient.objects.create(study=study, code="BENCH-1", diagnosis="ALS")
    started = time.perf_counter()
    archive = make_zip(install.folder)
    size = archive.stat().st_size
    print(f"made {size / 2**30:.2f} GiB DICOM zip ({SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}, {SHAPE[3]} echoes, "
          f"magnitude + phase) in {time.perf_counter() - started:.0f} s")
    server = Gunicorn(install)
    try:
        pid = server.worker_pid()
        before = memory_kib(pid, "VmHWM")
        csrf = "b" * 32
        started = time.perf_counter()
        result = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
             "-b", f"sessionid={session_key}; csrftoken={csrf}", "-H", f"X-CSRFToken: {csrf}",
             "-H", f"Referer: {server.url}/",
             "-F", f"files=@{archive}",  # the date comes from the headers
             f"{server.url}/studies/{study.pk}/patients/{patient.pk}/scans/new/"],
            capture_output=True, text=True, check=True,
        )
        seconds = time.perf_counter() - started
        peak = memory_kib(pid, "VmHWM")
    finally:
        server.stop()
    stored = patient.scans.count()
    print(f"upload answered HTTP {result.stdout} in {seconds:.0f} s; scans stored: {stored}")
    if stored != 1:
        raise SystemExit("the upload was not stored, so the memory figures would not describe an ingest")
    print(f"web worker peak RSS: {before / 1024:.0f} MiB before, {peak / 1024:.0f} MiB after "
          f"(upload {size / 2**20:.0f} MiB; decoded arrays {2 * np.prod(SHAPE) * 4 / 2**20:.0f} MiB float32)")
    worker_seconds = ingest_alone(install, archive)
    convert_alone(install.folder / "dicom", worker_seconds)


def ingest_alone(install: Installation, archive: Path) -> float:
    """Ingest the zip with ``clinical.scans.ingest`` in a child process (into a second study, as the first
    holds the series already); print its peak RSS and time, and return the time."""
    from clinical.models import Patient

    user, study, _ = install.coordinator_session("bench-worker")
    patient = Patient.objects.create(study=study, code="BENCH-2", diagnosis="ALS")
    result = subprocess.run([sys.executable, "-c", WORKER, json.dumps([patient.pk, user.pk, str(archive)])],
                            capture_output=True, text=True, check=True, env=install.env, cwd=ROOT)
    measured = json.loads(result.stdout.splitlines()[-1])
    print(f"ingest worker (clinical.scans.ingest in its own process): {measured['seconds']:.0f} s, peak RSS "
          f"{measured['peak_kib'] / 1024:.0f} MiB ({measured['before_kib'] / 1024:.0f} MiB after Django setup; "
          f"stored {'x'.join(map(str, measured['matrix']))}, {measured['echoes']} echoes)")
    return measured["seconds"]


def convert_alone(series: Path, ingest_seconds: float) -> None:
    """Time dcm2niix on the upload's files, as read_upload runs it, and read its peak RSS."""
    from clinical.scanio.dicom import dcm2niix_executable

    output = series.parent / "converted"
    output.mkdir()
    command = [dcm2niix_executable(), "-b", "y", "-ba", "n", "-z", "n", "-f", "%s_%j", "-o", str(output), str(series)]
    measure = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    started = time.perf_counter()
    peak_kib = int(subprocess.run([sys.executable, "-c", measure, *command], capture_output=True, text=True,
                                  check=True).stdout)
    seconds = time.perf_counter() - started
    print(f"dcm2niix alone on the same {len(list(series.iterdir()))} files: {seconds:.0f} s "
          f"({100 * seconds / ingest_seconds:.0f} % of the worker's ingest time), peak RSS {peak_kib / 1024:.0f} MiB")
