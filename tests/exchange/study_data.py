"""A small study built through the real upload path: phantom scans, exams, ROIs (the demo's design, smaller)."""
from __future__ import annotations

import datetime as dt

from clinical.models import Exam, Patient, Study
from dashboard.models import ExternalRoiValue
from recon import rois
from recon.models import RoiDefinition
from recon.phantom_upload import upload_phantom
from qsm.phantom import simulate_head
from tests.recon_data import SMALL

#: (code, diagnosis, spastic): codes with '-' and '_' so that the BIDS label mapping is exercised.
DESIGN = [("ALS-01", "ALS", True), ("ALS-02", "ALS", True), ("ALS_03", "ALS", False), ("ALS-04", "ALS", False),
          ("PLS-01", "PLS", True), ("PLS-02", "PLS", True)]


def make_patient(study: Study, code: str, diagnosis: str, spastic: bool, index: int) -> Patient:
    patient = Patient(study=study, code=code, diagnosis=diagnosis, sex="F" if index % 2 else "M",
                      birth_year=1950 + index, handedness="right", onset_month=dt.date(2021, 6, 1),
                      onset_region="upper_limb", onset_side="left",
                      diagnostic_category="pls_definite" if diagnosis == "PLS" else "eec_probable",
                      gold_coast=True if diagnosis == "ALS" else None, notes=f"line one\nline\ttwo {code}")
    patient._change_reason = "Test data"
    patient.save()
    mas = "1+" if spastic else "0"
    Exam(patient=patient, date=dt.date(2024, 3, 1), examiner="Dr Test", mas_upper_left=mas, mas_upper_right=mas,
         mas_lower_left="0", mas_lower_right="2" if spastic else "0", reflex_biceps_left=3 if spastic else 2,
         reflex_patellar_right=4 if spastic else 2, babinski_right=spastic, hoffmann_left=spastic if spastic else None,
         jaw_jerk="brisk" if spastic else "normal", penn_umn_score=10 + 2 * index + 4 * spastic,
         alsfrs_gastrostomy=index == 1, **{f"alsfrs_{i}": 3 if (spastic and i % 3) else 4 for i in range(1, 13)},
         ).save()
    Exam(patient=patient, date=dt.date(2024, 9, 2), examiner="Dr Later", penn_umn_score=12 + index).save()
    return patient


def build_study(study: Study, user=None, design=DESIGN, scans: bool = True) -> list[Patient]:
    """Patients with two exams each and, when asked, one phantom scan each with the phantom's four ROIs."""
    patients = []
    for index, (code, diagnosis, spastic) in enumerate(design):
        patient = make_patient(study, code, diagnosis, spastic, index)
        patients.append(patient)
        if not scans:
            continue
        extra = (0.08 + 0.01 * index, 0.07) if spastic else (0.0, 0.005 * index)
        head = simulate_head(**SMALL, motor_extra_ppm=extra, seed=index)
        scan = upload_phantom(patient, head, dt.date(2024, 3, 4) + dt.timedelta(days=index), user,
                              site="Ottawa" if index % 2 else "Montreal")
        rois.save_rois(scan, {name: head.rois[name] for name in study.roi_labels}, RoiDefinition.Source.UPLOADED,
                       {}, user)
    ExternalRoiValue.objects.create(patient=patients[0], scan_date=dt.date(2023, 1, 5), roi_name="LMC",
                                    value_ppb=41.5, source="another lab")
    return patients
