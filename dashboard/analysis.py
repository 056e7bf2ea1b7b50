"""The study's comparisons, chosen for small cohorts (see dashboard.stats for the tests themselves).

Tests run on one row per patient (the baseline scan), so patients are independent. Each section is a
family for Holm's correction across ROIs and sides. Laterality: a hemisphere's motor cortex is paired
with the opposite side's signs (LMC with right-side spasticity and reflexes, RMC with left).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dataset import CONTROL, MOTOR, baseline
from .stats import Comparison, compare_groups, compare_paired, correlate, holm

ROIS = ["LMC", "RMC", "LCT", "RCT", MOTOR, CONTROL]
PAIRS = [("left", "LMC", "LCT"), ("right", "RMC", "RCT"), ("both sides averaged", MOTOR, CONTROL)]
POOLED_LABEL = "not independent (two hemispheres per patient), kept out of Holm"
WITHIN = {
    "spasticity": ("patients with spasticity", lambda rows: rows["spasticity"] == True),  # noqa: E712
    "hyperreflexia": ("patients with hyperreflexia", lambda rows: rows["hyperreflexia"] == True),  # noqa: E712
    "ALS": ("ALS patients", lambda rows: rows["diagnosis"] == "ALS"),
    "PLS": ("PLS patients", lambda rows: rows["diagnosis"] == "PLS"),
    "all": ("all patients", lambda rows: pd.Series(True, index=rows.index)),
}


@dataclass
class Section:
    title: str
    key: str
    comparisons: list[Comparison]
    note: str = ""

    def as_dict(self) -> dict:
        return {"title": self.title, "key": self.key, "note": self.note,
                "comparisons": [c.as_dict() for c in self.comparisons]}


def split_by_sign(rows: pd.DataFrame, flag: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows with the sign present and with it absent; rows where it was not examined (None) are in neither."""
    return rows[rows[flag] == True], rows[rows[flag] == False]  # noqa: E712


def _values(rows: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)


def _by_flag(title: str, key: str, rows: pd.DataFrame, flag: str, labels: tuple[str, str]) -> Section:
    present, absent = split_by_sign(rows, flag)
    comparisons = [compare_groups(roi, _values(present, roi), _values(absent, roi), labels=labels)
                   for roi in ROIS if roi in rows.columns]
    return Section(title, key, holm(comparisons),
                   "Two-sided Mann-Whitney U per ROI; Holm across the ROIs and sides shown. "
                   "Patients not examined for the sign are left out.")


def _diagnosis(rows: pd.DataFrame) -> Section:
    als, pls = rows[rows["diagnosis"] == "ALS"], rows[rows["diagnosis"] == "PLS"]
    comparisons = [compare_groups(roi, _values(als, roi), _values(pls, roi), labels=("ALS", "PLS"))
                   for roi in ROIS if roi in rows.columns]
    return Section("ALS vs PLS", "diagnosis", holm(comparisons), "Two-sided Mann-Whitney U; Holm across ROIs.")


def _paired(rows: pd.DataFrame, within: str) -> Section:
    label, select = WITHIN[within]
    group = rows[select(rows)]
    comparisons = [compare_paired(f"motor vs control, {side}", _values(group, motor), _values(group, control),
                                  labels=(motor, control))
                   for side, motor, control in PAIRS if {motor, control} <= set(rows.columns)]
    note = "Wilcoxon signed-rank on each patient's motor minus control value; Holm across sides."
    pooled = _pooled_hemispheres(group)
    if pooled is None:
        return Section(f"Motor vs control cortex within {label}", "paired", holm(comparisons), note)
    return Section(f"Motor vs control cortex within {label}", "paired", [*holm(comparisons), pooled],
                   f"{note} The last row pools both hemispheres as the seed study did: each patient counts "
                   "twice, so its p is smaller than a valid one; it is shown only to compare with the paper.")


def _pooled_hemispheres(group: pd.DataFrame) -> Comparison | None:
    """The seed study's test: every hemisphere's (motor, control) pair as if from a different patient."""
    if not {"LMC", "LCT", "RMC", "RCT"} <= set(group.columns):
        return None
    motor = np.concatenate([_values(group, "LMC"), _values(group, "RMC")])
    control = np.concatenate([_values(group, "LCT"), _values(group, "RCT")])
    return compare_paired(f"motor vs control, hemispheres pooled: {POOLED_LABEL}", motor, control,
                          labels=("motor (each hemisphere)", "control (each hemisphere)"))


def _laterality(rows: pd.DataFrame) -> Section:
    comparisons = []
    for roi, side in (("LMC", "right"), ("RMC", "left")):
        if roi not in rows.columns:
            continue
        for sign in ("spasticity", "hyperreflexia"):
            flag = f"{sign}_{side}"
            present, absent = split_by_sign(rows, flag)
            comparisons.append(compare_groups(f"{roi} by {side}-side {sign}", _values(present, roi),
                                              _values(absent, roi), labels=(f"{side} {sign}", f"no {side} {sign}")))
    return Section("Laterality: each motor cortex against the opposite side's signs", "laterality",
                   holm(comparisons), "Left motor cortex with right-side signs and vice versa; Holm across these.")


def _correlations(rows: pd.DataFrame) -> Section:
    comparisons = []
    for roi in ("LMC", "RMC", MOTOR):
        if roi not in rows.columns:
            continue
        for score, score_label in (("penn_umn_score", "Penn UMN score"), ("alsfrs_total", "ALSFRS-R")):
            for method in ("spearman", "kendall"):
                comparisons.append(correlate(f"{roi} vs {score_label}", _values(rows, roi), _values(rows, score),
                                             method=method))
    return Section("Correlation with UMN burden and function", "correlation", holm(comparisons),
                   "Spearman rho and Kendall tau-b with permutation p-values; Holm across all shown.")


def analyse(rows: pd.DataFrame, within: str = "spasticity") -> dict:
    """Every comparison of the dashboard, on one baseline row per patient."""
    patients = baseline(rows) if not rows.empty else rows
    sections = [] if patients.empty else [
        _by_flag("Spasticity present vs absent", "spasticity", patients, "spasticity", ("spasticity", "no spasticity")),
        _paired(patients, within if within in WITHIN else "spasticity"),
        _by_flag("Hyperreflexia present vs absent", "hyperreflexia", patients, "hyperreflexia",
                 ("hyperreflexia", "no hyperreflexia")),
        _diagnosis(patients),
        _laterality(patients),
        _correlations(patients),
    ]
    return {"n_rows": int(len(rows)), "n_patients": int(len(patients)), "sections": sections}
