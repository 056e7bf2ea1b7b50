import datetime as dt

import pytest
from django.urls import reverse

from clinical.models import Patient, audit_trail

pytestmark = pytest.mark.django_db


def test_every_change_is_kept_with_who_what_and_why(as_coordinator, coordinator, study):
    as_coordinator.post(reverse("patient_new", args=[study.pk]), {"code": "PLS-001", "diagnosis": "PLS"})
    patient = Patient.objects.get(code="PLS-001")
    as_coordinator.post(
        reverse("patient_edit", args=[study.pk, patient.pk]),
        {"code": "PLS-001", "diagnosis": "PLS", "onset_month": "2020-03", "reason": "onset found in letter"},
    )
    as_coordinator.post(reverse("exam_new", args=[study.pk, patient.pk]),
                        {"date": "2024-03-01", "examiner": "Dr C", "mas_lower_left": "2"})
    exam = patient.exams.get()
    as_coordinator.post(
        reverse("exam_edit", args=[study.pk, patient.pk, exam.pk]),
        {"date": "2024-03-01", "examiner": "Dr C", "mas_lower_left": "1+", "reason": "transcription error"},
    )

    trail = audit_trail(patient)
    assert [(e.what, e.action) for e in trail] == [
        ("exam 2024-03-01", "Changed"), ("exam 2024-03-01", "Created"), ("patient", "Changed"), ("patient", "Created")]
    assert all(e.who == coordinator.username for e in trail)
    assert trail[0].reason == "transcription error"
    assert trail[0].changes == [("spasticity (MAS) lower limb, left", "2 marked increase, easily moved",
                                 "1+ catch, minimal resistance")]
    assert trail[2].changes == [("symptom onset (month)", "—", "2020-03-01")]

    page = as_coordinator.get(reverse("patient", args=[study.pk, patient.pk])).content.decode()
    assert "onset found in letter" in page and "transcription error" in page


def test_the_patient_page_keeps_history_of_exams(as_coordinator, study):
    patient = Patient.objects.create(study=study, code="ALS-002", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    patient.exams.create(date=dt.date(2024, 1, 1), examiner="Dr D")
    assert [e.what for e in audit_trail(patient)] == ["exam 2024-01-01", "patient"]
