"""Time and peak memory of reading a large DICOM zip (not a test; run by hand).

    .venv/bin/python -m tests.scanio.bench_read_upload [X Y Z E]

The series is written first; reading runs in a fresh subprocess so its
maximum resident set size is that of read_upload + write_canonical alone.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from clinical.scanio import UploadLimits, read_upload, write_canonical
from clinical.scanio.synthetic import smooth_sphere, write_dicom_series, zip_dir


def write_series(root: Path, shape: tuple[int, int, int], n_echoes: int) -> Path:
    echo_times = tuple(0.004 * (i + 1) for i in range(n_echoes))
    magnitude, phase = smooth_sphere(shape, echo_times)
    write_dicom_series(root / "series", magnitude, phase, echo_times, np.diag([0.9, 0.9, 1.0, 1.0]))
    return zip_dir(root / "series", root / "series.zip")


def peak_rss_mib() -> float:
    """Peak resident memory of this process image (VmHWM; ru_maxrss survives fork+exec on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not available")


def read_and_write(archive: Path) -> None:
    workdir = archive.parent / "work"
    start = time.perf_counter()
    scan = read_upload([archive], workdir, limits=UploadLimits(), study_code="BENCH")
    read_s = time.perf_counter() - start
    read_rss = peak_rss_mib()
    start = time.perf_counter()
    write_canonical(scan, archive.parent / "out")
    write_s = time.perf_counter() - start
    total_rss = peak_rss_mib()
    arrays = (scan.magnitude.nbytes + scan.phase.nbytes) / 2**20
    print(f"read_upload {read_s:.1f} s, peak RSS {read_rss:.0f} MiB (canonical arrays {arrays:.0f} MiB)")
    print(f"write_canonical {write_s:.1f} s, peak RSS {total_rss:.0f} MiB")


def main(shape=(256, 256, 128), n_echoes=4) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = write_series(Path(tmp), shape, n_echoes)
        print(f"{shape} x {n_echoes} echoes: zip {archive.stat().st_size / 2**20:.0f} MiB")
        subprocess.run([sys.executable, "-m", __spec__.name, "--read", str(archive)], check=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--read"]:
        read_and_write(Path(sys.argv[2]))
    else:
        args = [int(a) for a in sys.argv[1:]]
        main(tuple(args[:3]), args[3]) if args else main()
