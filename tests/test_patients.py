import datetime as dt

import pytest
from django.urls import reverse

from clinical.models import Patient

pytestmark = pytest.mark.django_db


def post_patient(client, study, **fields):
    return client.post(reverse("patient_new", args=[study.pk]), {"code": "ALS-001", "diagnosis": "ALS", **fields})


def test_it_creates_a_pseudonymous_patient(as_coordinator, study):
    response = post_patient(as_coordinator, study, onset_month="2023-04", diagnostic_category="eec_probable",
                            gold_coast="true", birth_year="1960")
    patient = Patient.objects.get(study=study, code="ALS-001")
    assert response["Location"] == patient.get_absolute_url()
    assert patient.onset_month == dt.date(2023, 4, 1)
    assert patient.gold_coast is True


def test_it_refuses_names_as_codes(as_coordinator, study):
    response = post_patient(as_coordinator, study, code="John Smith")
    assert "pseudonymous study code" in response.content.decode()
    assert not Patient.objects.exists()


def test_it_refuses_a_duplicate_code_in_the_same_study(as_coordinator, study):
    Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS")
    response = post_patient(as_coordinator, study)
    assert "already used in this study" in response.content.decode()
    assert Patient.objects.count() == 1


def test_the_same_code_may_exist_in_another_study(study, other_study):
    Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS")
    Patient.objects.create(study=other_study, code="ALS-001", diagnosis="ALS")


def test_it_refuses_a_category_of_another_diagnosis(as_coordinator, study):
    response = post_patient(as_coordinator, study, diagnosis="PLS", diagnostic_category="eec_definite")
    assert "does not apply to diagnosis PLS" in response.content.decode()
    assert not Patient.objects.exists()


def test_it_refuses_future_onset_and_future_birth(as_coordinator, study):
    next_year = dt.date.today().year + 1
    response = post_patient(as_coordinator, study, onset_month=f"{next_year}-01", birth_year=str(next_year))
    body = response.content.decode()
    assert "Symptom onset cannot be in the future." in body
    assert f"Birth year {next_year} is in the future." in body
    assert not Patient.objects.exists()


def test_editing_requires_a_reason(as_coordinator, study):
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS")
    url = reverse("patient_edit", args=[study.pk, patient.pk])
    response = as_coordinator.post(url, {"code": "ALS-001", "diagnosis": "PLS"})
    assert "Say why you are changing saved data." in response.content.decode()
    patient.refresh_from_db()
    assert patient.diagnosis == "ALS"
