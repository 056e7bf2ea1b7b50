"""Dashboard and analysis-API server time for a large study.

5,000 patients, each with 3 exams and 3 scans, 8 ROI values per scan (120,000 values), in SQLite
(or DATABASE_URL). Rows are bulk-inserted; the page and the API are then requested through Django's
test client, so the time is the server's own (no network), best of 5 after one warm-up.
"""
from __future__ import annotations

import datetime as dt
import os
import time
import uuid

import numpy as np

from .server import Installation

PATIENTS = int(os.environ.get("BENCH_PATIENTS", 5000))
LABELS = ["LMC", "RMC", "LCT", "RCT", "LSMA", "RSMA", "LPC", "RPC"]


def populate(study, user) -> None:
    from clinical.models import Exam, Patient, ScanSession
    from recon.models import ReconRun, RoiDefinition, RoiValue

    rng = np.random.default_rng(0)
    study.roi_labels = LABELS
    study.save()
    patients = Patient.objects.bulk_create(
        Patient(study=study, code=f"P{i:05d}", diagnosis="ALS" if i % 4 else "PLS", onset_month=dt.date(2019, 1, 1))
        for i in range(PATIENTS))
    exams = []
    for patient in patients:
        for k in range(3):
            exam = Exam(patient=patient, date=dt.date(2021 + k, 3, 1), examiner="bench",
                        mas_upper_left=str(rng.integers(0, 3)), reflex_biceps_right=int(rng.integers(1, 5)),
                        penn_umn_score=int(rng.integers(0, 33)), **{f"alsfrs_{i}": 3 for i in range(1, 13)})
            exam.refresh_derived()
            exams.append(exam)
    Exam.objects.bulk_create(exams, batch_size=5000)
    scans = ScanSession.objects.bulk_create(
        (ScanSession(uid=uuid.uuid4(), study=study, patient=p, scan_date=dt.date(2021 + k, 3, 5), source_format="nifti",
                     echo_times_ms=[4, 10, 16, 22], matrix=[256, 256, 128], voxel_size_mm=[1, 1, 1], orientation="RAS",
                     b0_direction=[0, 0, 1], pixel_sha256=uuid.uuid4().hex, field_strength_t=3)
         for p in patients for k in range(3)), batch_size=5000)
    runs = ReconRun.objects.bulk_create(
        (ReconRun(scan=s, params={"inversion": "iswim", "reference": "brain"}, status="succeeded", is_current=True)
         for s in scans), batch_size=5000)
    rois = RoiDefinition.objects.bulk_create(
        (RoiDefinition(scan=s, name=name, version=1, source="sphere", voxels=100, mask_file="-")
         for s in scans for name in LABELS), batch_size=10000)
    values = rng.normal(30, 8, len(rois))
    RoiValue.objects.bulk_create(
        (RoiValue(roi=roi, run=runs[i // len(LABELS)], mean_ppb=float(values[i]), voxels=100, reference="brain")
         for i, roi in enumerate(rois)), batch_size=10000)


def timed(client, url: str, repeats: int = 5) -> tuple[float, int]:
    client.get(url)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        best = min(best, time.perf_counter() - started)
    return best, response.status_code


def main() -> None:
    install = Installation()
    user, study, _ = install.coordinator_session()
    started = time.perf_counter()
    populate(study, user)
    print(f"populated {PATIENTS} patients, {3 * PATIENTS} exams, {3 * PATIENTS} scans, "
          f"{24 * PATIENTS} ROI values in {time.perf_counter() - started:.0f} s")
    from django.test import Client

    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    for name, url in [("dashboard page", f"/studies/{study.pk}/dashboard/"),
                      ("analysis API", f"/api/studies/{study.pk}/analysis"),
                      ("analysis API, PLS only", f"/api/studies/{study.pk}/analysis?diagnosis=PLS"),
                      ("dataset CSV", f"/studies/{study.pk}/dashboard/dataset.csv")]:
        seconds, status = timed(client, url)
        if status != 200:
            raise SystemExit(f"{url} answered HTTP {status}")
        print(f"{name}: {seconds * 1000:.0f} ms server time (HTTP {status}, best of 5)")
