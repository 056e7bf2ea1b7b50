"""Patients and exams over the API: the pages' rules and messages, audited with who and why."""
from __future__ import annotations

import datetime as dt

import pytest

from clinical.models import Exam, Patient
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(coordinator):
    return token_client(coordinator)


def patients_url(study) -> str:
    return f"/api/v1/studies/{study.pk}/patients/"


def test_a_created_patient_is_audited_with_the_user(api, study, coordinator):
    response = api.post(patients_url(study), {"code": "ALS-101", "diagnosis": "ALS", "onset_month": "2023-04-17",
                                              "diagnostic_category": "eec_probable"}, format="json")
    assert response.status_code == 201, response.json()
    patient = Patient.objects.get(pk=response.json()["id"])
    assert patient.onset_month == dt.date(2023, 4, 1) and "reason" not in response.json()
    [record] = patient.history.all()
    assert record.history_user == coordinator and record.history_change_reason == "Created"


def test_a_change_needs_a_reason_and_keeps_it(api, study, coordinator):
    patient = Patient.objects.create(study=study, code="PLS-001", diagnosis="PLS")
    url = f"{patients_url(study)}{patient.pk}/"
    refused = api.patch(url, {"sex": "F"}, format="json")
    assert refused.status_code == 400 and refused.json() == {"reason": ["Say why you are changing saved data."]}
    assert api.patch(url, {"sex": "F", "reason": ""}, format="json").status_code == 400
    response = api.patch(url, {"sex": "F", "reason": "transcription error"}, format="json")
    assert response.status_code == 200 and response.json()["sex"] == "F" and response.json()["code"] == "PLS-001"
    latest = patient.history.first()
    assert latest.history_change_reason == "transcription error" and latest.history_user == coordinator
    history = api.get(f"{url}history/").json()["results"]
    assert history[0]["reason"] == "transcription error" and history[0]["who"] == coordinator.username
    assert ["sex", "—", "Female"] in history[0]["changes"]


def test_the_models_rules_come_back_per_field(api, study):
    Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS")
    response = api.post(patients_url(study), {"code": "ALS-001", "diagnosis": "PLS", "gold_coast": True,
                                              "diagnostic_category": "eec_definite"}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert "already used" in errors["code"][0]
    assert "does not apply to diagnosis PLS" in errors["diagnostic_category"][0]
    assert "ALS only" in errors["gold_coast"][0]
    assert Patient.objects.count() == 1


def test_bad_types_are_refused_per_field(api, study):
    response = api.post(patients_url(study), {"code": "has space", "diagnosis": "flu", "birth_year": "x"},
                        format="json")
    assert response.status_code == 400 and set(response.json()) == {"code", "diagnosis", "birth_year"}


def test_patients_are_paged_and_filtered_by_diagnosis(api, study):
    for i in range(3):
        Patient.objects.create(study=study, code=f"ALS-{i}", diagnosis="ALS")
    Patient.objects.create(study=study, code="PLS-1", diagnosis="PLS")
    page = api.get(patients_url(study), {"diagnosis": "ALS", "page_size": 2}).json()
    assert page["count"] == 3 and [p["code"] for p in page["results"]] == ["ALS-0", "ALS-1"] and page["next"]
    assert api.get(patients_url(study), {"diagnosis": "nope"}).status_code == 400


def test_an_exam_is_created_with_its_derived_values(api, study, coordinator):
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    body = {"patient": patient.pk, "date": "2024-01-01", "examiner": "Dr B", "mas_lower_right": "1+",
            "reflex_biceps_left": 3, **{f"alsfrs_{i}": 4 for i in range(1, 13)}}
    response = api.post(f"/api/v1/studies/{study.pk}/exams/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["spasticity_right"] is True and data["spasticity_left"] is None and data["hyperreflexia"] is True
    assert data["alsfrs_total"] == 48 and data["disease_duration_months"] == 24.0
    exam = Exam.objects.get(pk=data["id"])
    assert exam.history.get().history_user == coordinator


def test_exam_rules_and_filters(api, study, other_study):
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    stranger = Patient.objects.create(study=other_study, code="ALS-001", diagnosis="ALS")
    Exam.objects.create(patient=patient, date=dt.date(2023, 1, 1), examiner="A")
    exam = Exam.objects.create(patient=patient, date=dt.date(2024, 1, 1), examiner="A")
    url = f"/api/v1/studies/{study.pk}/exams/"
    early = api.post(url, {"patient": patient.pk, "date": "2021-06-01", "examiner": "A"}, format="json")
    assert early.status_code == 201  # before onset is kept (presymptomatic carriers); the pages warn
    errors = api.post(url, {"patient": patient.pk, "date": "2024-01-01", "examiner": "A"}, format="json").json()
    assert "already has an exam" in errors["date"][0]
    errors = api.post(url, {"patient": stranger.pk, "date": "2024-01-01", "examiner": "A"}, format="json").json()
    assert "patient" in errors
    listed = api.get(url, {"patient": patient.pk, "date_from": "2023-06-01"}).json()["results"]
    assert [e["id"] for e in listed] == [exam.pk]
    changed = api.patch(f"{url}{exam.pk}/", {"penn_umn_score": 12, "patient": stranger.pk, "reason": "late entry"},
                        format="json")
    assert changed.status_code == 200 and changed.json()["penn_umn_score"] == 12
    assert changed.json()["patient"] == patient.pk
