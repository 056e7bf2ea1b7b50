"""The patient page shows the ROI values the analysis uses; older ROI versions only under "History"."""
from __future__ import annotations

import numpy as np
import pytest

from dashboard.dataset import build_dataset
from recon import rois
from recon.models import RoiDefinition
from tests.recon_data import phantom, phantom_scan, reconstructed

pytestmark = pytest.mark.django_db


@pytest.fixture
def measured(patient, media):
    """LMC drawn twice on a reconstructed scan: v1 then a smaller v2, both measured on the current run."""
    scan = phantom_scan(patient)
    run = reconstructed(scan)
    head = phantom()
    rois.save_rois(scan, {"LMC": head.rois["LMC"]}, RoiDefinition.Source.UPLOADED, {})
    [v1] = rois.measure(run)
    smaller = head.rois["LMC"].copy()
    smaller[tuple(np.argwhere(smaller)[:10].T)] = False
    rois.save_rois(scan, {"LMC": smaller}, RoiDefinition.Source.DRAWN, {})
    v2 = next(v for v in rois.measure(run) if v.roi.version == 2)
    return v1, v2


def _tables(body: str) -> tuple[str, str]:
    current = body.split('id="patient-roi-values"')[1].split("</table>")[0]
    history = body.split('id="patient-roi-history"')[1].split("</details>")[0]
    return current, history


def test_it_shows_the_latest_version_the_dashboard_uses(as_viewer, patient, measured):
    v1, v2 = measured
    current, history = _tables(as_viewer.get(patient.get_absolute_url()).content.decode())
    assert f"{v2.mean_ppb:.1f}" in current and "LMC v2" in current
    assert "LMC v1" not in current
    assert build_dataset(patient.study).iloc[0]["LMC"] == pytest.approx(v2.mean_ppb)
    assert "LMC v1" in history and "LMC v2" in history and "a later version replaced it" in history


def test_without_older_versions_there_is_no_history(as_viewer, patient, media):
    scan = phantom_scan(patient)
    run = reconstructed(scan)
    rois.save_rois(scan, {"LMC": phantom().rois["LMC"]}, RoiDefinition.Source.UPLOADED, {})
    rois.measure(run)
    body = as_viewer.get(patient.get_absolute_url()).content.decode()
    assert 'id="patient-roi-values"' in body and 'id="patient-roi-history"' not in body
