"""Run the benchmarks named on the command line, or all of them, each in its own process.

A fresh process per benchmark gives each its own settings (temporary installation) and its own
peak-memory figures.
"""
import subprocess
import sys
import time

BENCHMARKS = ["qsm_pipeline", "qsm_accuracy", "upload_memory", "tus_upload", "recon_jobs", "dashboard"]


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS:
            sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import bench.{name} as b; b.main()"], check=True)
        print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
