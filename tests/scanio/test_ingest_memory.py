"""Ingest memory grows with one echo, not with the scan: a 1 GiB exam must fit a worker (issue 15).

The scan-handling part of an ingest (read_upload, write_canonical, the echo-1 preview) runs in a
fresh child process; its peak resident set (VmHWM) is reset after a warm-up ingest of a small
scan, so the figure is what the large scan adds.  Holding magnitude and phase whole would add
2 x echoes x one echo; the bound allows a few echoes, so whole arrays coming back fail the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clinical.scanio.synthetic import smooth_sphere, write_dicom_series, write_nifti_series

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (192, 192, 40)
ECHO_TIMES_S = tuple(0.004 * (i + 1) for i in range(8))
#: float32 bytes of one echo of one part.
ECHO_BYTES = int(np.prod(SHAPE)) * 4
#: What one echo may cost at once: the stored voxels, their scaled float64 and float32 copies,
#: the phase-scale summary's temporaries; far below the 16 echoes of whole magnitude and phase.
BOUND_BYTES = 6 * ECHO_BYTES

CHILD = """
import json, sys, time
from pathlib import Path
from clinical.previews import write_magnitude_preview
from clinical.scanio import UploadLimits, read_upload, write_canonical

def peak_kib():
    status = Path("/proc/self/status").read_text()
    return int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1])

def ingest(paths, work):
    scan = read_upload(paths, work / "extract", limits=UploadLimits(), study_code="MND-0001")
    write_canonical(scan, work / "out")
    write_magnitude_preview(scan.magnitude[..., 0], scan.affine, work / "out" / "preview.png")
    return scan

small, large, work = json.loads(sys.argv[1])
ingest([Path(p) for p in small], Path(work) / "warm-up")  # imports, caches, dcm2niix's first run
Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
before = peak_kib()
started = time.perf_counter()
scan = ingest([Path(p) for p in large], Path(work) / "large")
print(json.dumps({"added_bytes": (peak_kib() - before) * 1024, "seconds": time.perf_counter() - started,
                  "matrix": scan.matrix, "echoes": scan.n_echoes}))
"""


def write_scan(folder: Path, shape: tuple[int, int, int], form: str) -> list[Path]:
    magnitude, phase = smooth_sphere(shape, ECHO_TIMES_S)
    affine = np.diag([0.9, 0.9, 1.0, 1.0])
    if form == "dicom":
        return write_dicom_series(folder, magnitude, phase, ECHO_TIMES_S, affine)
    return write_nifti_series(folder, magnitude, phase, ECHO_TIMES_S, affine, layout="4d")


def added_memory(tmp_path: Path, form: str) -> dict:
    small = write_scan(tmp_path / "small", (32, 32, 8), form)
    large = write_scan(tmp_path / "large", SHAPE, form)
    # glibc keeps freed blocks under 32 MiB in its heap, where echoes of this test's size would pile up;
    # a real exam's echoes (130 MiB) are mapped and handed back, as every block over 1 MiB is here.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
    arguments = json.dumps([[str(p) for p in small], [str(p) for p in large], str(tmp_path / "work")])
    result = subprocess.run([sys.executable, "-c", CHILD, arguments], capture_output=True, text=True, env=env,
                            cwd=ROOT, check=True)
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("form", ["dicom", "nifti.gz"])
def test_ingest_memory_grows_with_one_echo_not_the_scan(tmp_path, form):
    measured = added_memory(tmp_path, form)
    assert measured["matrix"] == list(SHAPE) and measured["echoes"] == len(ECHO_TIMES_S)
    assert measured["added_bytes"] < BOUND_BYTES, (
        f"{form}: ingest added {measured['added_bytes'] / 2**20:.0f} MiB, over {BOUND_BYTES / 2**20:.0f} MiB "
        f"(one echo is {ECHO_BYTES / 2**20:.0f} MiB, whole magnitude and phase {2 * 8 * ECHO_BYTES / 2**20:.0f} MiB)"
    )
