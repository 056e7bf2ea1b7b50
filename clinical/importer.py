"""Bulk import of patients and exams from a CSV: this app's layout or a REDCap record export.

This app's layout has one row per exam (column dictionary docs/clinical-import.md, template
docs/clinical-import-template.csv); a REDCap export has a patient row per record and a row per exam
instance (docs/redcap.md, read by clinical.redcap). The whole file is validated inside one
transaction and rolled back if any row is bad, so a rejected file saves nothing.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models, transaction

from . import redcap
from .forms import ExamForm, PatientForm
from .models import Exam, Patient, Study

PATIENT_COLUMNS = {
    "study_code": "code",
    "diagnosis": "diagnosis",
    "sex": "sex",
    "birth_year": "birth_year",
    "handedness": "handedness",
    "onset_month": "onset_month",
    "onset_region": "onset_region",
    "onset_side": "onset_side",
    "diagnostic_category": "diagnostic_category",
    "gold_coast": "gold_coast",
    "notes": "notes",
}
EXAM_COLUMNS = {"exam_date": "date", **{name: name for name in ExamForm._meta.fields if name != "date"}}
BOOLEAN_FIELDS = {
    f.name for f in (*Patient._meta.fields, *Exam._meta.fields) if isinstance(f, models.BooleanField)
}
TRUE_WORDS = {"yes", "y", "true", "1", "positive", "present"}
FALSE_WORDS = {"no", "n", "false", "0", "negative", "absent"}
MAX_ROWS = 20000
MAX_IMPORT_BYTES = 10 * 1024 * 1024  # far above MAX_ROWS rows of clinical data


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column '{self.column}'" if self.column else "")
        shown = f" (value '{self.value}')" if self.value else ""
        return f"{where}{shown}: {self.message}"


@dataclass
class ImportResult:
    patients_created: int = 0
    patients_updated: int = 0
    exams_created: int = 0
    exams_updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)  # saved all the same, but worth a second look

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"{self.patients_created} patients created, {self.patients_updated} updated; "
            f"{self.exams_created} exams created, {self.exams_updated} updated."
        )


class _Rollback(Exception):
    """Raised inside the import transaction to undo everything when a row failed."""


def template_header() -> list[str]:
    return [*PATIENT_COLUMNS, *EXAM_COLUMNS]


def size_problem(size: int) -> str | None:
    """Why a file of ``size`` bytes is refused before it is read, or None when it may be imported."""
    if size > MAX_IMPORT_BYTES:
        return f"The file is {size // 1024} KiB; the limit is {MAX_IMPORT_BYTES // 1024} KiB. Split it."
    return None


def import_clinical_csv(study: Study, data: bytes, *, filename: str, user=None) -> ImportResult:
    """Validate and import a CSV of patients and exams into a study, all or nothing.

    The layout is told by the header: REDCap's record ID columns mean a REDCap export.
    """
    result = ImportResult()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        result.errors.append(RowError(0, "", "", f"The file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8."))
        return result
    if redcap.is_redcap_header(next(csv.reader(io.StringIO(text)), [])):
        records = _read_redcap(study, text, result)
        rows, shown, reason = records.rows, records.shown, f"REDCap import: {filename}"
    else:
        rows, shown, reason = _read_rows(text, result), _as_written, f"CSV import: {filename}"
    if len(rows) > MAX_ROWS:
        result.errors.append(RowError(0, "", "", f"The file has {len(rows)} rows; split it into files of {MAX_ROWS}."))
        return result
    if not rows:  # nothing the importer could check further
        return result
    try:
        with transaction.atomic():
            _Importer(study, reason, user, result, shown).run(rows)
            if result.errors:
                raise _Rollback
    except _Rollback:
        result.patients_created = result.patients_updated = result.exams_created = result.exams_updated = 0
    result.errors.sort(key=lambda e: e.row)
    return result


def _read_redcap(study: Study, text: str, result: ImportResult) -> redcap.Records:
    def report(row: int, column: str, value: str, message: str) -> None:
        result.errors.append(RowError(row, column, value, message))

    records = redcap.read_records(text, set(study.patients.values_list("code", flat=True)), report)
    if not records.rows and not result.errors:
        report(2, "", "", "The file has a header but no records.")
    return records


def _as_written(number: int, column: str, value: str) -> tuple[str, str]:
    return column, value


def _read_rows(text: str, result: ImportResult) -> list[tuple[int, dict[str, str]]]:
    """Rows of this app's layout, numbered from 2 (the header is row 1; blank lines are skipped)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    unknown = [h for h in header if h not in PATIENT_COLUMNS and h not in EXAM_COLUMNS]
    for name in unknown:
        result.errors.append(RowError(1, name, "", "Unknown column; see the column dictionary or the template."))
    for required in ("study_code",):
        if required not in header:
            result.errors.append(RowError(1, required, "", "Required column is missing."))
    rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    if not rows and not result.errors:
        result.errors.append(RowError(2, "", "", "The file has a header but no rows."))
    if result.errors:  # a bad header: the rows cannot be read
        return []
    return list(enumerate(rows, start=2))


class _Importer:
    """Saves each row that passes, even after a bad one, so that later rows are checked against it
    (an exam against its patient's onset); the caller rolls everything back if any row failed."""

    def __init__(self, study: Study, reason: str, user, result: ImportResult,
                 shown: Callable[[int, str, str], tuple[str, str]]) -> None:
        self.study, self.user, self.result, self.shown = study, user, result, shown
        self.reason = reason[:100]
        self.seen: dict[str, tuple[Patient, dict[str, str]]] = {}

    def run(self, rows: list[tuple[int, dict[str, str]]]) -> None:
        for number, row in rows:
            patient = self.import_patient(number, row)
            if patient is not None and row.get("exam_date"):
                self.import_exam(number, row, patient)

    def import_patient(self, number: int, row: dict[str, str]) -> Patient | None:
        code = row.get("study_code", "")
        values = {col: row[col] for col in PATIENT_COLUMNS if col in row and row[col] and col != "study_code"}
        if code in self.seen:
            patient, first = self.seen[code]
            for col, value in values.items():
                if first.get(col, value) != value:
                    self.error(number, col, value, f"Differs from the first row of patient {code} ('{first[col]}').")
            return patient
        existing = Patient.objects.filter(study=self.study, code=code).first()
        if existing and not values:
            self.seen[code] = (existing, values)
            return existing
        form = PatientForm(
            self.form_data(number, row, PATIENT_COLUMNS, instance=existing),
            instance=existing,
            study=self.study,
        )
        patient = self.save(number, form, PATIENT_COLUMNS)
        if patient is not None:
            self.seen[code] = (patient, values)
            if existing:
                self.result.patients_updated += _changed(form)
            else:
                self.result.patients_created += 1
        return patient

    def import_exam(self, number: int, row: dict[str, str], patient: Patient) -> None:
        existing = None
        if patient.pk and _is_iso(row["exam_date"]):
            existing = Exam.objects.filter(patient=patient, date=row["exam_date"]).first()
        form = ExamForm(self.form_data(number, row, EXAM_COLUMNS, instance=existing), instance=existing, patient=patient)
        if (exam := self.save(number, form, EXAM_COLUMNS)) is not None:
            if warning := exam.onset_warning():
                column, value = self.shown(number, "exam_date", row["exam_date"])
                self.result.warnings.append(RowError(number, column, value, warning))
            if existing:
                self.result.exams_updated += _changed(form)
            else:
                self.result.exams_created += 1

    def form_data(self, number: int, row: dict[str, str], columns: dict[str, str], instance) -> dict[str, str]:
        data: dict[str, str] = {"reason": self.reason}
        if instance is not None:  # blank cells keep what is stored
            for col, name in columns.items():
                value = getattr(instance, name)
                data[name] = "" if value is None else (value.strftime("%Y-%m") if name == "onset_month" else str(value))
        for col, name in columns.items():
            value = row.get(col, "")
            if not value:
                continue
            if name in BOOLEAN_FIELDS:
                value = self.boolean(number, col, value)
            data[name] = value
        return data

    def boolean(self, number: int, col: str, value: str) -> str:
        word = value.lower()
        if word in TRUE_WORDS:
            return "true"
        if word in FALSE_WORDS:
            return "false"
        self.error(number, col, value, "Write yes or no (or leave blank if not examined).")
        return ""

    def save(self, number: int, form, columns: dict[str, str]):
        if not form.is_valid():
            to_column = {name: col for col, name in columns.items()}
            for name, messages in form.errors.items():
                col = to_column.get(name, "")
                for message in messages:
                    self.error(number, col, form.data.get(name, ""), message)
            return None
        if form.instance.pk and not _changed(form):  # a re-imported row: no save, no empty audit entry
            return form.instance
        if self.user is not None:
            form.instance._history_user = self.user
        return form.save()

    def error(self, number: int, column: str, value: str, message: str) -> None:
        """Record a problem, naming the column and value as the file has them."""
        column, value = self.shown(number, column, value)
        self.result.errors.append(RowError(number, column, value, message))


def _changed(form) -> bool:
    """Whether a valid form changes its record (the reason alone is no change)."""
    return bool(set(form.changed_data) - {"reason"})


def _is_iso(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


TEMPLATE_EXAMPLE = {
    "study_code": "ALS-001", "diagnosis": "ALS", "sex": "F", "birth_year": "1961", "handedness": "right",
    "onset_month": "2023-04", "onset_region": "upper_limb", "onset_side": "right",
    "diagnostic_category": "eec_probable", "gold_coast": "yes", "exam_date": "2024-05-14", "examiner": "Dr Example",
    "reflex_biceps_left": "2", "reflex_biceps_right": "3", "hoffmann_right": "yes", "babinski_right": "no",
    "mas_upper_left": "0", "mas_upper_right": "1+", "jaw_jerk": "normal", "penn_umn_score": "7",
    **{f"alsfrs_{i}": "4" for i in range(1, 13)}, "alsfrs_4": "3", "alsfrs_gastrostomy": "no",
}


def template_csv() -> str:
    """A template CSV: the full header and one example row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=template_header(), lineterminator="\n")
    writer.writeheader()
    writer.writerow(TEMPLATE_EXAMPLE)
    return out.getvalue()
