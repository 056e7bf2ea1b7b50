"""Benchmark of the QSM pipeline: speed and memory on a full-size scan, accuracy on the phantom.

``main()`` prints

1. per-stage seconds and peak resident memory of one reconstruction of a
   256 x 256 x 128, 4-echo dataset (0.94 x 0.94 x 1.5 mm, 3 T), mask to
   referenced chi, run in a child process so its peak RSS is its own;
2. the accuracy table: NRMSE and motor-cortex contrast recovery of every
   inversion, with the phantom's mask and with the derived one, B0 straight and
   tilted 20 degrees, on the 1.5 mm test phantom (5 echoes 4-28 ms, SNR 100).

Run with ``python -m bench.qsm_pipeline [--speed-only | --accuracy-only]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qsm import reconstruct
from qsm.inversion import DEFAULT, INVERSIONS
from qsm.metrics import motor_contrast_recovery, nrmse
from qsm.phantom import simulate_head

SPEED_SCAN = dict(voxel_size_mm=(0.9375, 0.9375, 1.5), matrix=(256, 256, 128), te_ms=(4, 10, 16, 22), seed=3)
ACCURACY_SCAN = dict(voxel_size_mm=1.5, matrix=(112, 120, 112), te_ms=(4, 10, 16, 22, 28), peak_snr=100, seed=1)
TILT_DEG = 20.0


def speed(inversion: str = DEFAULT) -> dict:
    """Time one reconstruction of the full-size scan in a child process."""
    head = simulate_head(**SPEED_SCAN)
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "magnitude.npy", head.magnitude)
        np.save(Path(folder) / "phase.npy", head.phase)
        np.save(Path(folder) / "affine.npy", head.affine)
        np.save(Path(folder) / "mask.npy", head.brain_mask)
        json.dump({"te_s": head.te_s, "b0_tesla": head.b0_tesla}, open(Path(folder) / "meta.json", "w"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "bench.qsm_pipeline", "--child", folder, "--inversion", inversion],
            capture_output=True, text=True, check=True,
        )
        wall = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    report["child_wall_s"] = round(wall, 2)
    report["peak_rss_gib"] = round(max(peak_kib, before) / 2**20, 2)
    return report


def _child(folder: str, inversion: str) -> None:
    """Runs in the child: load the arrays, reconstruct, print timings as JSON."""
    path = Path(folder)
    meta = json.load(open(path / "meta.json"))
    magnitude, phase = np.load(path / "magnitude.npy"), np.load(path / "phase.npy")
    started = time.perf_counter()
    result = reconstruct(magnitude, phase, meta["te_s"], meta["b0_tesla"], np.load(path / "affine.npy"),
                         inversion=inversion)
    total = time.perf_counter() - started
    print(json.dumps({"inversion": inversion, "shape": list(magnitude.shape), "total_s": round(total, 2),
                      "stages_s": result.timings, "working_grid": result.params["working_grid"]}))


def accuracy() -> list[dict]:
    """Score every inversion, given/derived mask, straight/tilted, on the test phantom."""
    rows = []
    for orientation, tilt in (("straight", 0.0), ("tilted 20°", TILT_DEG)):
        head = simulate_head(b0_tilt_deg=tilt, **ACCURACY_SCAN)
        for mask_source in ("given", "derived"):
            for inversion in INVERSIONS:
                started = time.perf_counter()
                result = reconstruct(head.magnitude, head.phase, head.te_s, head.b0_tesla, head.affine,
                                     mask=head.brain_mask if mask_source == "given" else None, inversion=inversion)
                rows.append({
                    "B0": orientation, "mask": mask_source, "inversion": inversion,
                    "nrmse_pct": round(nrmse(result.chi, head.chi, head.brain_mask), 1),
                    "contrast_recovery": round(motor_contrast_recovery(result.chi, head.chi, head.rois), 2),
                    "seconds": round(time.perf_counter() - started, 1),
                })
    return rows


def print_speed(report: dict) -> None:
    print(f"QSM pipeline on {report['shape']} ({report['inversion']}), working grid {report['working_grid']}")
    for stage, seconds in report["stages_s"].items():
        print(f"  {stage:<11} {seconds:6.2f} s")
    print(f"  {'total':<11} {report['total_s']:6.2f} s   peak RSS {report['peak_rss_gib']:.2f} GiB")


def print_accuracy(rows: list[dict]) -> None:
    print("| B0 | mask | inversion | NRMSE % | contrast recovery | s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['B0']} | {row['mask']} | {row['inversion']} | {row['nrmse_pct']} "
              f"| {row['contrast_recovery']} | {row['seconds']} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.qsm_pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--accuracy-only", action="store_true")
    parser.add_argument("--inversion", default=DEFAULT, choices=sorted(INVERSIONS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.inversion)
        return 0
    if not args.accuracy_only:
        print_speed(speed(args.inversion))
    if not args.speed_only:
        print_accuracy(accuracy())
    return 0


if __name__ == "__main__":
    sys.exit(main())
