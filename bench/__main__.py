"""Run the benchmarks named on the command line, or all of them, and print their figures."""
import importlib
import sys
import time

BENCHMARKS = ["qsm_pipeline", "upload_memory", "recon_jobs", "dashboard"]


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS:
            sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        sys.argv = [f"bench.{name}"]  # each benchmark parses its own (empty) command line
        importlib.import_module(f"bench.{name}").main()
        print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
