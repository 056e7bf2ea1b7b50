"""An exported study imported into an empty study gives the same patients, exams, scans and ROIs."""
import datetime as dt

import numpy as np
import nibabel as nib
import pytest

from clinical.models import Exam, Patient, ScanSession, Study
from dashboard.models import ExternalRoiValue
from exchange import bids
from exchange.export import Selection, export_study
from exchange.importer import import_bids
from recon.jobs import DEFAULT_PARAMS
from recon.models import ReconRun, RoiDefinition
from tests.exchange.study_data import DESIGN, build_study
from tests.recon_data import reconstructed

pytestmark = pytest.mark.django_db

PATIENT_FIELDS = ["code", *bids.PATIENT_FIELDS]
EXAM_FIELDS = ["date", *bids.EXAM_FIELDS, *bids.DERIVED_EXAM_FIELDS]


def export_to(path, study, selection=None):
    with path.open("wb") as out:
        export_study(study, selection or Selection(), out)
    return path


def records(study):
    patients = [tuple(getattr(p, f) for f in PATIENT_FIELDS) for p in Patient.objects.filter(study=study)]
    exams = [(e.patient.code, *(getattr(e, f) for f in EXAM_FIELDS))
             for e in Exam.objects.filter(patient__study=study).order_by("patient__code", "date")]
    scans = sorted((s.patient.code, s.scan_date, s.pixel_sha256, s.site, s.scanner, s.protocol_name,
                    s.field_strength_t, tuple(s.echo_times_ms)) for s in ScanSession.objects.filter(study=study))
    external = list(ExternalRoiValue.objects.filter(patient__study=study).values_list(
        "patient__code", "scan_date", "roi_name", "value_ppb", "source"))
    return patients, exams, scans, external


def roi_masks(study):
    return {(roi.scan.patient.code, roi.name): np.asarray(nib.load(roi.path).dataobj) > 0
            for roi in RoiDefinition.objects.filter(scan__study=study).select_related("scan__patient")}


def test_a_round_trip_keeps_patients_exams_scans_and_rois(study, coordinator, tmp_path):
    build_study(study, coordinator, design=DESIGN[:3])
    target = Study.objects.create(name="Imported", site="Elsewhere")
    result = import_bids(target, export_to(tmp_path / "study.zip", study), user=coordinator)

    assert (result.patients, result.exams, result.scans, result.rois, result.external_values) == (3, 6, 3, 12, 1)
    assert records(target) == records(study)
    original, imported = roi_masks(study), roi_masks(target)
    assert original.keys() == imported.keys()
    assert all(np.array_equal(original[key], imported[key]) for key in original)
    assert ReconRun.objects.filter(scan__study=target, status=ReconRun.Status.QUEUED).count() == 3
    patient = Patient.objects.get(study=target, code="ALS-01")
    assert patient.notes == "line one\nline\ttwo ALS-01"
    assert patient.history.first().history_change_reason == "BIDS import: study.zip"
    assert patient.scans.get().source_format == "bids"


def test_a_selection_exports_only_the_chosen_patients_and_sessions(study, coordinator, tmp_path):
    build_study(study, coordinator, design=DESIGN[:3])
    target = Study.objects.create(name="ALS in Montreal")
    selection = Selection.from_query(_query(diagnosis=["ALS"], site="montreal", date_to="2024-03-10"))
    import_bids(target, export_to(tmp_path / "subset.zip", study, selection))
    # Montreal holds the first and third patient's scans; the second (Ottawa) has no session left.
    assert sorted(target.patients.values_list("code", flat=True)) == ["ALS-01", "ALS_03"]
    assert target.scans.count() == 2

    only = Study.objects.create(name="One patient")
    import_bids(only, export_to(tmp_path / "one.zip", study, Selection.from_query(_query(patient=["ALS-02"]))))
    assert list(only.patients.values_list("code", flat=True)) == ["ALS-02"]
    assert only.scans.get().scan_date == dt.date(2024, 3, 5)


def _query(**values):
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    for key, value in values.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    return query


def test_the_exported_reconstruction_parameters_are_queued_again(study, tmp_path):
    first, second = build_study(study, design=DESIGN[:2])
    first.scans.get().recon_runs.update(params={**DEFAULT_PARAMS, "inversion": "iswim", "background": "pdf"})
    for patient in (first, second):
        reconstructed(patient.scans.get())
    target = Study.objects.create(name="Imported")
    import_bids(target, export_to(tmp_path / "study.zip", study))
    queued = {run.scan.patient.code: run.params for run in ReconRun.objects.filter(scan__study=target)}
    assert queued == {"ALS-01": {**DEFAULT_PARAMS, "inversion": "iswim", "background": "pdf"},
                      "ALS-02": DEFAULT_PARAMS}
