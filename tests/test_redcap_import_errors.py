"""A bad REDCap export is refused whole: every problem names its row and column, and nothing is saved."""
import csv
import io

import pytest

from clinical.importer import import_clinical_csv
from clinical.models import Exam, Patient
from clinical.redcap import data_header

pytestmark = pytest.mark.django_db


def redcap_file(rows: list[dict[str, str]], header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header or data_header(), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def patient(code: str, **cells) -> dict[str, str]:
    return {"record_id": code, "diagnosis": "1", **cells}


def exam(code: str, instance: str, date: str, **cells) -> dict[str, str]:
    return {"record_id": code, "redcap_repeat_instrument": "exam", "redcap_repeat_instance": instance,
            "exam_date": date, "examiner": "Dr A", **cells}


GOOD = [patient("ALS-001", onset_month="2022-05-01"), exam("ALS-001", "1", "2023-01-10", mas_upper_left="2"),
        patient("ALS-002"), exam("ALS-002", "1", "2023-02-01")]


def messages(data: bytes, study) -> list[str]:
    result = import_clinical_csv(study, data, filename="bad.csv")
    assert not result.ok
    assert not Patient.objects.exists() and not Exam.objects.exists() and not Patient.history.exists()
    return [str(e) for e in result.errors]


def test_the_good_rows_import(study):
    result = import_clinical_csv(study, redcap_file(GOOD), filename="good.csv")
    assert result.ok, result.errors
    assert Exam.objects.get(patient__code="ALS-001").mas_upper_left == "1+"


def test_an_unknown_code_names_row_column_and_the_codes(study):
    found = messages(redcap_file([*GOOD, patient("ALS-003", sex="F"), exam("ALS-003", "1", "2023-03-01",
                                                                          mas_upper_left="1+")]), study)
    assert found[0].startswith("row 6, column 'sex' (value 'F'): Unknown code: REDCap raw codes are 1 = Female"), found
    assert found[1].startswith("row 7, column 'mas_upper_left' (value '1+'): Unknown code:"), found
    assert "2 = 1+ catch, minimal resistance" in found[1]
    assert len(found) == 2


def test_a_bad_date_names_row_and_column(study):
    found = messages(redcap_file([*GOOD, exam("ALS-002", "2", "14/05/2024"), exam("ALS-002", "3", "2023-02-30")]),
                     study)
    assert found == [
        "row 6, column 'exam_date' (value '14/05/2024'): Not a date: write it as YYYY-MM-DD (REDCap's date_ymd).",
        "row 7, column 'exam_date' (value '2023-02-30'): Not a date: write it as YYYY-MM-DD (REDCap's date_ymd).",
    ]


def test_an_unknown_column_is_named_in_the_header(study):
    header = [*data_header(), "favourite_colour", "alsfrs_total"]
    found = messages(redcap_file(GOOD, header), study)
    assert found == [
        "row 1, column 'favourite_colour': Unknown column: not a field of the qsmstudy REDCap dictionary "
        "(docs/redcap.md); delete it, or export without survey fields and data access groups.",
        "row 1, column 'alsfrs_total': A derived value: qsmstudy computes it from the exam's items; delete the column.",
    ]


def test_a_duplicate_instance_names_both_rows(study):
    found = messages(redcap_file([*GOOD, exam("ALS-001", "1", "2023-04-01")]), study)
    assert found == ["row 6, column 'redcap_repeat_instance' (value '1'): Instance 1 of record ALS-001 is already "
                     "on row 3; number each exam once."]


def test_two_instances_on_one_day_are_refused(study):
    found = messages(redcap_file([*GOOD, exam("ALS-001", "2", "2023-01-10")]), study)
    assert found == ["row 6, column 'exam_date' (value '2023-01-10'): Record ALS-001 already has an exam on "
                     "2023-01-10 (row 3); one exam per patient per day."]


def test_fields_on_the_wrong_instruments_row_are_refused(study):
    found = messages(redcap_file([patient("ALS-001", examiner="Dr A"), exam("ALS-001", "1", "2023-01-10", sex="2")]),
                     study)
    assert found[0].startswith("row 2, column 'examiner' (value 'Dr A'): An exam field on the patient's row"), found
    assert found[1].startswith("row 3, column 'sex' (value '2'): A patient field on an exam row"), found


def test_exams_of_a_record_without_a_patient_row_are_refused(study):
    found = messages(redcap_file([exam("ALS-009", "1", "2023-01-10")]), study)
    assert found == ["row 2, column 'record_id' (value 'ALS-009'): The record has no patient row and is not in this "
                     "study: add its patient row (repeat columns blank) with the diagnosis."]


def test_model_checks_name_the_redcap_column_and_the_cell_as_written(study):
    rows = [patient("PLS-001", diagnosis="2", diagnostic_category="1", birth_year="1850"),
            patient("ALS-001", onset_month="2022-05-01"), exam("ALS-001", "1", "2021-01-01", alsfrs_3="7"),
            patient("bad code!")]
    found = messages(redcap_file(rows), study)
    assert any(m.startswith("row 2, column 'diagnostic_category' (value '1'): 'ALS definite") for m in found), found
    assert any(m.startswith("row 2, column 'birth_year' (value '1850')") for m in found), found
    assert any(m.startswith("row 4, column 'alsfrs_3' (value '7')") for m in found), found
    assert any(m.startswith("row 5, column 'record_id' (value 'bad code!')") for m in found), found


def test_a_missing_record_id_column_is_named(study):
    header = [h for h in data_header() if h != "record_id"]
    found = messages(redcap_file([{k: v for k, v in GOOD[1].items() if k != "record_id"}], header), study)
    assert found == ["row 1, column 'record_id': Required column is missing: the record ID (the patient's study code)."]


def test_the_errors_come_in_row_order(study):
    rows = [*GOOD, patient("ALS-003", sex="9"), patient("ALS-004", birth_year="1850")]
    result = import_clinical_csv(study, redcap_file(rows), filename="bad.csv")
    assert [e.row for e in result.errors] == sorted(e.row for e in result.errors) and len(result.errors) == 2


def test_a_second_patient_row_for_a_record_is_refused(study):
    found = messages(redcap_file([*GOOD, patient("ALS-001", sex="1")]), study)
    assert found == ["row 6, column 'record_id' (value 'ALS-001'): Record ALS-001 already has its patient row "
                     "(row 2); keep one."]


def test_a_longitudinal_export_is_refused_with_the_fix(study):
    found = messages(redcap_file(GOOD, [*data_header(), "redcap_event_name"]), study)
    assert found == ["row 1, column 'redcap_event_name': Events of a longitudinal REDCap project are not read: use a "
                     "classic project with the exam instrument repeating (docs/redcap.md)."]
