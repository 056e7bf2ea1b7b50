"""The demo study: the seed design on phantom scans, reconstructed by a real worker, shows the effect."""
import pytest

from clinical.models import Patient
from dashboard.analysis import analyse
from dashboard.dataset import MOTOR, build_dataset
from dashboard.demo import DEMO_STUDY, SYNTHETIC, seed_demo
from recon.models import ReconRun
from tests.conftest import wait_for

pytestmark = pytest.mark.worker


def test_the_demo_reproduces_the_seed_design(recon_worker, coordinator):
    study = seed_demo(coordinator, say=lambda _: None)
    assert study.name == DEMO_STUDY and "SYNTHETIC" in study.description
    patients = Patient.objects.filter(study=study)
    assert patients.filter(diagnosis="ALS").count() == 9 and patients.filter(diagnosis="PLS").count() == 3
    assert all(p.code.startswith("DEMO-") and p.notes == SYNTHETIC for p in patients)

    runs = ReconRun.objects.filter(scan__study=study)
    wait_for(lambda: runs.filter(status=ReconRun.Status.SUCCEEDED).count() == 12, timeout=480, interval=1)

    def every_scan_measured() -> bool:
        rows = build_dataset(study)
        return len(rows) == 12 and bool(rows[MOTOR].notna().all())

    wait_for(every_scan_measured, timeout=60, interval=1)
    rows = build_dataset(study)
    spasticity = next(s for s in analyse(rows)["sections"] if s.key == "spasticity")
    motor = next(c for c in spasticity.comparisons if c.name == MOTOR)
    assert [g["n"] for g in motor.groups] == [7, 5]
    assert motor.effect["value"] > 0.5 and motor.p_value < 0.05
    assert seed_demo(coordinator, say=lambda _: None) is None  # only once
