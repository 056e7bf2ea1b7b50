"""BIDS naming and tables shared by export and import: labels, file names, TSV cells, column dictionaries.

The column dictionaries (participants.tsv, phenotype/exams.tsv, phenotype/external_roi_values.tsv)
are built from the clinical models, so their levels and descriptions follow the forms; docs/bids.md
explains them. TSV cells follow BIDS: tab-separated, "n/a" for a missing value, no quoting; tabs,
newlines and backslashes inside free text are written as \\t, \\n and \\\\ so notes survive a round trip.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

from django.db import models

from clinical.forms import ExamForm, PatientForm
from clinical.models import Exam, Patient

BIDS_VERSION = "1.10.0"
PIPELINE = "qsmstudy"
MISSING = "n/a"
#: participants.tsv keeps the study code, because a BIDS label may only hold letters and digits.
CODE_COLUMN = "study_code"
PATIENT_FIELDS = [name for name in PatientForm._meta.fields if name != "code"]
#: Derived participant column, written for BIDS users and ignored on import.
AGE_COLUMN = "age"
EXAM_DATE_COLUMN = "exam_date"
EXAM_FIELDS = [name for name in ExamForm._meta.fields if name != "date"]
#: Values computed from the exam on save: written for BIDS users, recomputed (never read) on import.
DERIVED_EXAM_FIELDS = ["spasticity", "spasticity_left", "spasticity_right", "hyperreflexia", "hyperreflexia_left",
                       "hyperreflexia_right", "alsfrs_total", "disease_duration_months"]
EXAMS_TABLE = "exams"
EXTERNAL_TABLE = "external_roi_values"
EXTERNAL_COLUMNS = ["participant_id", "scan_date", "roi", "value_ppb", "source"]
SESSION_COLUMNS = ["session_id", "scan_date", "scanner", "site", "field_strength_t", "protocol_name", "pixel_sha256"]
#: Columns of a third-party participants.tsv read as ours (see docs/bids.md).
PARTICIPANT_ALIASES = {"group": "diagnosis"}
#: Other datasets' spellings of levels (compared in lower case), mapped to ours.
LEVEL_ALIASES = {
    "diagnosis": {"als": "ALS", "pls": "PLS", "hc": "HC", "control": "HC", "mnd": "MND"},
    "sex": {"male": "M", "m": "M", "female": "F", "f": "F", "other": "X", "o": "X", "x": "X"},
    "handedness": {"r": "right", "l": "left", "a": "ambidextrous", "right": "right", "left": "left",
                   "ambidextrous": "ambidextrous"},
}

BOOLEAN_FIELDS = frozenset(f.name for f in (*Patient._meta.fields, *Exam._meta.fields)
                           if isinstance(f, models.BooleanField))
_BOOLEAN_WORDS = {"true": "true", "yes": "true", "y": "true", "1": "true",
                  "false": "false", "no": "false", "n": "false", "0": "false"}

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}


def bids_label(code: str) -> str:
    """A study code as a BIDS label: its letters and digits only (``ALS-007`` -> ``ALS007``)."""
    return re.sub(r"[^A-Za-z0-9]", "", code)


def participant_labels(codes: list[str]) -> dict[str, str]:
    """Unique BIDS labels for study codes; a code whose label is taken gets ``x2``, ``x3``, ... appended.

    Codes that are already letters and digits keep themselves as label; labels are compared ignoring case,
    since participant folders must not clash on case-insensitive file systems.
    """
    labels: dict[str, str] = {}
    taken: set[str] = set()
    for code in sorted(codes, key=lambda c: (bids_label(c) != c, c)):
        base = bids_label(code) or "P"
        label, n = base, 1
        while label.lower() in taken:
            n += 1
            label = f"{base}x{n}"
        taken.add(label.lower())
        labels[code] = label
    return labels


def session_labels(dates: list[dt.date]) -> list[str]:
    """``YYYYMMDD`` per scan, with ``b``, ``c``, ... for a second and third scan on one day (same order)."""
    seen: dict[str, int] = {}
    labels = []
    for date in dates:
        base = f"{date:%Y%m%d}"
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base}{chr(ord('a') + seen[base] - 1)}")
    return labels


def cell(value) -> str:
    """One TSV cell: n/a for missing, true/false, ISO dates, escaped text."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return re.sub(r"[\\\t\n\r]", lambda m: _ESCAPES[m.group()], text)


def uncell(text: str) -> str:
    """The value of a TSV cell as form input: '' for n/a, escapes undone."""
    text = text.strip(" ")
    if text == MISSING:
        return ""
    return re.sub(r"\\[\\tnr]", lambda m: _UNESCAPES[m.group()], text)


def form_value(name: str, text: str) -> str | None:
    """A cell as form input for field ``name``: booleans as true/false (None if not a yes/no word)."""
    if name in BOOLEAN_FIELDS:
        return _BOOLEAN_WORDS.get(text.lower())
    return text


def write_tsv(columns: list[str], rows: list[dict]) -> bytes:
    lines = ["\t".join(columns)] + ["\t".join(cell(row.get(c)) for c in columns) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def read_tsv(data: bytes, name: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a BIDS TSV; raise ValueError naming the file and the line for a malformed one."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8.") from exc
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    lines = [line for line in reader if any(c.strip() for c in line)]
    if not lines:
        raise ValueError(f"{name}: empty; a BIDS table needs a header line.")
    header = [h.strip() for h in lines[0]]
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if len(line) != len(header):
            raise ValueError(f"{name}, line {number}: {len(line)} cells for {len(header)} columns; "
                             "separate cells with one tab each.")
        rows.append({h: uncell(v) for h, v in zip(header, line)})
    return header, rows


def _field_entry(model: type[models.Model], name: str) -> dict:
    field = model._meta.get_field(name)
    entry: dict = {"Description": str(field.verbose_name)[:1].upper() + str(field.verbose_name)[1:]}
    if field.help_text:
        entry["Description"] += f". {field.help_text}"
    if field.choices:
        entry["Levels"] = {str(value): str(label) for value, label in field.flatchoices if value not in ("", None)}
    elif isinstance(field, models.BooleanField):
        entry["Levels"] = {"true": "yes", "false": "no"}
    return entry


def participants_dictionary() -> dict:
    """participants.json: every column with its description and levels."""
    entries = {
        "participant_id": {"Description": "BIDS label: the study code's letters and digits (see study_code)."},
        CODE_COLUMN: {"Description": "Pseudonymous study code in qsmstudy (the participant's original identifier)."},
    }
    entries |= {name: _field_entry(Patient, name) for name in PATIENT_FIELDS}
    entries["onset_month"]["Description"] = "Symptom onset, year and month (YYYY-MM)."
    entries["birth_year"]["Units"] = "year"
    entries[AGE_COLUMN] = {"Description": "Age at the participant's first exported session, from the birth year "
                                          "(derived; ignored on import).", "Units": "year"}
    return entries


def exams_dictionary() -> dict:
    """phenotype/exams.json: one row per dated clinical exam."""
    entries = {
        "participant_id": {"Description": "The participant (see participants.tsv)."},
        EXAM_DATE_COLUMN: {"Description": "Exam date (YYYY-MM-DD)."},
    }
    entries |= {name: _field_entry(Exam, name) for name in EXAM_FIELDS}
    for name in DERIVED_EXAM_FIELDS:
        entries[name] = _field_entry(Exam, name)
        entries[name]["Description"] += " (derived from the scales above; recomputed on import)."
    entries["disease_duration_months"]["Units"] = "month"
    return {"MeasurementToolMetadata": {"Description": "qsmstudy clinical exam: NINDS reflexes, Hoffmann, "
                                        "Babinski, clonus, Modified Ashworth, jaw jerk, Penn UMN score, ALSFRS-R."},
            **entries}


def external_dictionary() -> dict:
    return {
        "MeasurementToolMetadata": {"Description": "ROI susceptibility means measured outside qsmstudy and "
                                                   "imported into it (docs/roi-import.md)."},
        "participant_id": {"Description": "The participant (see participants.tsv)."},
        "scan_date": {"Description": "Date of the scan the value was measured on (YYYY-MM-DD)."},
        "roi": {"Description": "ROI name, one of the study's ROI labels."},
        "value_ppb": {"Description": "Mean susceptibility in the ROI.", "Units": "ppb"},
        "source": {"Description": "Where the value was measured."},
    }


def sessions_dictionary() -> dict:
    return {
        "session_id": {"Description": "ses-<YYYYMMDD> of the scan date (b, c, ... for more scans that day)."},
        "scan_date": {"Description": "Scan date (YYYY-MM-DD)."},
        "scanner": {"Description": "Scanner make and model."},
        "site": {"Description": "Site where the scan was acquired."},
        "field_strength_t": {"Description": "Main field used for reconstruction.", "Units": "T"},
        "protocol_name": {"Description": "Protocol name."},
        "pixel_sha256": {"Description": "SHA-256 of the magnitude then phase voxels (float32, C order, phase in "
                                        "radians), as qsmstudy computes it; the same after a round trip."},
    }
