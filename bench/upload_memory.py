"""Peak memory of a ~1 GB DICOM upload: the web process that receives it, the ingest worker, dcm2niix.

The zip is a synthetic Siemens-like multi-echo GRE series (magnitude + phase) written with
clinical.scanio.synthetic.  It is posted with curl to a gunicorn worker, whose peak resident set
(VmHWM) is read from /proc before and after: the request only receives the files (clinical.ingests).
The received ingest is then run by the ``clinical.ingest`` task in a fresh child process, as an
ingest worker runs it; that process reports its own peak resident set and the time taken.  The
dcm2niix conversion inside an ingest is last timed alone on the same files, with its own peak memory.
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

#: Run in a fresh interpreter: Django set up as a worker has it, then the ingest task on the received upload.
WORKER = """
import json, sys, time
from pathlib import Path

import django

django.setup()
from clinical.models import Ingest
from clinical.tasks import ingest_task

def kib(field):
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith(field + ":")).split()[1])

before = kib("VmHWM")
started = time.perf_counter()
status = ingest_task.apply(args=[int(sys.argv[1])]).get()
ingest = Ingest.objects.select_related("scan").get(pk=int(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - started, "before_kib": before, "peak_kib": kib("VmHWM"),
                  "status": status, "errors": ingest.errors,
                  "matrix": ingest.scan.matrix if ingest.scan else None}))
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
    from clinical.models import Ingest

    received = Ingest.objects.filter(patient=patient).first()
    print(f"upload answered HTTP {result.stdout} in {seconds:.0f} s (received, checked later by the ingest worker)")
    if received is None or received.total_bytes != size:
        raise SystemExit("the upload was not received whole, so the memory figures would not describe one")
    print(f"web worker peak RSS: {before / 1024:.0f} MiB before, {peak / 1024:.0f} MiB after: "
          f"+{(peak - before) / 1024:.0f} MiB for a {size / 2**20:.0f} MiB upload")
    worker_seconds = ingest_received(install, received.pk)
    convert_alone(install.folder / "dicom", worker_seconds)


def ingest_received(install: Installation, ingest_id: int) -> float:
    """Run the ingest task on the received upload in a child process; print its peak RSS and time, return the time."""
    result = subprocess.run([sys.executable, "-c", WORKER, str(ingest_id)],
                            capture_output=True, text=True, check=True, env=install.env, cwd=ROOT)
    measured = json.loads(result.stdout.splitlines()[-1])
    if measured["status"] != "stored":
        raise SystemExit(f"the ingest was not stored: {measured['errors']}")
    print(f"ingest worker (the clinical.ingest task in its own process): {measured['seconds']:.0f} s, peak RSS "
          f"{measured['peak_kib'] / 1024:.0f} MiB ({measured['before_kib'] / 1024:.0f} MiB after Django setup; "
          f"stored {'x'.join(map(str, measured['matrix']))})")
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
