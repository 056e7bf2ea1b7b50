"""REDCap exchange: the data dictionary, the raw record export, and the reading of REDCap exports.

A study maps onto a classic REDCap project (docs/redcap.md):

- one record per patient, ``record_id`` = the pseudonymous study code;
- a non-repeating instrument ``patient`` and a repeating instrument ``exam`` (one instance per exam,
  numbered 1..n by exam date on export).

Coded fields carry fixed REDCap raw codes (integers, as REDCap recommends) mapped to and from the
stored values by the tables in ``CODES``. The codes never change, because REDCap projects and earlier
exports depend on them. The Modified Ashworth grade 1+ is raw code 2 (the usual 0-5 ordinal coding),
so MAS raw codes 2-5 are grades 1+ to 4.

Derived values (spasticity, hyperreflexia, ALSFRS-R totals and domains, disease duration) are neither
exported nor imported: qsmstudy computes them on save, and a copy in REDCap would go stale as soon as
an item was edited there. REDCap's form-status columns (``patient_complete``, ``exam_complete``) are
not in the dictionary (REDCap adds them itself) and are ignored on import.

Nothing here writes to the database: ``clinical.importer`` validates and saves what
``read_records`` turns into its own row format.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import models

from .csvcells import as_typed, spreadsheet_safe
from .models import (
    ALSFRS_FIELDS,
    MAS_FIELDS,
    REFLEX_FIELDS,
    SIGN_FIELDS,
    Ashworth,
    DiagnosticCategory,
    Diagnosis,
    Exam,
    Handedness,
    JawJerk,
    OnsetRegion,
    OnsetSide,
    Patient,
    Reflex,
    Sex,
    Study,
)

DICTIONARY_COLUMNS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
PATIENT_FORM, EXAM_FORM = "patient", "exam"
RECORD_ID = "record_id"
REPEAT_INSTRUMENT, REPEAT_INSTANCE = "redcap_repeat_instrument", "redcap_repeat_instance"
# Headers of REDCap's "labels" export for the columns that are not fields.
LABEL_HEADERS = {"Repeat Instrument": REPEAT_INSTRUMENT, "Repeat Instance": REPEAT_INSTANCE}
STATUS_COLUMNS = {f"{PATIENT_FORM}_complete", f"{EXAM_FORM}_complete", "Complete?"}
DERIVED_COLUMNS = {
    f.name for f in Exam._meta.concrete_fields if not f.editable and f.name not in ("id", "created_at")
}
YES, NO = "1", "0"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONTH = re.compile(r"^\d{4}-\d{2}$")

ASHWORTH_CODES = {"0": Ashworth.MAS_0, "1": Ashworth.MAS_1, "2": Ashworth.MAS_1P, "3": Ashworth.MAS_2,
                  "4": Ashworth.MAS_3, "5": Ashworth.MAS_4}
# Raw code -> stored value, per coded field.
CODES: dict[str, dict[str, str]] = {
    "diagnosis": {"1": Diagnosis.ALS, "2": Diagnosis.PLS, "3": Diagnosis.CONTROL, "4": Diagnosis.OTHER_MND},
    "sex": {"1": Sex.FEMALE, "2": Sex.MALE, "3": Sex.OTHER},
    "handedness": {"1": Handedness.RIGHT, "2": Handedness.LEFT, "3": Handedness.AMBIDEXTROUS},
    "onset_region": {"1": OnsetRegion.BULBAR, "2": OnsetRegion.UPPER_LIMB, "3": OnsetRegion.LOWER_LIMB,
                     "4": OnsetRegion.RESPIRATORY},
    "onset_side": {"1": OnsetSide.LEFT, "2": OnsetSide.RIGHT, "3": OnsetSide.BILATERAL, "4": OnsetSide.MIDLINE},
    "diagnostic_category": {
        "1": DiagnosticCategory.EEC_DEFINITE, "2": DiagnosticCategory.EEC_PROBABLE,
        "3": DiagnosticCategory.EEC_PROBABLE_LAB, "4": DiagnosticCategory.EEC_POSSIBLE,
        "5": DiagnosticCategory.PLS_PROBABLE, "6": DiagnosticCategory.PLS_DEFINITE,
    },
    "jaw_jerk": {"1": JawJerk.ABSENT, "2": JawJerk.NORMAL, "3": JawJerk.BRISK},
    **{name: {str(grade.value): str(grade.value) for grade in Reflex} for name in REFLEX_FIELDS},
    **{name: ASHWORTH_CODES for name in MAS_FIELDS},
}
ALSFRS_ITEM_NAMES = ("speech", "salivation", "swallowing", "handwriting", "cutting food and handling utensils",
                     "dressing and hygiene", "turning in bed", "walking", "climbing stairs", "dyspnea",
                     "orthopnea", "respiratory insufficiency")


@dataclass(frozen=True)
class Field:
    """One row of the data dictionary and how it maps to a model attribute."""

    name: str
    form: str
    attribute: str
    type: str
    label: str
    choices: dict[str, str] = field(default_factory=dict)  # raw code -> choice label
    validation: str = ""
    minimum: str = ""
    maximum: str = ""
    note: str = ""
    section: str = ""
    branching: str = ""
    required: bool = False

    @property
    def codes(self) -> dict[str, str]:
        return CODES.get(self.name, {})

    def dictionary_row(self) -> dict[str, str]:
        values = [
            self.name, self.form, self.section, self.type, self.label,
            " | ".join(f"{code}, {label}" for code, label in self.choices.items()), self.note, self.validation,
            self.minimum, self.maximum, "", self.branching, "y" if self.required else "", "", "", "", "", "",
        ]
        return dict(zip(DICTIONARY_COLUMNS, values, strict=True))

    def export(self, record: models.Model) -> str:
        """The stored value as REDCap raw data: codes for choices, 1/0 for yes/no, ISO dates."""
        value = getattr(record, self.attribute)
        if value is None or value == "":
            return ""
        if isinstance(value, bool):
            return YES if value else NO
        if isinstance(value, dt.date):
            return value.isoformat()
        if self.codes:
            return next(code for code, stored in self.codes.items() if stored == str(value))
        return str(value)


def _label(model: type[models.Model], name: str) -> str:
    text = str(model._meta.get_field(name).verbose_name)
    return text[0].upper() + text[1:]


def _coded(model: type[models.Model], name: str, form: str, kind: str = "radio", **extra) -> Field:
    model_field = model._meta.get_field(name)
    labels = {str(value): str(label) for value, label in model_field.flatchoices}
    choices = {code: labels[stored] for code, stored in CODES[name].items()}
    return Field(name, form, name, kind, _label(model, name), choices=choices, **extra)


def _yesno(model: type[models.Model], name: str, form: str, **extra) -> Field:
    return Field(name, form, name, "yesno", _label(model, name), **extra)


def _integer(model: type[models.Model], name: str, form: str, minimum: int, maximum: int | None, **extra) -> Field:
    return Field(name, form, name, "text", _label(model, name), validation="integer", minimum=str(minimum),
                 maximum="" if maximum is None else str(maximum), **extra)


def code_of(name: str, stored: str) -> str:
    """The REDCap raw code of a stored choice value."""
    return next(code for code, value in CODES[name].items() if value == stored)


def _patient_fields() -> list[Field]:
    p = PATIENT_FORM
    als, pls = code_of("diagnosis", Diagnosis.ALS), code_of("diagnosis", Diagnosis.PLS)
    return [
        Field(RECORD_ID, p, "code", "text", _label(Patient, "code"),
              note="Pseudonymous: letters, digits, - or _ (never a name)."),
        _coded(Patient, "diagnosis", p, required=True),
        _coded(Patient, "sex", p),
        _integer(Patient, "birth_year", p, 1900, None),
        _coded(Patient, "handedness", p),
        Field("onset_month", p, "onset_month", "text", _label(Patient, "onset_month"), validation="date_ymd",
              note="Any day of the month; stored as the first.", section="Onset and diagnosis"),
        _coded(Patient, "onset_region", p),
        _coded(Patient, "onset_side", p),
        _coded(Patient, "diagnostic_category", p, "dropdown",
               branching=f"[diagnosis] = '{als}' or [diagnosis] = '{pls}'"),
        _yesno(Patient, "gold_coast", p, branching=f"[diagnosis] = '{als}'"),
        Field("notes", p, "notes", "notes", _label(Patient, "notes"), note="No identifying data."),
    ]


def _exam_fields() -> list[Field]:
    e = EXAM_FORM
    fields = [
        Field("exam_date", e, "date", "text", _label(Exam, "date"), validation="date_ymd", required=True,
              note="One exam per patient per day."),
        Field("examiner", e, "examiner", "text", _label(Exam, "examiner"), required=True),
    ]
    sections = {REFLEX_FIELDS[0]: "Reflexes (NINDS 0-4)",
                SIGN_FIELDS[0]: "Pathological signs (leave blank if not examined)",
                MAS_FIELDS[0]: "Spasticity (Modified Ashworth; raw code 2 is grade 1+)"}
    fields += [_coded(Exam, name, e, section=sections.get(name, "")) for name in REFLEX_FIELDS]
    fields += [_yesno(Exam, name, e, section=sections.get(name, "")) for name in SIGN_FIELDS]
    fields += [_coded(Exam, name, e, section=sections.get(name, "")) for name in MAS_FIELDS]
    fields += [
        _coded(Exam, "jaw_jerk", e, section="Other upper motor neuron signs"),
        _integer(Exam, "penn_umn_score", e, 0, 32),
    ]
    for item, (name, what) in enumerate(zip(ALSFRS_FIELDS, ALSFRS_ITEM_NAMES, strict=True), start=1):
        fields.append(Field(name, e, name, "text", f"ALSFRS-R item {item} ({what})", validation="integer",
                            minimum="0", maximum="4", section="ALSFRS-R" if item == 1 else "",
                            note="5a, or 5b with gastrostomy (next field)." if item == 5 else ""))
    fields.append(_yesno(Exam, "alsfrs_gastrostomy", e))
    return fields


PATIENT_FIELDS = _patient_fields()
EXAM_FIELDS = _exam_fields()
FIELDS = {f.name: f for f in (*PATIENT_FIELDS, *EXAM_FIELDS)}


# Export -------------------------------------------------------------------------------------------

def dictionary_csv() -> str:
    """The REDCap data dictionary (upload it in REDCap's Dictionary page to build the project)."""
    return _csv(list(DICTIONARY_COLUMNS), (f.dictionary_row() for f in FIELDS.values()))


def data_header() -> list[str]:
    return [RECORD_ID, REPEAT_INSTRUMENT, REPEAT_INSTANCE, *(name for name in FIELDS if name != RECORD_ID)]


def record_rows(study: Study) -> Iterator[dict[str, str]]:
    """REDCap raw rows: each patient's row, then one row per exam (instances 1..n by date)."""
    for patient in study.patients.order_by("code").prefetch_related("exams"):
        yield {f.name: f.export(patient) for f in PATIENT_FIELDS}
        exams = sorted(patient.exams.all(), key=lambda exam: exam.date)
        for instance, exam in enumerate(exams, start=1):
            yield {RECORD_ID: patient.code, REPEAT_INSTRUMENT: EXAM_FORM, REPEAT_INSTANCE: str(instance),
                   **{f.name: f.export(exam) for f in EXAM_FIELDS}}


def data_csv(study: Study) -> str:
    """The study's patients and exams as a REDCap raw record export (importable in REDCap)."""
    return _csv(data_header(), record_rows(study))


def data_filename(study: Study) -> str:
    return f"qsmstudy-study{study.pk}-redcap-data.csv"


def dictionary_filename(study: Study) -> str:
    return f"qsmstudy-study{study.pk}-redcap-dictionary.csv"


def _csv(header: list[str], rows) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    return out.getvalue()


# Import -------------------------------------------------------------------------------------------

Report = Callable[[int, str, str, str], None]  # row, column as written, value, message
Problem = Callable[[str, str, str], None]  # field name, value, message (the row is known)


def is_redcap_header(header: list[str]) -> bool:
    """A REDCap export (raw or labels), told from the app's own layout by its record-ID columns."""
    names = {h.strip() for h in header}
    return bool(names & {RECORD_ID, REPEAT_INSTRUMENT, REPEAT_INSTANCE, *LABEL_HEADERS,
                         FIELDS[RECORD_ID].label})


@dataclass
class Records:
    """A REDCap export turned into the importer's rows (its column names and stored values).

    ``rows`` holds (row number, row) in import order: each record's patient row, then its exams.
    ``shown`` names a problem's column and value as they are in the file.
    """

    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # field name -> header as written
    cells: dict[int, dict[str, str]] = field(default_factory=dict)  # row -> field name -> cell

    def shown(self, number: int, column: str, value: str) -> tuple[str, str]:
        name = RECORD_ID if column == "study_code" else column
        cell = self.cells.get(number, {}).get(name, "")
        return self.headers.get(name, name), cell or value


@dataclass
class _Record:
    code: str
    patient: tuple[int, dict[str, str]] | None = None
    exams: dict[int, tuple[int, dict[str, str]]] = field(default_factory=dict)  # instance -> (row, values)
    bad: bool = False


def read_records(text: str, existing_codes: set[str], report: Report) -> Records:
    """Read a REDCap raw or labels export; report every problem by row and column.

    Records with a problem are left out of ``rows`` so that the importer's own checks of the
    other records do not repeat it.
    """
    table = [[as_typed(cell) for cell in row] for row in csv.reader(io.StringIO(text))]
    records = Records()
    names = _header(table[0] if table else [], records, report)
    if names is None:
        return records
    by_code: dict[str, _Record] = {}
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(names):
            report(number, "", "", f"The row has {len(cells)} cells but the header has {len(names)} columns; "
                   "check for an unquoted comma.")
            continue
        row = {name: cell.strip() for name, cell in zip(names, cells) if name}
        records.cells[number] = row
        _read_row(number, row, records, by_code, report)
    for record in by_code.values():
        if record.patient is None and record.exams and record.code not in existing_codes:
            first = min(number for number, _ in record.exams.values())
            report(first, records.headers[RECORD_ID], record.code,
                   "The record has no patient row and is not in this study: add its patient row (repeat columns "
                   "blank) with the diagnosis.")
            record.bad = True
        if not record.bad:
            if record.patient:
                records.rows.append(record.patient)
            records.rows += [record.exams[instance] for instance in sorted(record.exams)]
    return records


def _header(header: list[str], records: Records, report: Report) -> list[str | None] | None:
    """Field names of the columns (None for ignored ones), or None if the header is unusable."""
    by_label = {f.label: f.name for f in FIELDS.values()} | LABEL_HEADERS
    names: list[str | None] = []
    problems = False
    for text in (h.strip() for h in header):
        name = text if text in FIELDS or text in (REPEAT_INSTRUMENT, REPEAT_INSTANCE) else by_label.get(text)
        if name is None:
            if text not in STATUS_COLUMNS:
                problems = True
                report(1, text, "", _unknown_column(text))
        elif name in records.headers:
            problems = True
            report(1, text, "", f"Repeats the column '{records.headers[name]}'; keep one.")
        else:
            records.headers[name] = text
        names.append(name)
    if RECORD_ID not in records.headers:
        problems = True
        report(1, RECORD_ID, "", "Required column is missing: the record ID (the patient's study code).")
    return None if problems else names


def _unknown_column(text: str) -> str:
    if text in DERIVED_COLUMNS:
        return "A derived value: qsmstudy computes it from the exam's items; delete the column."
    if text == "redcap_event_name":
        return ("Events of a longitudinal REDCap project are not read: use a classic project with the exam "
                "instrument repeating (docs/redcap.md).")
    return ("Unknown column: not a field of the qsmstudy REDCap dictionary (docs/redcap.md); delete it, or "
            "export without survey fields and data access groups.")


def _read_row(number: int, row: dict[str, str], records: Records, by_code: dict[str, _Record],
              report: Report) -> None:
    headers = records.headers
    code = row.get(RECORD_ID, "")
    if not code:
        report(number, headers[RECORD_ID], "", "Every row needs its record ID (the patient's study code).")
        return
    record = by_code.setdefault(code, _Record(code))
    problems: list[str] = []

    def problem(column: str, value: str, message: str) -> None:
        problems.append(message)
        report(number, headers.get(column, column), value, message)

    instrument, instance = row.get(REPEAT_INSTRUMENT, ""), row.get(REPEAT_INSTANCE, "")
    if instrument.lower() == EXAM_FORM:
        values = _values(row, EXAM_FIELDS, PATIENT_FIELDS, problem,
                         f"A patient field on an exam row: put it on record {code}'s patient row (repeat columns blank).")
        _add_exam(number, record, instance, row.get("exam_date", ""), values, problem)
    elif instrument:
        problem(REPEAT_INSTRUMENT, instrument, f"The only repeating instrument is '{EXAM_FORM}'; "
                "leave it blank on the patient's row.")
    else:
        if instance:
            problem(REPEAT_INSTANCE, instance, "Leave the instance blank on the patient's row (no repeat instrument).")
        values = _values(row, PATIENT_FIELDS, EXAM_FIELDS, problem,
                         f"An exam field on the patient's row: put it on an exam row ({REPEAT_INSTRUMENT} = exam).")
        if record.patient is not None:
            problem(RECORD_ID, code, f"Record {code} already has its patient row (row {record.patient[0]}); keep one.")
        else:
            record.patient = (number, {"study_code": code, **values})
    record.bad = record.bad or bool(problems)


def _values(row: dict[str, str], fields: list[Field], elsewhere: list[Field], problem: Problem,
            misplaced: str) -> dict[str, str]:
    """The row's cells of one instrument decoded to stored values; cells of the other are problems."""
    for f in elsewhere:
        if f.name != RECORD_ID and row.get(f.name):
            problem(f.name, row[f.name], misplaced)
    values = {}
    for f in fields:
        if f.name != RECORD_ID and row.get(f.name):
            values[f.name] = _decode(f, row[f.name], problem)
    return values


def _add_exam(number: int, record: _Record, instance: str, written_date: str, values: dict[str, str],
              problem: Problem) -> None:
    if not instance.isdigit() or int(instance) < 1:
        problem(REPEAT_INSTANCE, instance, "Write the exam's instance number: 1, 2, 3 ...")
        return
    if int(instance) in record.exams:
        earlier = record.exams[int(instance)][0]
        problem(REPEAT_INSTANCE, instance,
                f"Instance {instance} of record {record.code} is already on row {earlier}; number each exam once.")
        return
    date = values.get("exam_date", "")
    if not written_date:
        problem("exam_date", "", "Every exam needs its date (YYYY-MM-DD).")
    for earlier, other in record.exams.values():
        if date and other.get("exam_date") == date:
            problem("exam_date", date, f"Record {record.code} already has an exam on {date} (row {earlier}); "
                    "one exam per patient per day.")
    record.exams[int(instance)] = (number, {"study_code": record.code, **values})


def _decode(f: Field, value: str, problem: Problem) -> str:
    """A REDCap cell (raw code or choice label) as the importer's value; a problem if it is neither."""
    if f.codes:
        if value in f.codes:
            return f.codes[value]
        by_label = {label.casefold(): code for code, label in f.choices.items()}
        if value.casefold() in by_label:
            return f.codes[by_label[value.casefold()]]
        listing = ", ".join(f"{code} = {label}" for code, label in f.choices.items())
        problem(f.name, value, f"Unknown code: REDCap raw codes are {listing} (or write the label).")
        return ""
    if f.type == "yesno":
        word = {YES: "yes", NO: "no"}.get(value) or {"yes": "yes", "no": "no"}.get(value.lower())
        if word is None:
            problem(f.name, value, "Write 1 (yes) or 0 (no), REDCap's yes/no codes, or leave it blank.")
            return ""
        return word
    if f.validation == "date_ymd":
        allowed = DATE.match(value) or (f.name == "onset_month" and MONTH.match(value))
        if not allowed or not _is_date(value if DATE.match(value) else f"{value}-01"):
            problem(f.name, value, "Not a date: write it as YYYY-MM-DD (REDCap's date_ymd).")
            return ""
    return value


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True
