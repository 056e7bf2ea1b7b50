"""Upload a simulated head (qsm.phantom) through the real ingest path, as a coordinator would.

Used by the benchmarks and the demo study: the phantom is written as dcm2niix-style NIfTI files
with sidecars, then stored by clinical.scans.ingest (checks, de-identification, conversion, first reconstruction).
"""
from __future__ import annotations

import datetime as dt
import tempfile
from contextlib import ExitStack
from pathlib import Path

from django.core.files import File

from clinical.models import Patient, ScanSession
from clinical.scanio.synthetic import write_nifti_series
from clinical.scans import ingest

from qsm.phantom import HeadPhantom


def upload_phantom(patient: Patient, head: HeadPhantom, scan_date: dt.date, user=None, **fields) -> ScanSession:
    with tempfile.TemporaryDirectory() as folder, ExitStack() as files:
        paths = write_nifti_series(Path(folder), head.magnitude, head.phase, head.te_s, head.affine,
                                   field_strength_t=head.b0_tesla, identifying=False)
        uploads = [files.enter_context(File(path.open("rb"), name=path.name)) for path in paths]
        return ingest(patient, {"scan_date": scan_date, **fields}, uploads, user)
