"""The analysis dataset: one row per scan (exam/scan pair), with the signs at the nearest exam and ROI values.

Built with a handful of queries and pandas (no per-row queries), so it stays fast for large studies.
ROI values come from each scan's current reconstruction run and the latest version of each ROI;
values imported from CSV fill in scans measured elsewhere. Units: ppb.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from django.db.models import Max, Q

from clinical.csvcells import spreadsheet_safe
from clinical.models import Exam, Patient, Study
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
    """Rows: patient_id, code, diagnosis, scan_id, scan_date, site, source, exam_date, gap_days, signs, ROI columns.

    gap_days is exam minus scan, in days: negative when the nearest exam came before the scan.
    """
    filters = filters or Filters()
    rows = _measured_scans(study)
    if rows.empty:
        return rows
    patients = pd.DataFrame.from_records(
        list(Patient.objects.filter(study=study).values_list("id", "code", "diagnosis")),
        columns=["patient_id", "code", "diagnosis"])
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


def csv_download(study_id: int, rows: pd.DataFrame) -> tuple[str, str]:
    """The dataset as downloaded (CSV text, ISO dates) and its file name; the page and the API share it.

    Text cells that a spreadsheet would run as a formula are quoted; numeric columns are written as numbers.
    """
    text_columns = rows.select_dtypes(include=["object", "string"]).columns
    safe = rows.assign(**{c: rows[c].map(spreadsheet_safe) for c in text_columns})
    return safe.to_csv(index=False, date_format="%Y-%m-%d"), f"qsmstudy-study{study_id}-dataset.csv"


def baseline(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per patient (their earliest measured scan), so that patients are independent in the tests."""
    return rows.sort_values("scan_date").drop_duplicates("patient_id").reset_index(drop=True)


def _own_values(study: Study) -> pd.DataFrame:
    """One row per scan with its current run's value for each ROI label (latest ROI version), pivoted in SQL."""
    labels = list(study.roi_labels)
    per_label = {f"roi_{i}": Max("mean_ppb", filter=Q(roi__name=label)) for i, label in enumerate(labels)}
    query = (RoiValue.analysed().filter(run__scan__study=study)
             .values("run__scan_id").annotate(**per_label)
             .values_list("run__scan__patient_id", "run__scan__scan_date", "run__scan_id", "run__scan__site",
                          *per_label))
    frame = pd.DataFrame.from_records(list(query), columns=["patient_id", "scan_date", "scan_id", "site", *labels])
    return frame.assign(source="qsmstudy")


def _imported_values(study: Study, own: pd.DataFrame) -> pd.DataFrame:
    """Imported values pivoted per (patient, scan date); the platform's own scans win on the same date."""
    external = pd.DataFrame.from_records(
        list(ExternalRoiValue.objects.filter(patient__study=study).values_list(
            "patient_id", "scan_date", "roi_name", "value_ppb")),
        columns=["patient_id", "scan_date", "roi", "value"])
    if external.empty:
        return external
    wide = external.pivot(index=["patient_id", "scan_date"], columns="roi", values="value").reset_index()
    wide.columns.name = None
    if not own.empty:
        measured = pd.MultiIndex.from_frame(own[["patient_id", "scan_date"]])
        wide = wide[~pd.MultiIndex.from_frame(wide[["patient_id", "scan_date"]]).isin(measured)]
    return wide.assign(scan_id=pd.NA, site="", source="imported")


def _measured_scans(study: Study) -> pd.DataFrame:
    own = _own_values(study)
    frames = [f for f in (own, _imported_values(study, own)) if not f.empty]
    if not frames:
        return pd.DataFrame()
    wide = pd.concat(frames, ignore_index=True)
    wide["scan_id"] = wide["scan_id"].astype("Int64")
    wide["scan_date"] = pd.to_datetime(wide["scan_date"])
    labels = [c for c in wide.columns if c in study.roi_labels]
    return wide.dropna(how="all", subset=labels)


def _with_nearest_exam(rows: pd.DataFrame, study: Study) -> pd.DataFrame:
    exams = pd.DataFrame.from_records(
        list(Exam.objects.filter(patient__study=study).values_list("patient_id", "date", *SIGNS)),
        columns=["patient_id", "date", *SIGNS])
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
