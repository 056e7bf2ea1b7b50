"""The seed study's pooled-hemispheres test is shown, labelled as not independent and kept out of Holm."""
from __future__ import annotations

import math

import numpy as np
import pytest
from django.urls import reverse
from scipy import stats

from dashboard.analysis import POOLED_LABEL, analyse
from dashboard.dataset import baseline, build_dataset
from tests.dashboard.cohort import seed_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(study):
    seed_cohort(study)
    return study


def _paired(study):
    return next(s for s in analyse(build_dataset(study))["sections"] if s.key == "paired")


def test_it_matches_scipy_on_both_hemispheres_of_each_spastic_patient(cohort):
    section = _paired(cohort)
    pooled = section.comparisons[-1]
    assert pooled.name == f"motor vs control, hemispheres pooled: {POOLED_LABEL}"
    spastic = baseline(build_dataset(cohort)).query("spasticity == True")
    motor = np.concatenate([spastic["LMC"], spastic["RMC"]]).astype(float)
    control = np.concatenate([spastic["LCT"], spastic["RCT"]]).astype(float)
    expected = stats.wilcoxon(motor, control, method="exact")
    assert pooled.groups[2]["n"] == 14  # 7 spastic patients, two hemispheres each
    assert pooled.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert pooled.p_value < section.comparisons[2].p_value  # pooling doubles n: the smaller p the paper reports


def test_it_is_kept_out_of_holm(cohort):
    section = _paired(cohort)
    pooled, per_patient = section.comparisons[-1], section.comparisons[:-1]
    assert pooled.p_holm is None or math.isnan(pooled.p_holm)
    assert len(per_patient) == 3 and all(c.p_holm >= c.p_value for c in per_patient)
    # Holm over the three per-patient rows only: the smallest p times 3.
    assert min(c.p_holm for c in per_patient) == pytest.approx(min(1, 3 * min(c.p_value for c in per_patient)))


def test_the_dashboard_labels_and_explains_it(as_viewer, cohort):
    body = as_viewer.get(reverse("dashboard", args=[cohort.pk])).content.decode()
    assert "not independent (two hemispheres per patient), kept out of Holm" in body
    assert "each patient counts twice" in body
