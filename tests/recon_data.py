"""Scans made from the qsm phantom, stored as an upload would store them."""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from functools import lru_cache

import nibabel as nib
import numpy as np

from clinical.models import ScanSession
from recon import jobs, tasks
from qsm.phantom import HeadPhantom, simulate_head

SMALL = {"voxel_size_mm": 3.0, "matrix": (48, 56, 52), "te_ms": (4.0, 10.0, 16.0, 22.0)}
FULL = {"voxel_size_mm": 1.5, "matrix": (112, 120, 112), "te_ms": (4.0, 10.0, 16.0, 22.0, 28.0)}


@lru_cache(maxsize=4)
def phantom(size: str = "small", seed: int = 0) -> HeadPhantom:
    return simulate_head(**(SMALL if size == "small" else FULL), seed=seed)


def phantom_scan(patient, size: str = "small", *, seed: int = 0, field_strength_t: float | None = 3.0,
                 phase: np.ndarray | None = None, scan_date=dt.date(2024, 3, 5)) -> ScanSession:
    """Write a phantom's magnitude and phase where an upload would, then create the scan row."""
    head = phantom(size, seed)
    phase = head.phase if phase is None else phase
    scan = ScanSession(
        uid=uuid.uuid4(), study=patient.study, patient=patient, scan_date=scan_date,
        field_strength_t=field_strength_t, source_format="nifti",
        echo_times_ms=[t * 1000 for t in head.te_s], matrix=list(head.magnitude.shape[:3]),
        voxel_size_mm=list(head.voxel_size), orientation="RAS", b0_direction=[float(v) for v in head.b0_dir],
        pixel_sha256=hashlib.sha256(head.magnitude.tobytes() + phase.tobytes()).hexdigest(),
    )
    scan.path("magnitude").parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(head.magnitude, head.affine), scan.path("magnitude"))
    nib.save(nib.Nifti1Image(phase.astype(np.float32), head.affine), scan.path("phase"))
    scan.save()
    tasks.queue_first_run(scan, None, None)  # as clinical.scans.ingest hands every stored scan on
    return scan


def reconstructed(scan: ScanSession):
    """Run the scan's queued reconstruction in this process (the worker's own code, no broker)."""
    run = scan.recon_runs.get()
    jobs.reconstruct_run(jobs.claim(run.pk))
    run.refresh_from_db()
    return run
