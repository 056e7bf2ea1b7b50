"""A synthetic cohort in the seed study's design: 9 ALS and 3 PLS, motor cortex raised with spasticity."""
from __future__ import annotations

import datetime as dt

import numpy as np

from clinical.models import Exam, Patient, Study
from dashboard.models import ExternalRoiValue

SPASTIC = {"ALS-01", "ALS-02", "ALS-03", "ALS-04", "PLS-01", "PLS-02", "PLS-03"}


def seed_cohort(study: Study, seed: int = 1) -> None:
    """12 patients, one exam and one set of imported ROI values (ppb) each."""
    rng = np.random.default_rng(seed)
    codes = [f"ALS-{i:02d}" for i in range(1, 10)] + [f"PLS-{i:02d}" for i in range(1, 4)]
    for index, code in enumerate(codes):
        patient = Patient.objects.create(study=study, code=code, diagnosis=code[:3], onset_month=dt.date(2020, 1, 1))
        spastic = code in SPASTIC
        Exam.objects.create(
            patient=patient, date=dt.date(2024, 1, 10), examiner="Dr Seed",
            mas_upper_left="1+" if spastic else "0", mas_upper_right="2" if spastic else "0",
            mas_lower_left="0", mas_lower_right="0",
            reflex_biceps_left=3 if spastic else 2, reflex_biceps_right=3 if spastic else 2,
            penn_umn_score=int(10 + 8 * spastic + index % 4),
            **{f"alsfrs_{i}": 3 for i in range(1, 13)},
        )
        motor = 45 if spastic else 28
        values = {"LMC": motor + rng.normal(0, 3), "RMC": motor + rng.normal(0, 3),
                  "LCT": 24 + rng.normal(0, 3), "RCT": 24 + rng.normal(0, 3)}
        for roi, value in values.items():
            ExternalRoiValue.objects.create(patient=patient, scan_date=dt.date(2024, 1, 12), roi_name=roi,
                                            value_ppb=round(float(value), 2), source="synthetic")
