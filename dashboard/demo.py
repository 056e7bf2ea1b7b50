"""The demo study: the seed study's design (9 ALS, 3 PLS) on synthetic patients and phantom scans.

Everything here is SYNTHETIC and labelled so: the study's name and description, every patient's
code (DEMO-...) and notes. Patients with spasticity get phantom scans whose motor cortex carries
extra susceptibility; their ROIs are the phantom's own LMC/RMC/LCT/RCT masks. Scans go through the
real upload path and are reconstructed by the worker like any other.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
from django.db import transaction

from clinical.models import Exam, Patient, Role, Study
from recon import rois
from recon.models import RoiDefinition
from recon.phantom_upload import upload_phantom
from qsm.phantom import simulate_head

DEMO_STUDY = "Motor cortex QSM (demo)"
# 2 mm voxels keep the twelve reconstructions to a couple of minutes on a laptop.
PHANTOM = {"voxel_size_mm": 2.0, "matrix": (72, 84, 76), "te_ms": (4.0, 10.0, 16.0, 22.0, 28.0)}
#: (code, diagnosis, spasticity) as in the seed study: all PLS and a subset of ALS are spastic.
DESIGN = [(f"DEMO-ALS-{i:02d}", "ALS", i <= 4) for i in range(1, 10)] + [
    (f"DEMO-PLS-{i:02d}", "PLS", True) for i in range(1, 4)]
SYNTHETIC = "SYNTHETIC demo patient: not a real person."


def seed_demo(user, say: Callable[[str], None] = print) -> Study | None:
    """Create the demo study for a user (as its coordinator) unless it exists; return it."""
    if Study.objects.filter(name=DEMO_STUDY).exists():
        return None
    with transaction.atomic():
        study = Study.objects.create(
            name=DEMO_STUDY, site="Synthetic",
            description="SYNTHETIC DEMO DATA generated from the qsm phantom; not real patients.",
        )
        study.add_member(user, Role.COORDINATOR)
    rng = np.random.default_rng(2024)
    for index, (code, diagnosis, spastic) in enumerate(DESIGN):
        patient = _patient(study, code, diagnosis, spastic, user)
        extra = (0.06 + rng.normal(0, 0.01, 2)) if spastic else rng.normal(0, 0.005, 2)
        head = simulate_head(**PHANTOM, motor_extra_ppm=tuple(extra), seed=index)
        scan = upload_phantom(patient, head, dt.date(2024, 3, 4) + dt.timedelta(days=7 * index), user,
                              site="Synthetic")
        names = [name for name in study.roi_labels if name in head.rois]
        rois.save_rois(scan, {name: head.rois[name] for name in names}, RoiDefinition.Source.UPLOADED,
                       {name: {"file": "phantom ground-truth ROI"} for name in names}, user)
        say(f"demo: {code} ({diagnosis}{', spasticity' if spastic else ''}) scan queued")
    return study


def _patient(study: Study, code: str, diagnosis: str, spastic: bool, user) -> Patient:
    patient = Patient(study=study, code=code, diagnosis=diagnosis, onset_month=dt.date(2021, 6, 1),
                      diagnostic_category="pls_definite" if diagnosis == "PLS" else "eec_probable", notes=SYNTHETIC)
    patient._change_reason, patient._history_user = "Demo data", user
    patient.save()
    mas = "1+" if spastic else "0"
    exam = Exam(patient=patient, date=dt.date(2024, 3, 1), examiner="Demo examiner",
                mas_upper_left=mas, mas_upper_right=mas, mas_lower_left=mas, mas_lower_right="2" if spastic else "0",
                reflex_biceps_left=3 if spastic else 2, reflex_biceps_right=3 if spastic else 2,
                reflex_patellar_left=3 if spastic else 2, reflex_patellar_right=4 if spastic else 2,
                babinski_right=spastic, hoffmann_left=spastic, penn_umn_score=14 if spastic else 4,
                **{f"alsfrs_{i}": 3 if spastic else 4 for i in range(1, 13)})
    exam._change_reason, exam._history_user = "Demo data", user
    exam.save()
    return patient
