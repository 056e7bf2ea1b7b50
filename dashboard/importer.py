"""Import ROI values measured elsewhere (columns in docs/roi-import.md); the whole file or nothing."""
from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass, field

from django.db import transaction

from clinical.importer import RowError
from clinical.models import Patient, Study

from .models import ExternalRoiValue

COLUMNS = ["patient_code", "scan_date", "roi", "value_ppb"]
MAX_ROWS = 200000


@dataclass
class RoiImportResult:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return f"{self.created} values added, {self.updated} updated."


def import_roi_values(study: Study, data: bytes, *, filename: str, user=None) -> RoiImportResult:
    result = RoiImportResult()
    rows = _parse(study, data, result)
    if result.errors:
        return result
    source = f"CSV import: {filename}"[:200]
    with transaction.atomic():
        for patient, date, roi, value in rows:
            _, created = ExternalRoiValue.objects.update_or_create(
                patient=patient, scan_date=date, roi_name=roi,
                defaults={"value_ppb": value, "source": source, "imported_by": user},
            )
            if created:
                result.created += 1
            else:
                result.updated += 1
    return result


def _parse(study: Study, data: bytes, result: RoiImportResult) -> list[tuple]:
    def error(row: int, column: str, value: str, message: str) -> None:
        result.errors.append(RowError(row, column, value, message))

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        error(0, "", "", "The file is not UTF-8 text; save it as CSV UTF-8.")
        return []
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    for missing in [c for c in COLUMNS if c not in header]:
        error(1, missing, "", "Required column is missing.")
    for unknown in [h for h in header if h not in COLUMNS]:
        error(1, unknown, "", f"Unknown column; the columns are {', '.join(COLUMNS)}.")
    if result.errors:
        return []
    patients = {p.code: p for p in Patient.objects.filter(study=study)}
    parsed, seen = [], {}
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            error(number, "", "", f"More than {MAX_ROWS} rows; split the file.")
            break
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        patient = patients.get(row["patient_code"])
        if patient is None:
            error(number, "patient_code", row["patient_code"], "No patient with this study code in the study; "
                  "create the patient (or import the clinical CSV) first.")
        try:
            date = dt.date.fromisoformat(row["scan_date"])
        except ValueError:
            date = None
            error(number, "scan_date", row["scan_date"], "Write the scan date as YYYY-MM-DD.")
        if row["roi"] not in study.roi_labels:
            error(number, "roi", row["roi"], f"Not one of this study's ROI labels ({', '.join(study.roi_labels)}).")
        try:
            value = float(row["value_ppb"])
            if not math.isfinite(value):
                raise ValueError
        except ValueError:
            value = None
            error(number, "value_ppb", row["value_ppb"], "Give the value as a number in ppb (e.g. 21.5).")
        key = (row["patient_code"], row["scan_date"], row["roi"])
        if key in seen:
            error(number, "roi", row["roi"], f"Repeats row {seen[key]} (same patient, scan date and ROI).")
        seen[key] = number
        parsed.append((patient, date, row["roi"], value))
    if not parsed and not result.errors:
        error(2, "", "", "The file has a header but no rows.")
    return parsed
