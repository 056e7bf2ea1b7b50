"""A study exported in REDCap's layout and imported into another study comes back field for field."""
import csv
import datetime as dt
import io

import pytest

from clinical.importer import import_clinical_csv
from clinical.models import (
    ALSFRS_FIELDS,
    MAS_FIELDS,
    REFLEX_FIELDS,
    SIGN_FIELDS,
    Ashworth,
    Exam,
    Patient,
    Study,
)
from clinical.redcap import data_csv

pytestmark = pytest.mark.django_db
PATIENT_FIELDS = [f.name for f in Patient._meta.concrete_fields if f.name not in ("id", "study", "created_at")]
EXAM_FIELDS = [f.name for f in Exam._meta.concrete_fields if f.name not in ("id", "patient", "created_at")]


def make_cohort(study: Study) -> None:
    """Patients and exams using every field, every choice of the coded fields, yes, no and blank."""
    als = Patient.objects.create(
        study=study, code="ALS-001", diagnosis="ALS", sex="F", birth_year=1961, handedness="right",
        onset_month=dt.date(2021, 4, 1), onset_region="upper_limb", onset_side="right",
        diagnostic_category="eec_probable_lab", gold_coast=True,
        notes='Says "weak grip", worse at night,\nsecond line; ünïcode',
    )
    pls = Patient.objects.create(
        study=study, code="PLS_002", diagnosis="PLS", sex="M", birth_year=1950, handedness="left",
        onset_month=dt.date(2016, 2, 1), onset_region="lower_limb", onset_side="bilateral",
        diagnostic_category="pls_definite",
    )
    Patient.objects.create(study=study, code="HC-003", diagnosis="HC", sex="X", handedness="ambidextrous")
    mnd = Patient.objects.create(study=study, code="MND-004", diagnosis="MND", onset_region="bulbar",
                                 onset_side="midline", gold_coast=None, onset_month=dt.date(2022, 9, 1))
    Patient.objects.create(study=study, code="ALS-005", diagnosis="ALS", onset_region="respiratory",
                           onset_side="left", diagnostic_category="eec_definite", gold_coast=False)
    Patient.objects.create(study=study, code="ALS-006", diagnosis="ALS", diagnostic_category="eec_probable")
    Patient.objects.create(study=study, code="ALS-007", diagnosis="ALS", diagnostic_category="eec_possible")
    Patient.objects.create(study=study, code="PLS-008", diagnosis="PLS", diagnostic_category="pls_probable")

    grades = [g.value for g in Ashworth]  # 0, 1, 1+, 2, 3, 4
    full = {
        **{name: i % 5 for i, name in enumerate(REFLEX_FIELDS)},
        **dict(zip(SIGN_FIELDS, [True, False, True, None, False, True], strict=True)),
        **dict(zip(MAS_FIELDS, grades[:4], strict=True)),
        **{name: 4 - i % 5 for i, name in enumerate(ALSFRS_FIELDS)},
        "jaw_jerk": "brisk", "penn_umn_score": 17, "alsfrs_gastrostomy": True,
    }
    Exam.objects.create(patient=als, date=dt.date(2023, 1, 10), examiner="Dr A, MD", **full)
    Exam.objects.create(patient=als, date=dt.date(2023, 7, 2), examiner="Dr A", mas_upper_left=grades[4],
                        mas_upper_right=grades[5], mas_lower_left=Ashworth.MAS_1P, jaw_jerk="normal",
                        penn_umn_score=0, reflex_patellar_left=4, **{name: 3 for name in ALSFRS_FIELDS})
    Exam.objects.create(patient=pls, date=dt.date(2023, 3, 1), examiner="Dr B", jaw_jerk="absent",
                        hoffmann_left=False, babinski_right=True, mas_lower_right=Ashworth.MAS_1P)
    Exam.objects.create(patient=mnd, date=dt.date(2023, 5, 5), examiner="Dr C")  # blanks only


def snapshot(study: Study) -> dict:
    patients = {p.code: {f: getattr(p, f) for f in PATIENT_FIELDS} for p in study.patients.all()}
    exams = {(e.patient.code, e.date): {f: getattr(e, f) for f in EXAM_FIELDS}
             for e in Exam.objects.filter(patient__study=study).select_related("patient")}
    return {"patients": patients, "exams": exams}


def test_every_field_comes_back_equal(study, other_study, coordinator):
    make_cohort(study)
    result = import_clinical_csv(other_study, data_csv(study).encode(), filename="redcap.csv", user=coordinator)
    assert result.ok, [str(e) for e in result.errors]
    assert (result.patients_created, result.exams_created) == (8, 4)
    assert snapshot(other_study) == snapshot(study)
    assert data_csv(other_study) == data_csv(study)


def test_derived_values_are_recomputed_not_copied(study, other_study):
    make_cohort(study)
    import_clinical_csv(other_study, data_csv(study).encode(), filename="redcap.csv")
    first = Exam.objects.get(patient__study=other_study, date=dt.date(2023, 1, 10))
    assert first.alsfrs_total == sum(4 - i % 5 for i in range(12)) and first.disease_duration_months == 21.3
    second = Exam.objects.get(patient__study=other_study, date=dt.date(2023, 7, 2))
    assert second.spasticity_left is True and second.alsfrs_total == 36
    pls = Exam.objects.get(patient__study=other_study, patient__code="PLS_002")
    assert (pls.spasticity_left, pls.spasticity_right) == (None, True)  # only MAS 1+ on the right
    assert (pls.hyperreflexia_left, pls.hyperreflexia_right) == (False, True)  # Hoffmann no; Babinski yes
    blank = Exam.objects.get(patient__study=other_study, patient__code="MND-004")
    assert blank.spasticity is None and blank.hyperreflexia is None and blank.alsfrs_total is None


def test_ashworth_1_plus_travels_as_raw_code_2(study):
    make_cohort(study)
    lines = data_csv(study).splitlines()
    header = lines[0].split(",")
    pls_exam = next(line for line in lines if line.startswith("PLS_002,exam,")).split(",")
    assert pls_exam[header.index("mas_lower_right")] == "2"


def test_reimporting_an_edited_export_updates_the_exam_and_its_derived_values(study, coordinator):
    make_cohort(study)
    text = data_csv(study)
    header = text.splitlines()[0].split(",")
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("MND-004,exam,"))
    cells = lines[index].split(",")
    cells[header.index("mas_upper_left")] = "2"  # grade 1+ entered in REDCap
    lines[index] = ",".join(cells)
    result = import_clinical_csv(study, ("\n".join(lines) + "\n").encode(), filename="edited.csv", user=coordinator)
    assert result.ok, [str(e) for e in result.errors]
    assert (result.patients_created, result.exams_created, result.exams_updated) == (0, 0, 1)
    exam = Exam.objects.get(patient__code="MND-004")
    assert exam.mas_upper_left == "1+" and exam.spasticity is True
    latest = exam.history.latest()
    assert latest.history_change_reason == "REDCap import: edited.csv" and latest.history_user == coordinator


def test_redcap_form_status_columns_are_ignored(study, other_study):
    make_cohort(study)
    header, *rows = csv.reader(io.StringIO(data_csv(study)))
    out = io.StringIO()
    csv.writer(out).writerows([header + ["patient_complete", "exam_complete"], *(row + ["2", "2"] for row in rows)])
    result = import_clinical_csv(other_study, out.getvalue().encode(), filename="with-status.csv")
    assert result.ok, [str(e) for e in result.errors]
    assert snapshot(other_study) == snapshot(study)
