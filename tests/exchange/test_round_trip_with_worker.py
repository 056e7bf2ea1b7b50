"""Round trip: a reconstructed and measured study, exported to BIDS and imported into a new study, is
reconstructed and measured again by a real worker and gives the same patients, scans and analysis."""
import json

import pandas as pd
import pytest

from clinical.models import Study
from dashboard.analysis import analyse
from dashboard.dataset import build_dataset
from exchange.export import Selection, export_study
from exchange.importer import import_bids
from recon.models import ReconRun, RoiValue
from tests.conftest import wait_for
from tests.exchange.study_data import DESIGN, build_study
from tests.exchange.test_import_restores_the_study import records

pytestmark = pytest.mark.worker
#: Three spastic and two non-spastic patients, ALS and PLS: every section of the analysis has numbers.
COHORT = DESIGN[:5]


def measured(study: Study) -> bool:
    runs = ReconRun.objects.filter(scan__study=study)
    failed = runs.filter(status=ReconRun.Status.FAILED).first()
    assert failed is None, failed.error
    done = runs.filter(status=ReconRun.Status.SUCCEEDED, is_current=True).count() == len(COHORT)
    return done and RoiValue.objects.filter(run__scan__study=study).count() == 4 * len(COHORT)


def analysis(study: Study) -> tuple[pd.DataFrame, str]:
    rows = build_dataset(study)
    values = rows.drop(columns=["patient_id", "scan_id"])
    sections = [section.as_dict() for section in analyse(rows)["sections"]]
    return values, json.dumps(sections, sort_keys=True, default=str)


def test_export_import_reconstruct_gives_the_same_analysis(recon_worker, coordinator, tmp_path):
    study = Study.objects.create(name="Motor cortex QSM", site="Ottawa")
    build_study(study, coordinator, design=COHORT)
    wait_for(lambda: measured(study), timeout=120, interval=0.5)
    archive = tmp_path / "study.zip"
    with archive.open("wb") as out:
        export_study(study, Selection(), out)

    target = Study.objects.create(name="Re-imported", site="Ottawa")
    import_bids(target, archive, user=coordinator)
    wait_for(lambda: measured(target), timeout=120, interval=0.5)

    assert records(target) == records(study)
    original_values, original_tests = analysis(study)
    imported_values, imported_tests = analysis(target)
    pd.testing.assert_frame_equal(imported_values, original_values, check_exact=True)
    assert imported_tests == original_tests
    spasticity = next(s for s in analyse(build_dataset(target))["sections"] if s.key == "spasticity")
    assert all(c.p_value is not None for c in spasticity.comparisons)
