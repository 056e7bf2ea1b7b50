"""Speed and memory benchmark of the QSM pipeline on full-size scans.

For the TV (default) and iSWIM inversions, ``main()`` reconstructs each scan
of :data:`SCANS` (4 echoes, 3 T, the :mod:`qsm.phantom` head) in a child
process, so that the peak resident memory is the reconstruction's own, and
prints seconds per stage, the total, the peak RSS overall and while each
stage ran (sampled), and every time also in FFT pairs: one complex64 ``fftn``
+ ``ifftn`` at 256 x 256 x 128 (scipy.fft on all cores), timed in the child
just before and after the reconstruction, because the machine is shared and
absolute seconds drift.

Phantoms are simulated once per run, each in its own child process, and
cached as .npy in a temporary folder.

Run with ``python -m bench.qsm_pipeline [--inversion NAME] [--scan NAME]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from scipy import fft as sp_fft

#: name -> (phantom keyword arguments, whether the phantom's mask is given).
SCANS: dict[str, tuple[dict, bool]] = {
    "256x256x128 0.94x0.94x1.5 mm, derived mask": (
        dict(voxel_size_mm=(0.9375, 0.9375, 1.5), matrix=(256, 256, 128)), False),
    "256x256x128 0.75x0.75x1.2 mm, given mask": (
        dict(voxel_size_mm=(0.75, 0.75, 1.2), matrix=(256, 256, 128)), True),
    "320x320x200 0.75 mm, derived mask": (
        dict(voxel_size_mm=0.75, matrix=(320, 320, 200)), False),
}
COMMON = dict(te_ms=(4, 10, 16, 22), seed=3)
INVERSIONS = ("tv", "iswim")
FFT_SHAPE = (256, 256, 128)


def fft_pair_seconds(repeats: int = 7) -> float:
    """Median seconds of one complex64 fftn + ifftn pair at :data:`FFT_SHAPE`."""
    rng = np.random.default_rng(0)
    volume = (rng.standard_normal(FFT_SHAPE) + 1j * rng.standard_normal(FFT_SHAPE)).astype(np.complex64)
    sp_fft.ifftn(sp_fft.fftn(volume, workers=-1), workers=-1)  # plan and page in
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        sp_fft.ifftn(sp_fft.fftn(volume, workers=-1), workers=-1)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _run_child(*args: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.qsm_pipeline", *args], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _simulate(folder: Path, scan: str) -> None:
    """Child: simulate ``scan`` and save its arrays in ``folder``."""
    from qsm.phantom import simulate_head

    head = simulate_head(**SCANS[scan][0], **COMMON)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("magnitude", "phase", "affine", "brain_mask"):
        np.save(folder / f"{name}.npy", getattr(head, name))
    json.dump({"te_s": head.te_s, "b0_tesla": head.b0_tesla}, open(folder / "meta.json", "w"))
    print("{}")


class _StagePeaks:
    """Samples the RSS in a thread and keeps its peak per pipeline stage."""

    def __init__(self, interval_s: float = 0.005):
        self.peaks_gib: dict[str, float] = {}
        self._stage, self._interval, self._running = "load", interval_s, True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def progress(self, stage: str, _fraction: float) -> None:
        self._record()
        self._stage = stage

    def stop(self) -> dict[str, float]:
        self._running = False
        self._thread.join()
        return {stage: round(peak, 2) for stage, peak in self.peaks_gib.items() if stage != "done"}

    def _record(self) -> None:
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * resource.getpagesize() / 2**30
        self.peaks_gib[self._stage] = max(self.peaks_gib.get(self._stage, 0.0), rss)

    def _sample(self) -> None:
        while self._running:
            self._record()
            time.sleep(self._interval)


def _reconstruct(folder: Path, given_mask: bool, inversion: str) -> None:
    """Child: load the arrays, reconstruct, print timings and memory as JSON."""
    from qsm import reconstruct

    pair_before = fft_pair_seconds()
    peaks = _StagePeaks()
    meta = json.load(open(folder / "meta.json"))
    magnitude, phase = np.load(folder / "magnitude.npy"), np.load(folder / "phase.npy")
    mask = np.load(folder / "brain_mask.npy") if given_mask else None
    started = time.perf_counter()
    result = reconstruct(magnitude, phase, meta["te_s"], meta["b0_tesla"], np.load(folder / "affine.npy"),
                         mask=mask, inversion=inversion, progress=peaks.progress)
    total = time.perf_counter() - started
    report = {
        "total_s": round(total, 2),
        "stages_s": result.timings,
        "stage_peak_gib": peaks.stop(),
        "working_grid": result.params["working_grid"],
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    del result, magnitude, phase, mask  # the second FFT timing must not raise the peak
    print(json.dumps({"fft_pair_s": statistics.mean([pair_before, fft_pair_seconds()]), **report}))


def run(scans: list[str], inversions: list[str]) -> list[dict]:
    """Reconstruct every scan with every inversion, each in a child; one report per run."""
    reports = []
    with tempfile.TemporaryDirectory() as cache:
        for scan in scans:
            folder = Path(cache) / str(list(SCANS).index(scan))
            _run_child("--simulate", scan, str(folder))
            for inversion in inversions:
                report = _run_child("--child", str(folder), "--inversion", inversion,
                                    *(["--given-mask"] if SCANS[scan][1] else []))
                reports.append({"scan": scan, "inversion": inversion, **report})
                print_report(reports[-1], flush=True)
    return reports


def print_report(report: dict, flush: bool = False) -> None:
    """One block per run: seconds, FFT pairs and sampled peak RSS per stage."""
    pair = report["fft_pair_s"]
    print(f"\n{report['scan']}, {report['inversion']}: working grid {report['working_grid']}, "
          f"FFT pair {pair * 1000:.1f} ms")
    print(f"  {'stage':<11} {'s':>7} {'FFT pairs':>10} {'peak GiB':>9}")
    for stage, seconds in report["stages_s"].items():
        peak = report["stage_peak_gib"].get(stage, float("nan"))
        print(f"  {stage:<11} {seconds:7.2f} {seconds / pair:10.0f} {peak:9.2f}")
    print(f"  {'total':<11} {report['total_s']:7.2f} {report['total_s'] / pair:10.0f} "
          f"{report['peak_rss_gib']:9.2f}", flush=flush)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.qsm_pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--inversion", action="append", choices=INVERSIONS,
                        help="inversion to run (repeatable; default: all of %(choices)s)")
    parser.add_argument("--scan", action="append", choices=list(SCANS),
                        help="scan to run (repeatable; default: all)")
    parser.add_argument("--simulate", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--given-mask", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.simulate:
        _simulate(Path(args.simulate[1]), args.simulate[0])
    elif args.child:
        _reconstruct(Path(args.child), args.given_mask, args.inversion[0])
    else:
        print(f"FFT pair: complex64 fftn + ifftn at {FFT_SHAPE}, median of 7 before and of 7 after each run")
        run(args.scan or list(SCANS), args.inversion or list(INVERSIONS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
