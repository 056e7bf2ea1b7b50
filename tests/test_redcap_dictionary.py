"""The REDCap data dictionary has REDCap's columns, and defines every exported column with matching choices."""
import csv
import datetime as dt
import io
import re

import pytest

from clinical.importer import template_header
from clinical.models import Exam, Patient
from clinical.redcap import CODES, data_csv, dictionary_csv
from tests.test_redcap_roundtrip import make_cohort

# REDCap's data dictionary columns, in REDCap's order.
REDCAP_COLUMNS = [
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
    "Text Validation Min", "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
    "Required Field?", "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name",
    "Matrix Ranking?", "Field Annotation",
]
FIELD_TYPES = {"text", "notes", "radio", "dropdown", "yesno"}


def dictionary() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(dictionary_csv())))


def choices(entry: dict[str, str]) -> dict[str, str]:
    text = entry["Choices, Calculations, OR Slider Labels"]
    return dict(part.strip().split(", ", 1) for part in text.split("|")) if text else {}


def test_the_columns_are_exactly_redcaps():
    header = next(csv.reader(io.StringIO(dictionary_csv())))
    assert header == REDCAP_COLUMNS


def test_record_id_comes_first_on_the_patient_instrument_then_the_exam_instrument():
    entries = dictionary()
    assert entries[0]["Variable / Field Name"] == "record_id" and entries[0]["Form Name"] == "patient"
    forms = [e["Form Name"] for e in entries]
    assert set(forms) == {"patient", "exam"} and forms == sorted(forms, key=["patient", "exam"].index)


def test_names_types_and_labels_are_valid_for_redcap():
    entries = dictionary()
    names = [e["Variable / Field Name"] for e in entries]
    assert len(set(names)) == len(names)
    # Lower-case letters, digits and underscores, starting with a letter; within Stata's and SAS's 32.
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name) for name in names), names
    assert {e["Field Type"] for e in entries} <= FIELD_TYPES
    labels = [e["Field Label"] for e in entries]
    assert len(set(labels)) == len(labels)  # REDCap's "labels" export names columns by label
    for entry in entries:
        coded = entry["Field Type"] in ("radio", "dropdown")
        assert bool(choices(entry)) == coded, entry
        assert all("|" not in label for label in choices(entry).values())
        assert entry["Text Validation Type OR Show Slider Number"] in ("", "integer", "date_ymd")


def test_every_model_choice_has_exactly_one_raw_code():
    for name, codes in CODES.items():
        model = Patient if name in [f.name for f in Patient._meta.fields] else Exam
        stored = [str(value) for value, _ in model._meta.get_field(name).flatchoices]
        assert sorted(map(str, codes.values())) == sorted(stored), name
        assert all(code.lstrip("-").isdigit() for code in codes), name


def test_only_the_record_id_differs_from_the_csv_import_columns():
    names = {e["Variable / Field Name"] for e in dictionary()}
    assert names - set(template_header()) == {"record_id"}
    assert set(template_header()) - names == {"study_code"}


def test_no_derived_value_is_in_the_dictionary():
    derived = {f.name for f in Exam._meta.concrete_fields if not f.editable}
    assert derived and not derived & {e["Variable / Field Name"] for e in dictionary()}


@pytest.mark.django_db
def test_every_exported_column_is_defined_and_every_value_fits_its_definition(study):
    make_cohort(study)
    definitions = {e["Variable / Field Name"]: e for e in dictionary()}
    header, *rows = csv.reader(io.StringIO(data_csv(study)))
    assert header[:3] == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    assert [h for h in header if h not in ("redcap_repeat_instrument", "redcap_repeat_instance")] == list(definitions)
    seen_codes: dict[str, set[str]] = {}
    for row in rows:
        record = dict(zip(header, row, strict=True))
        form = "exam" if record["redcap_repeat_instrument"] else "patient"
        for name, value in record.items():
            entry = definitions.get(name)
            if entry is None or name == "record_id" or not value:
                continue
            assert entry["Form Name"] == form, (name, record)
            kind, validation = entry["Field Type"], entry["Text Validation Type OR Show Slider Number"]
            if kind in ("radio", "dropdown"):
                assert value in choices(entry), (name, value)
                seen_codes.setdefault(name, set()).add(value)
            elif kind == "yesno":
                assert value in ("0", "1"), (name, value)
            elif validation == "date_ymd":
                dt.date.fromisoformat(value)
            elif validation == "integer":
                low, high = entry["Text Validation Min"], entry["Text Validation Max"]
                assert (not low or int(value) >= int(low)) and (not high or int(value) <= int(high)), (name, value)
    for name in ("diagnosis", "sex", "handedness", "onset_region", "onset_side", "diagnostic_category",
                 "jaw_jerk", "mas_lower_right"):
        assert seen_codes[name] <= set(choices(definitions[name])), name
    all_mas = set().union(*(seen_codes.get(f"mas_{limb}_{side}", set())
                            for limb in ("upper", "lower") for side in ("left", "right")))
    assert all_mas == set(choices(definitions["mas_upper_left"])) == {"0", "1", "2", "3", "4", "5"}
    assert seen_codes["diagnostic_category"] == set(choices(definitions["diagnostic_category"]))
