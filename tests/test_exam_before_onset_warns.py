"""An exam before the recorded onset month is kept with a warning (presymptomatic carriers, onset recalled later)."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinical.importer import import_clinical_csv
from tests.test_clinical_import import csv_bytes

pytestmark = pytest.mark.django_db

EARLY = {"study_code": "ALS-010", "diagnosis": "ALS", "onset_month": "2023-06", "exam_date": "2023-02-14",
         "examiner": "Dr A", **{f"alsfrs_{i}": "4" for i in range(1, 13)}}
LATER = {"study_code": "ALS-010", "exam_date": "2023-09-01", "examiner": "Dr A"}


def test_the_csv_import_saves_it_and_warns_with_the_row(study):
    result = import_clinical_csv(study, csv_bytes([EARLY, LATER]), filename="carriers.csv")
    assert result.ok, result.errors
    assert result.exams_created == 2
    assert [str(w) for w in result.warnings] == [
        "row 2, column 'exam_date' (value '2023-02-14'): The exam of 2023-02-14 is before the recorded symptom "
        "onset (2023-06); it was kept (a presymptomatic exam, or onset recalled later): check both dates if "
        "neither applies."]


def test_a_pre_onset_exam_has_no_negative_progression_rate(study):
    import_clinical_csv(study, csv_bytes([EARLY]), filename="carriers.csv")
    exam = study.patients.get(code="ALS-010").exams.get()
    assert exam.disease_duration_months < 0
    assert exam.alsfrs_progression_rate is None


def test_the_import_page_shows_the_warning_after_saving(as_coordinator, study):
    upload = {"file": SimpleUploadedFile("carriers.csv", csv_bytes([EARLY]), content_type="text/csv")}
    response = as_coordinator.post(reverse("import_clinical", args=[study.pk]), upload, follow=True)
    body = response.content.decode()
    assert "Imported carriers.csv" in body
    assert "carriers.csv, row 2, column &#x27;exam_date&#x27;" in body and "before the recorded symptom onset" in body


def test_the_exam_form_saves_it_and_warns(as_coordinator, study, patient):  # onset January 2022
    response = as_coordinator.post(reverse("exam_new", args=[study.pk, patient.pk]),
                                   {"date": "2021-12-31", "examiner": "Dr B"}, follow=True)
    assert patient.exams.filter(date="2021-12-31").exists()
    body = response.content.decode()
    assert "Exam of 2021-12-31 saved." in body and "before the recorded symptom onset (2022-01)" in body


def test_an_exam_after_onset_has_no_warning(as_coordinator, study, patient):
    response = as_coordinator.post(reverse("exam_new", args=[study.pk, patient.pk]),
                                   {"date": "2022-02-01", "examiner": "Dr B"}, follow=True)
    assert "before the recorded symptom onset" not in response.content.decode()
