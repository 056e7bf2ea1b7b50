"""The analysis dataset: one row per scan (exam/scan pair), with the signs at the nearest exam and ROI values.

Built with a handful of queries and pandas (no per-row queries), so it stays fast for large studies.
ROI values come from each scan's current reconstruction run and the latest version of each ROI;
values imported from CSV fill in scans measured elsewhere. Units: ppb.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from clinical.models import Exam, Patient, ScanSession, Study
from recon.models import RoiValue

from .models import ExternalRoiValue

SIGNS = ["spasticity", "spasticity_left", "spasticity_right", "hyperreflexia", "hyperreflexia_left",
         "hyperreflexia_right", "penn_umn_score", "alsfrs_total"]
MOTOR, CONTROL = "motor (L+R mean)", "control (L+R mean)"


@dataclass
class Filters:
    diagnoses: list[str] = field(default_factory=list)
    site: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    max_gap_days: int | None = None

    @classmethod
    def from_query(cls, query) -> "Filters":
        def date(name: str) -> dt.date | None:
            try:
                return dt.date.fromisoformat(query.get(name, ""))
            except ValueError:
                return None

        gap = query.get("max_gap", "")
        return cls(
            diagnoses=[d for d in query.getlist("diagnosis") if d],
            site=query.get("site", "").strip(),
            date_from=date("date_from"),
            date_to=date("date_to"),
            max_gap_days=int(gap) if gap.isdigit() else None,
        )

    def as_dict(self) -> dict:
        return {"diagnosis": self.diagnoses, "site": self.site,
                "date_from": self.date_from.isoformat() if self.date_from else None,
                "date_to": self.date_to.isoformat() if self.date_to else None, "max_gap": self.max_gap_days}


def build_dataset(study: Study, filters: Filters | None = None) -> pd.DataFrame:
    """Rows: patient_id, code, diagnosis, scan_id, scan_date, site, source, exam_date, gap_days, signs, ROI columns."""
    filters = filters or Filters()
    rows = _measured_scans(study)
    if rows.empty:
        return rows
    patients = pd.DataFrame(Patient.objects.filter(study=study).values("id", "code", "diagnosis")).rename(
        columns={"id": "patient_id"})
    rows = rows.merge(patients, on="patient_id")
    rows = _with_nearest_exam(rows, study)
    rows = _apply(filters, rows)
    labels = [c for c in study.roi_labels if c in rows.columns]
    if {"LMC", "RMC"} <= set(rows.columns):
        rows[MOTOR] = rows[["LMC", "RMC"]].mean(axis=1, skipna=False)
    if {"LCT", "RCT"} <= set(rows.columns):
        rows[CONTROL] = rows[["LCT", "RCT"]].mean(axis=1, skipna=False)
    columns = ["patient_id", "code", "diagnosis", "scan_id", "scan_date", "site", "source", "exam_date", "gap_days",
               *SIGNS, *labels, *[c for c in (MOTOR, CONTROL) if c in rows.columns]]
    return rows[columns].sort_values(["code", "scan_date"]).reset_index(drop=True)


def baseline(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per patient (their earliest measured scan), so that patients are independent in the tests."""
    return rows.sort_values("scan_date").drop_duplicates("patient_id").reset_index(drop=True)


def _measured_scans(study: Study) -> pd.DataFrame:
    internal = pd.DataFrame(
        RoiValue.objects.filter(run__scan__study=study, run__is_current=True).values(
            "roi__name", "roi__version", "mean_ppb", "run__scan_id", "run__scan__patient_id",
            "run__scan__scan_date", "run__scan__site")
    )
    if not internal.empty:
        internal = (internal.sort_values("roi__version").drop_duplicates(["run__scan_id", "roi__name"], keep="last")
                    .rename(columns={"roi__name": "roi", "mean_ppb": "value", "run__scan_id": "scan_id",
                                     "run__scan__patient_id": "patient_id", "run__scan__scan_date": "scan_date",
                                     "run__scan__site": "site"}))
        internal["source"] = "qsmstudy"
    external = pd.DataFrame(
        ExternalRoiValue.objects.filter(patient__study=study).values("patient_id", "scan_date", "roi_name", "value_ppb")
    ).rename(columns={"roi_name": "roi", "value_ppb": "value"})
    if not external.empty:
        external["scan_id"], external["site"], external["source"] = pd.NA, "", "imported"
        if not internal.empty:  # the platform's own measurement wins for the same patient and date
            own = internal[["patient_id", "scan_date"]].drop_duplicates().assign(own=True)
            external = external.merge(own, on=["patient_id", "scan_date"], how="left")
            external = external[external["own"].isna()].drop(columns="own")
    frames = [f for f in (internal, external) if not f.empty]
    if not frames:
        return pd.DataFrame()
    values = pd.concat(frames, ignore_index=True)
    keys = ["patient_id", "scan_date", "scan_id", "site", "source"]
    values["scan_id"] = values["scan_id"].astype("Int64")
    wide = values.pivot_table(index=keys, columns="roi", values="value", aggfunc="first", dropna=False)
    wide = wide.dropna(how="all").reset_index()
    wide.columns.name = None
    wide["scan_date"] = pd.to_datetime(wide["scan_date"])
    return wide


def _with_nearest_exam(rows: pd.DataFrame, study: Study) -> pd.DataFrame:
    exams = pd.DataFrame(Exam.objects.filter(patient__study=study).values("patient_id", "date", *SIGNS))
    if exams.empty:
        rows = rows.assign(exam_date=pd.NaT, gap_days=pd.NA, **{s: pd.NA for s in SIGNS})
        return rows
    exams = exams.rename(columns={"date": "exam_date"})
    exams["exam_date"] = pd.to_datetime(exams["exam_date"])
    merged = pd.merge_asof(rows.sort_values("scan_date"), exams.sort_values("exam_date"), left_on="scan_date",
                           right_on="exam_date", by="patient_id", direction="nearest")
    merged["gap_days"] = (merged["exam_date"] - merged["scan_date"]).dt.days.astype("Int64")
    return merged


def _apply(filters: Filters, rows: pd.DataFrame) -> pd.DataFrame:
    keep = pd.Series(True, index=rows.index)
    if filters.diagnoses:
        keep &= rows["diagnosis"].isin(filters.diagnoses)
    if filters.site:
        keep &= rows["site"].fillna("").str.contains(filters.site, case=False, regex=False)
    if filters.date_from:
        keep &= rows["scan_date"] >= pd.Timestamp(filters.date_from)
    if filters.date_to:
        keep &= rows["scan_date"] <= pd.Timestamp(filters.date_to)
    if filters.max_gap_days is not None:
        keep &= rows["gap_days"].abs().le(filters.max_gap_days).fillna(False).astype(bool)
    return rows[keep]
