"""CSV import of patients and exams: the whole file is checked; a bad file saves nothing."""
import csv
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from clinical.importer import import_clinical_csv, template_csv, template_header
from clinical.models import Exam, Patient

pytestmark = pytest.mark.django_db
TEMPLATE = Path(__file__).resolve().parent.parent / "docs" / "clinical-import-template.csv"


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=template_header())
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


GOOD_ROWS = [
    {"study_code": "ALS-001", "diagnosis": "ALS", "onset_month": "2022-05", "exam_date": "2023-01-10",
     "examiner": "Dr A", "mas_upper_right": "1+", "reflex_biceps_left": "3", "hoffmann_left": "yes"},
    {"study_code": "ALS-001", "exam_date": "2023-07-02", "examiner": "Dr A", "mas_upper_right": "0",
     "mas_lower_right": "0"},
    {"study_code": "PLS-001", "diagnosis": "PLS", "diagnostic_category": "pls_definite", "onset_month": "2017-02",
     "exam_date": "2023-03-01", "examiner": "Dr B", **{f"alsfrs_{i}": "3" for i in range(1, 13)}},
    {"study_code": "HC-001", "diagnosis": "HC"},
]


def test_the_shipped_template_matches_the_importer():
    assert TEMPLATE.read_text() == template_csv()


def test_the_template_imports_cleanly(study):
    result = import_clinical_csv(study, TEMPLATE.read_bytes(), filename="template.csv")
    assert result.ok, result.errors
    exam = Exam.objects.get(patient__code="ALS-001")
    assert exam.spasticity_right and exam.hyperreflexia_right and exam.alsfrs_total == 47


def test_it_imports_a_good_file(study, coordinator):
    result = import_clinical_csv(study, csv_bytes(GOOD_ROWS), filename="good.csv", user=coordinator)
    assert result.ok, result.errors
    assert (result.patients_created, result.exams_created) == (3, 3)
    als = Patient.objects.get(code="ALS-001")
    first, second = als.exams.order_by("date")
    assert first.spasticity_right is True and first.hyperreflexia_left is True
    assert second.spasticity is False
    assert Exam.objects.get(patient__code="PLS-001").alsfrs_total == 36
    record = als.history.earliest()
    assert record.history_change_reason == "CSV import: good.csv" and record.history_user == coordinator


def test_reimporting_the_same_file_changes_nothing_new(study):
    import_clinical_csv(study, csv_bytes(GOOD_ROWS), filename="good.csv")
    result = import_clinical_csv(study, csv_bytes(GOOD_ROWS), filename="good.csv")
    assert result.ok
    assert (result.patients_created, result.exams_created) == (0, 0)
    assert Patient.objects.count() == 3 and Exam.objects.count() == 3


def test_a_bad_row_rejects_the_whole_file_with_row_column_and_value(study):
    rows = [*GOOD_ROWS, {"study_code": "ALS-009", "diagnosis": "ALS", "exam_date": "2023-02-30", "examiner": "X"},
            {"study_code": "ALS-010", "diagnosis": "ALZ"},
            {"study_code": "ALS-011", "diagnosis": "ALS", "exam_date": "2023-01-01", "examiner": "X",
             "mas_upper_left": "5", "babinski_left": "maybe"}]
    result = import_clinical_csv(study, csv_bytes(rows), filename="bad.csv")
    assert not result.ok
    messages = [str(e) for e in result.errors]
    assert any(m.startswith("row 6, column 'exam_date' (value '2023-02-30')") for m in messages), messages
    assert any(m.startswith("row 7, column 'diagnosis' (value 'ALZ')") for m in messages), messages
    assert any(m.startswith("row 8, column 'mas_upper_left' (value '5')") for m in messages), messages
    assert any(m.startswith("row 8, column 'babinski_left' (value 'maybe')") for m in messages), messages
    assert not Patient.objects.exists() and not Exam.objects.exists()
    assert not Patient.history.exists()


def test_it_rejects_unknown_columns(study):
    data = b"study_code,diagnosis,favourite_colour\nALS-001,ALS,blue\n"
    result = import_clinical_csv(study, data, filename="x.csv")
    assert [str(e) for e in result.errors] == [
        "row 1, column 'favourite_colour': Unknown column; see the column dictionary or the template."]
    assert not Patient.objects.exists()


def test_it_rejects_conflicting_repeats_of_a_patient(study):
    rows = [{"study_code": "ALS-001", "diagnosis": "ALS"}, {"study_code": "ALS-001", "diagnosis": "PLS"}]
    result = import_clinical_csv(study, csv_bytes(rows), filename="x.csv")
    assert "Differs from the first row of patient ALS-001" in str(result.errors[0])
    assert not Patient.objects.exists()


def test_it_rejects_non_utf8(study):
    result = import_clinical_csv(study, "study_code\nALS-ü\n".encode("latin-1"), filename="x.csv")
    assert "not UTF-8" in str(result.errors[0])


def test_the_command_imports_and_reports(study, tmp_path, capsys):
    path = tmp_path / "good.csv"
    path.write_bytes(csv_bytes(GOOD_ROWS))
    call_command("import_clinical", str(study.pk), str(path))
    assert "3 patients created" in capsys.readouterr().out
    assert Patient.objects.count() == 3


def test_the_command_fails_on_a_bad_file_and_saves_nothing(study, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes([*GOOD_ROWS, {"study_code": "X 1", "diagnosis": "ALS"}]))
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_clinical", study.name, str(path))
    assert "row 6, column 'study_code' (value 'X 1')" in capsys.readouterr().err
    assert not Patient.objects.exists()


def test_the_web_page_imports(as_coordinator, study):
    upload = io.BytesIO(csv_bytes(GOOD_ROWS))
    upload.name = "good.csv"
    response = as_coordinator.post(reverse("import_clinical", args=[study.pk]), {"file": upload})
    assert response.status_code == 302
    assert Patient.objects.count() == 3


def test_the_web_page_lists_problems_and_saves_nothing(as_coordinator, study):
    upload = io.BytesIO(csv_bytes([{"study_code": "ALS-001", "diagnosis": "ALS", "birth_year": "1850"}]))
    upload.name = "bad.csv"
    response = as_coordinator.post(reverse("import_clinical", args=[study.pk]), {"file": upload})
    body = response.content.decode()
    assert "Nothing was imported" in body and "row 2, column &#x27;birth_year&#x27;" in body
    assert not Patient.objects.exists()


def test_viewers_cannot_import(as_viewer, study):
    upload = io.BytesIO(csv_bytes(GOOD_ROWS))
    upload.name = "good.csv"
    assert as_viewer.post(reverse("import_clinical", args=[study.pk]), {"file": upload}).status_code == 403
    assert not Patient.objects.exists()
