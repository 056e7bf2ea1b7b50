"""Exam derived values: spasticity, hyperreflexia, ALSFRS-R totals, disease duration; validation."""
import datetime as dt

import pytest
from django.urls import reverse

from clinical.models import Exam, Patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2023, 1, 1))


def make_exam(patient, **fields) -> Exam:
    return Exam.objects.create(patient=patient, date=dt.date(2024, 1, 1), examiner="Dr A", **fields)


def test_mas_1_plus_is_stored_as_its_own_level_and_counts_as_spasticity(patient):
    exam = make_exam(patient, mas_upper_left="1+", mas_lower_left="0", mas_upper_right="0")
    exam.refresh_from_db()
    assert exam.mas_upper_left == "1+"
    assert (exam.spasticity_left, exam.spasticity_right, exam.spasticity) == (True, False, True)


def test_spasticity_is_unknown_when_nothing_was_graded(patient):
    exam = make_exam(patient)
    assert exam.spasticity is None and exam.hyperreflexia is None


def test_mas_zero_everywhere_means_no_spasticity(patient):
    exam = make_exam(patient, **{f"mas_{l}_{s}": "0" for l in ("upper", "lower") for s in ("left", "right")})
    assert exam.spasticity is False


@pytest.mark.parametrize(
    "fields, left, right",
    [
        ({"reflex_biceps_left": 3}, True, None),
        ({"reflex_patellar_right": 4, "reflex_biceps_left": 2}, False, True),
        ({"reflex_ankle_left": 2, "reflex_ankle_right": 1}, False, False),
        ({"hoffmann_right": True, "reflex_triceps_right": 2}, None, True),
        ({"babinski_left": True}, True, None),
        ({"clonus_left": False, "babinski_left": False}, False, None),
    ],
)
def test_hyperreflexia_per_side(patient, fields, left, right):
    exam = make_exam(patient, **fields)
    assert (exam.hyperreflexia_left, exam.hyperreflexia_right) == (left, right)
    expected_any = None if left is None and right is None else bool(left or right)
    assert exam.hyperreflexia == expected_any


def test_alsfrs_totals_and_domains_are_derived(patient):
    items = {f"alsfrs_{i}": v for i, v in enumerate([4, 3, 4, 2, 3, 3, 4, 4, 1, 4, 4, 3], start=1)}
    exam = make_exam(patient, **items)
    assert exam.alsfrs_total == 39
    assert (exam.alsfrs_bulbar, exam.alsfrs_fine_motor, exam.alsfrs_gross_motor, exam.alsfrs_respiratory) == (
        11, 8, 9, 11)


def test_alsfrs_total_is_empty_when_an_item_is_missing(patient):
    exam = make_exam(patient, **{f"alsfrs_{i}": 4 for i in range(1, 12)})
    assert exam.alsfrs_total is None
    assert exam.alsfrs_bulbar == 12


def test_duration_and_progression_rate(patient):
    exam = make_exam(patient, **{f"alsfrs_{i}": 3 for i in range(1, 13)})
    assert exam.disease_duration_months == pytest.approx(365 / 30.4375, abs=0.05)
    assert exam.alsfrs_progression_rate == pytest.approx(12 / exam.disease_duration_months, abs=0.01)


def test_changing_onset_updates_durations(patient):
    exam = make_exam(patient)
    patient.onset_month = dt.date(2023, 7, 1)
    patient.save()
    exam.refresh_from_db()
    assert exam.disease_duration_months == pytest.approx(184 / 30.4375, abs=0.05)


def test_derived_signs_are_queryable(patient):
    make_exam(patient, mas_lower_right="2")
    assert Exam.objects.filter(spasticity_right=True, patient__study=patient.study).count() == 1


def post_exam(client, study, patient, **fields):
    data = {"date": "2024-02-01", "examiner": "Dr B", **fields}
    return client.post(reverse("exam_new", args=[study.pk, patient.pk]), data)


def test_form_rejects_a_future_exam(as_coordinator, study, patient):
    future = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    response = post_exam(as_coordinator, study, patient, date=future)
    assert response.status_code == 200
    assert "The exam date is in the future." in response.content.decode()
    assert not patient.exams.exists()




def test_form_rejects_out_of_range_scores(as_coordinator, study, patient):
    response = post_exam(as_coordinator, study, patient, reflex_biceps_left="5", alsfrs_3="7", penn_umn_score="40",
                         mas_upper_left="1.5")
    body = response.content.decode()
    assert body.count("Select a valid choice") == 2  # reflex 5, MAS 1.5
    assert "less than or equal to 4." in body  # ALSFRS-R item 7
    assert "less than or equal to 32." in body
    assert not patient.exams.exists()


def test_form_rejects_a_second_exam_on_the_same_day(as_coordinator, study, patient):
    make_exam(patient)
    response = post_exam(as_coordinator, study, patient, date="2024-01-01")
    assert "already has an exam on 2024-01-01" in response.content.decode()
    assert patient.exams.count() == 1


def test_form_saves_and_shows_derived_signs(as_coordinator, study, patient):
    response = post_exam(as_coordinator, study, patient, mas_upper_right="1+", reflex_biceps_left="2",
                         reflex_biceps_right="3", hoffmann_right="true")
    assert response.status_code == 302
    exam = patient.exams.get()
    assert exam.spasticity_right and exam.hyperreflexia_right and exam.hyperreflexia_left is False
    page = as_coordinator.get(reverse("patient", args=[study.pk, patient.pk])).content.decode()
    assert "present" in page and "2024-02-01" in page
