"""The dataset takes ROI values from current runs and the latest ROI versions only."""
import datetime as dt

import numpy as np
import pytest

from clinical.models import Patient
from dashboard.dataset import build_dataset
from recon import rois
from recon.models import ReconRun, RoiDefinition
from tests.recon_data import phantom, phantom_scan, reconstructed

pytestmark = pytest.mark.django_db


def test_values_come_from_the_current_run_and_latest_roi(study):
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    patient.exams.create(date=dt.date(2024, 3, 1), examiner="Dr A", reflex_ankle_left=4)
    scan = phantom_scan(patient)
    run = reconstructed(scan)
    head = phantom()
    rois.save_rois(scan, {"LMC": head.rois["LMC"]}, RoiDefinition.Source.UPLOADED, {})
    rois.measure(run)
    smaller = head.rois["LMC"].copy()
    smaller[tuple(np.argwhere(smaller)[:10].T)] = False
    v2 = rois.save_rois(scan, {"LMC": smaller}, RoiDefinition.Source.DRAWN, {})[0]
    [latest] = rois.measure(run)
    assert latest.roi == v2
    other = ReconRun.objects.create(scan=scan, params=run.params, status=ReconRun.Status.SUCCEEDED)

    rows = build_dataset(study)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["LMC"] == pytest.approx(latest.mean_ppb)
    assert row["source"] == "qsmstudy" and row["gap_days"] == -4 and row["hyperreflexia_left"] == True  # noqa: E712
    assert other.pk != run.pk and rows["scan_id"].tolist() == [scan.pk]


def test_an_empty_roi_cannot_be_saved(study):
    patient = Patient.objects.create(study=study, code="ALS-002", diagnosis="ALS")
    scan = phantom_scan(patient)
    with pytest.raises(rois.RoiError, match="LMC has no voxels"):
        rois.save_rois(scan, {"LMC": np.zeros(phantom().chi.shape, bool)}, RoiDefinition.Source.DRAWN, {})
    assert not RoiDefinition.objects.exists()
