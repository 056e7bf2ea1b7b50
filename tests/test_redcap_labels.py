"""REDCap's "labels" export (field labels as headers, choice labels as values) imports like the raw one."""
import csv
import io

import pytest

from clinical.importer import import_clinical_csv
from clinical.redcap import data_csv, dictionary_csv
from tests.test_redcap_roundtrip import make_cohort, snapshot

pytestmark = pytest.mark.django_db
SPECIAL = {"redcap_repeat_instrument": "Repeat Instrument", "redcap_repeat_instance": "Repeat Instance"}


def as_labels(raw: str) -> bytes:
    """What REDCap writes for "CSV (labels)", built from the dictionary as REDCap would."""
    definitions = {e["Variable / Field Name"]: e for e in csv.DictReader(io.StringIO(dictionary_csv()))}
    header, *rows = csv.reader(io.StringIO(raw))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([SPECIAL.get(name) or definitions[name]["Field Label"] for name in header] + ["Complete?"] * 2)
    for row in rows:
        cells = []
        for name, value in zip(header, row, strict=True):
            entry = definitions.get(name)
            if name == "redcap_repeat_instrument" and value:
                value = "Exam"
            elif entry and value and entry["Field Type"] == "yesno":
                value = {"1": "Yes", "0": "No"}[value]
            elif entry and value and entry["Field Type"] in ("radio", "dropdown"):
                choices = dict(p.strip().split(", ", 1) for p in entry["Choices, Calculations, OR Slider Labels"].split("|"))
                value = choices[value]
            cells.append(value)
        writer.writerow(cells + ["Complete", "Incomplete"])
    return out.getvalue().encode()


def test_a_labels_export_imports_field_for_field(study, other_study):
    make_cohort(study)
    labels = as_labels(data_csv(study))
    assert b"1+ catch, minimal resistance" in labels and b"Healthy control" in labels
    result = import_clinical_csv(other_study, labels, filename="labels.csv")
    assert result.ok, [str(e) for e in result.errors]
    assert snapshot(other_study) == snapshot(study)


def test_problems_in_a_labels_export_name_the_label_header(study, other_study):
    make_cohort(study)
    text = as_labels(data_csv(study)).decode().replace("Other / not stated", "Unknown")
    result = import_clinical_csv(other_study, text.encode(), filename="labels.csv")
    assert [str(e) for e in result.errors] == [
        "row 8, column 'Sex' (value 'Unknown'): Unknown code: REDCap raw codes are 1 = Female, 2 = Male, "
        "3 = Other / not stated (or write the label)."]
    assert not other_study.patients.exists()
