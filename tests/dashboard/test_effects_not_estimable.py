"""An effect or CI that the sample cannot give reads "not estimable with n = ...", never [-inf, inf]."""
from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from dashboard.stats import compare_groups
from dashboard.templatetags.dashboard_tags import estimate
from tests.dashboard.cohort import seed_cohort


def test_a_tiny_sample_has_no_hodges_lehmann_interval():
    comparison = compare_groups("LMC", np.array([40.0, 45.0, 50.0]), np.array([20.0, 25.0]))
    shift = comparison.effects[1]
    assert shift["name"].startswith("Hodges-Lehmann")
    assert np.isinf(shift["ci"]).all()  # what stats returns: the interval would need more patients
    assert estimate(shift, comparison) == "22.5 [CI not estimable with n = 3 and 2]"


def test_a_computable_interval_is_shown():
    rng = np.random.default_rng(0)
    comparison = compare_groups("LMC", rng.normal(45, 3, 12), rng.normal(28, 3, 12))
    text = estimate(comparison.effects[1], comparison)
    assert "not estimable" not in text and text.count(",") == 1


@pytest.mark.django_db
def test_the_dashboard_never_shows_infinite_bounds(as_viewer, study):
    seed_cohort(study)
    body = as_viewer.get(reverse("dashboard", args=[study.pk]), {"diagnosis": "PLS"}).content.decode()
    assert "[-inf" not in body and "inf]" not in body
    assert "not estimable with n = 3 and 0" in body
