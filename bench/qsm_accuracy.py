"""Accuracy of the QSM pipeline over the phantom family (:mod:`qsm.family`), never one seed.

``main()`` reconstructs every case of a tier with each inversion, with the true
mask given and with the mask the pipeline derives, scores it with
:func:`qsm.family.score` and prints, per inversion x mask and per group (all,
straight / tilted B0, own / qsm-forward simulator): mean and worst NRMSE,
mean and range of the motor-control contrast recovery, local-field NRMSE and
the share of the mask where the local field is defined; then one line per
case.

Run with ``python -m bench.qsm_accuracy [--tier test|bench] [--inversion tv
--inversion iswim ...] [--cases PATTERN] [--mask given|derived|both]``.

From a script, compare variants with :func:`evaluate`::

    from bench.qsm_accuracy import evaluate, summarise
    from qsm.family import cases
    built = [spec.build() for spec in cases("test")]
    rows = evaluate(built, "tv", "given", inversion_options={"alpha": 1e-4})
    print(summarise(rows))
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence

import numpy as np

from qsm import reconstruct
from qsm.family import Case, cases, score
from qsm.inversion import DEFAULT, INVERSIONS

MASK_SOURCES = ("given", "derived")


def evaluate(case_list: Iterable[Case], inversion: str = DEFAULT, mask_source: str = "given",
             **reconstruct_kwargs) -> list[dict]:
    """Reconstruct and score every case.

    Parameters
    ----------
    case_list : iterable of Case
        Built cases (``spec.build()`` of :func:`qsm.family.cases`).
    inversion : str
        Name in :data:`qsm.inversion.INVERSIONS`.
    mask_source : {"given", "derived"}
        Give the true brain mask, or let the pipeline derive one.
    **reconstruct_kwargs
        Passed to :func:`qsm.reconstruct` (e.g. ``background``,
        ``inversion_options``).

    Returns
    -------
    list of dict
        :func:`qsm.family.score` rows plus ``inversion``, ``mask`` and ``seconds``.

    Raises
    ------
    ValueError
        On an unknown inversion or mask source.
    """
    if inversion not in INVERSIONS:
        raise ValueError(f"unknown inversion {inversion!r}; choose one of {sorted(INVERSIONS)}")
    if mask_source not in MASK_SOURCES:
        raise ValueError(f"mask_source must be one of {MASK_SOURCES}, got {mask_source!r}")
    rows = []
    for case in case_list:
        started = time.perf_counter()
        result = reconstruct(case.magnitude, case.phase, case.te_s, case.b0_tesla, case.affine,
                             mask=case.mask if mask_source == "given" else None, inversion=inversion,
                             **reconstruct_kwargs)
        seconds = time.perf_counter() - started
        rows.append({**score(case, result), "inversion": inversion, "mask": mask_source, "seconds": seconds})
    return rows


def summarise(rows: Sequence[dict]) -> list[dict]:
    """Group rows by inversion, mask and group (all, straight, tilted, own, qsm-forward).

    Returns
    -------
    list of dict
        Per non-empty group: ``n``, mean and worst (max) NRMSE, mean, min and
        max contrast recovery, mean and worst local-field NRMSE, mean and
        lowest defined share.
    """
    groups = {
        "all": lambda row: True,
        "straight": lambda row: row["tilt_deg"] == 0,
        "tilted": lambda row: row["tilt_deg"] != 0,
        "own": lambda row: row["source"] == "own",
        "qsm-forward": lambda row: row["source"] == "qsm-forward",
    }
    table = []
    for key in dict.fromkeys((row["inversion"], row["mask"]) for row in rows):
        subset = [row for row in rows if (row["inversion"], row["mask"]) == key]
        for group, member in groups.items():
            chosen = [row for row in subset if member(row)]
            if not chosen:
                continue
            values = {name: np.array([row[name] for row in chosen]) for name in
                      ("nrmse_pct", "contrast_recovery", "local_nrmse_pct", "local_defined_share")}
            table.append({
                "inversion": key[0], "mask": key[1], "group": group, "n": len(chosen),
                "nrmse_mean": values["nrmse_pct"].mean(), "nrmse_worst": values["nrmse_pct"].max(),
                "recovery_mean": values["contrast_recovery"].mean(),
                "recovery_min": values["contrast_recovery"].min(), "recovery_max": values["contrast_recovery"].max(),
                "local_nrmse_mean": values["local_nrmse_pct"].mean(), "local_nrmse_worst": values["local_nrmse_pct"].max(),
                "defined_mean": values["local_defined_share"].mean(), "defined_min": values["local_defined_share"].min(),
            })
    return table


def print_summary(table: Sequence[dict]) -> None:
    print("| inversion | mask | group | n | NRMSE % mean / worst | contrast recovery mean [min, max] "
          "| local-field NRMSE % mean / worst | defined share mean / min |")
    print("|---|---|---|---|---|---|---|---|")
    for row in table:
        print(f"| {row['inversion']} | {row['mask']} | {row['group']} | {row['n']} "
              f"| {row['nrmse_mean']:.1f} / {row['nrmse_worst']:.1f} "
              f"| {row['recovery_mean']:.2f} [{row['recovery_min']:.2f}, {row['recovery_max']:.2f}] "
              f"| {row['local_nrmse_mean']:.1f} / {row['local_nrmse_worst']:.1f} "
              f"| {row['defined_mean']:.3f} / {row['defined_min']:.3f} |")


def print_cases(rows: Sequence[dict]) -> None:
    print("| case | inversion | mask | NRMSE % | qsm-ci NRMSE % / detrended | recovery | local NRMSE % "
          "(outer 3 / deeper 10 vox) | defined | bias ppb LMC RMC LCT RCT | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        bias = " ".join(f"{row[f'bias_ppb_{roi}']:+.0f}" for roi in ("LMC", "RMC", "LCT", "RCT"))
        print(f"| {row['case']} | {row['inversion']} | {row['mask']} | {row['nrmse_pct']:.1f} "
              f"| {row['qsmci_nrmse']:.1f} / {row['qsmci_nrmse_detrend']:.1f} | {row['contrast_recovery']:.2f} "
              f"| {row['local_nrmse_pct']:.1f} ({row['local_nrmse_outer_pct']:.1f} / {row['local_nrmse_deep_pct']:.1f}) "
              f"| {row['local_defined_share']:.3f} | {bias} | {row['seconds']:.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.qsm_accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="test", choices=("test", "bench"))
    parser.add_argument("--inversion", action="append", choices=sorted(INVERSIONS),
                        help="repeat for several (default: all)")
    parser.add_argument("--cases", help="fnmatch pattern on case names, e.g. 'own-*tilt*'")
    parser.add_argument("--mask", default="both", choices=(*MASK_SOURCES, "both"))
    args = parser.parse_args(argv)
    inversions = args.inversion or sorted(INVERSIONS)
    mask_sources = MASK_SOURCES if args.mask == "both" else (args.mask,)
    rows = []
    for spec in cases(args.tier, args.cases):
        started = time.perf_counter()
        case = spec.build()
        print(f"built {spec.name} {case.magnitude.shape} in {time.perf_counter() - started:.0f} s", flush=True)
        for inversion in inversions:
            for mask_source in mask_sources:
                rows += evaluate([case], inversion, mask_source)
        del case
    rows.sort(key=lambda row: (row["inversion"], row["mask"]))
    print_summary(summarise(rows))
    print()
    print_cases(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
