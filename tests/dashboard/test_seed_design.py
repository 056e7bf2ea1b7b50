"""The seed study's design (9 ALS, 3 PLS) on a synthetic cohort: directions and significance come out right."""
import pytest

from dashboard.analysis import analyse
from dashboard.dataset import MOTOR, build_dataset
from tests.dashboard.cohort import SPASTIC, seed_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def result(study):
    seed_cohort(study)
    return analyse(build_dataset(study))


def section(result, key):
    return {c.name: c for c in next(s for s in result["sections"] if s.key == key).comparisons}


def test_the_dataset_has_one_row_per_patient_with_signs(study):
    seed_cohort(study)
    rows = build_dataset(study)
    assert len(rows) == 12 and rows["gap_days"].tolist() == [-2] * 12
    assert set(rows.loc[rows["spasticity"] == True, "code"]) == SPASTIC  # noqa: E712


def test_motor_cortex_is_higher_with_spasticity(result):
    motor = section(result, "spasticity")[MOTOR]
    assert [g["n"] for g in motor.groups] == [7, 5]
    # Complete separation of 7 vs 5: the exact two-sided p is 2 / C(12, 5).
    assert motor.p_method == "exact" and motor.p_value == pytest.approx(2 / 792)
    assert motor.effect["value"] == pytest.approx(1.0)
    assert motor.p_holm <= 6 * motor.p_value


def test_control_cortex_does_not_differ(result):
    control = section(result, "spasticity")["control (L+R mean)"]
    assert control.p_value > 0.05


def test_motor_exceeds_control_within_the_spastic_group(result):
    averaged = section(result, "paired")["motor vs control, both sides averaged"]
    assert averaged.groups[0]["n"] == 7
    # Seven positive differences: the smallest exact two-sided signed-rank p is 2 / 2^7.
    assert averaged.p_value == pytest.approx(2 / 128)
    assert averaged.effect["value"] == pytest.approx(1.0)


def test_pls_has_fewer_than_five_patients_and_says_so(result):
    motor = section(result, "diagnosis")[MOTOR]
    assert any("PLS" in w and "3" in w for w in motor.warnings)


def test_correlation_with_the_umn_score_is_positive(result):
    rho = next(c for c in next(s for s in result["sections"] if s.key == "correlation").comparisons
               if c.name == f"{MOTOR} vs Penn UMN score")
    assert rho.statistic > 0.5 and rho.p_value < 0.05
