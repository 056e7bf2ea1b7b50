"""Time and peak memory of reading a large DICOM zip (not a test; run by hand).

    .venv/bin/python -m tests.scanio.bench_read_upload [X Y Z E]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from clinical.scanio import UploadLimits, read_upload, write_canonical
from clinical.scanio.synthetic import smooth_sphere, write_dicom_series, zip_dir


def main(shape=(256, 256, 128), n_echoes=4) -> None:
    echo_times = tuple(0.004 * (i + 1) for i in range(n_echoes))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        magnitude, phase = smooth_sphere(shape, echo_times)
        affine = np.diag([0.9, 0.9, 1.0, 1.0])
        write_dicom_series(root / "series", magnitude, phase, echo_times, affine)
        del magnitude, phase
        archive = zip_dir(root / "series", root / "series.zip")
        print(f"{shape} x {n_echoes} echoes: zip {archive.stat().st_size / 2**20:.0f} MiB")
        workdir = root / "work"
        workdir.mkdir()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        start = time.perf_counter()
        scan = read_upload([archive], workdir, limits=UploadLimits(), study_code="BENCH")
        read_s = time.perf_counter() - start
        _, read_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        start = time.perf_counter()
        write_canonical(scan, root / "out")
        write_s = time.perf_counter() - start
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        arrays = (scan.magnitude.nbytes + scan.phase.nbytes) / 2**20
        print(f"read_upload {read_s:.1f} s, peak traced {read_peak / 2**20:.0f} MiB (arrays {arrays:.0f} MiB)")
        print(f"write_canonical {write_s:.1f} s, peak traced {write_peak / 2**20:.0f} MiB")
        print(f"max RSS before read {rss_before / 1024:.0f} MiB, after {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(tuple(args[:3]), args[3]) if args else main()
