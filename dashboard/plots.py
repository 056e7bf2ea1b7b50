"""Publication-style plots of the analysis dataset as SVG (points link to patients) or PNG."""
from __future__ import annotations

import io
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"  # real <text> in SVGs: smaller, selectable, editable in a paper
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .analysis import WITHIN, split_by_sign  # noqa: E402
from .dataset import CONTROL, MOTOR  # noqa: E402

PatientUrl = Callable[[int], str]
COLOURS = {"with": "#b3261e", "without": "#1f5fa8"}
JITTER = np.random.default_rng(0)


def _render(fig, fmt: str) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format=fmt, bbox_inches="tight", dpi=150 if fmt == "png" else None)
    plt.close(fig)
    return out.getvalue()


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#5b6b7b")


def _strip_box(ax, groups: list[tuple[str, pd.DataFrame]], column: str, url: PatientUrl) -> None:
    for position, (label, rows) in enumerate(groups):
        values = pd.to_numeric(rows[column], errors="coerce")
        keep = values.notna()
        values, ids = values[keep].to_numpy(float), rows.loc[keep, "patient_id"].tolist()
        if len(values):
            ax.boxplot([values], positions=[position], widths=0.5, showfliers=False,
                       medianprops={"color": "black"}, boxprops={"color": "#5b6b7b"})
            x = position + JITTER.uniform(-0.12, 0.12, len(values))
            points = ax.scatter(x, values, s=28, alpha=0.85, color=list(COLOURS.values())[position % 2], zorder=3)
            points.set_urls([url(i) for i in ids])
    ax.set_xticks(range(len(groups)), [f"{label}\n(n={int(pd.to_numeric(rows[column], errors='coerce').notna().sum())})"
                                       for label, rows in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)


def groups_plot(rows: pd.DataFrame, flag: str, url: PatientUrl, fmt: str = "svg") -> bytes:
    """Strip and box plots of motor and control cortex by a sign (present vs absent)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.6), sharey=True)
    present, absent = split_by_sign(rows, flag)
    groups = [(flag, present), (f"no {flag}", absent)]
    for ax, column in zip(axes, (MOTOR, CONTROL)):
        ax.set_title(column.replace(" (L+R mean)", " cortex"), fontsize=10)
        if column in rows.columns and rows[column].notna().any():
            _strip_box(ax, groups, column, url)
        else:
            _empty(ax, "no values")
        ax.axhline(0, color="#d8dee6", lw=0.8, zorder=0)
    axes[0].set_ylabel("susceptibility (ppb, L+R mean)")
    fig.suptitle(f"Susceptibility by {flag} (baseline scan per patient)", fontsize=10)
    return _render(fig, fmt)


def paired_plot(rows: pd.DataFrame, within: str, url: PatientUrl, fmt: str = "svg") -> bytes:
    """Motor vs control cortex, one line per patient, within a chosen group."""
    label, select = WITHIN.get(within, WITHIN["spasticity"])
    group = rows[select(rows)] if not rows.empty else rows
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    if {MOTOR, CONTROL} <= set(group.columns) and len(group):
        for _, row in group.iterrows():
            pair = [row[MOTOR], row[CONTROL]]
            if pd.isna(pair).any():
                continue
            rising = pair[0] > pair[1]
            line, = ax.plot([0, 1], pair, "-o", color=COLOURS["with"] if rising else COLOURS["without"], alpha=0.8, ms=5)
            line.set_url(url(int(row["patient_id"])))
        ax.set_xticks([0, 1], ["motor", "control"])
        ax.set_xlim(-0.3, 1.3)
    else:
        _empty(ax, "no paired values")
    ax.set_ylabel("susceptibility (ppb, L+R mean)")
    ax.set_title(f"Motor vs control within {label} (n={len(group)})", fontsize=10)
    return _render(fig, fmt)


def scatter_plot(rows: pd.DataFrame, url: PatientUrl, fmt: str = "svg") -> bytes:
    """Motor cortex susceptibility against the Penn UMN score."""
    fig, ax = plt.subplots(figsize=(4.6, 3.8))
    if MOTOR in rows.columns:
        data = rows[["patient_id", "penn_umn_score", MOTOR]].apply(pd.to_numeric, errors="coerce").dropna()
        points = ax.scatter(data["penn_umn_score"], data[MOTOR], s=30, color=COLOURS["with"], alpha=0.85)
        points.set_urls([url(int(i)) for i in data["patient_id"]])
        ax.set_title(f"Motor cortex vs Penn UMN score (n={len(data)})", fontsize=10)
    else:
        _empty(ax, "no values")
    ax.set_xlabel("Penn UMN score")
    ax.set_ylabel("motor cortex (ppb, L+R mean)")
    return _render(fig, fmt)
