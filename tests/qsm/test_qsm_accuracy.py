"""Accuracy on unseen phantoms (:mod:`qsm.family`, test tier): mean and worst case, never one seed.

Every case is a head the pipeline was not tuned on: varied anatomy with sulci,
shim and intravoxel dephasing from our simulator (SNR 40-100, B0 tilted 0-25
degrees, 1.5 mm and 1.5 x 1.5 x 2.5 mm), or our anatomy through qsm-forward's
forward model.

Two kinds of test:

* ``test_it_keeps_*``: regression guards a few points above what the current
  code measured on this tier (docs/qsm.md); they fail when accuracy drops.
* ``test_issue_13_target_*``: the issue's targets on the family mean.  Those
  not met yet are ``xfail`` with the measured figure in the reason, and turn
  into XPASS when a change meets them.

Minutes on two cores: marked ``slow`` (CI runs them).
"""

import functools

import numpy as np
import pytest

from bench.qsm_accuracy import evaluate
from qsm.family import cases
from qsm.inversion import DEFAULT

pytestmark = pytest.mark.slow
pytest.importorskip("qsm_forward")
pytest.importorskip("qsm_ci")


@functools.cache
def built():
    return tuple(spec.build() for spec in cases("test"))


@functools.cache
def rows(inversion, mask_source):
    return tuple(evaluate(built(), inversion, mask_source))


def figures(inversion, mask_source, key):
    values = np.array([row[key] for row in rows(inversion, mask_source)])
    return float(values.mean()), values


# --- regression guards ------------------------------------------------------------------------


def test_it_keeps_the_default_inversion_accurate_with_the_given_mask():
    mean, values = figures(DEFAULT, "given", "nrmse_pct")
    assert mean <= 54.0, f"mean NRMSE {mean:.1f} % (measured 49.6 %)"
    assert values.max() <= 80.0, f"worst NRMSE {values.max():.1f} % (measured 72.8 %)"


def test_it_keeps_the_motor_cortex_contrast_with_the_given_mask():
    mean, values = figures(DEFAULT, "given", "contrast_recovery")
    assert mean >= 0.75, f"mean contrast recovery {mean:.2f} (measured 0.83)"
    assert values.min() >= 0.55, f"lowest contrast recovery {values.min():.2f} (measured 0.67)"


def test_it_defines_the_local_field_on_the_whole_mask():
    _, shares = figures(DEFAULT, "given", "local_defined_share")
    assert shares.min() >= 0.97, f"local field defined on {shares.min():.3f} of a mask"


def test_it_keeps_the_local_field_error_down():
    mean, values = figures(DEFAULT, "given", "local_nrmse_pct")
    assert mean <= 46.0, f"mean local-field NRMSE {mean:.1f} % (measured 41.4 %)"
    assert values.max() <= 76.0, f"worst local-field NRMSE {values.max():.1f} % (measured 70.4 %)"


def test_it_keeps_iswim_accurate_with_the_given_mask():
    mean, values = figures("iswim", "given", "nrmse_pct")
    assert mean <= 66.0, f"mean NRMSE {mean:.1f} % (measured 61.5 %)"
    assert values.max() <= 84.0, f"worst NRMSE {values.max():.1f} % (measured 78.7 %)"


def test_it_keeps_the_default_inversion_accurate_with_the_derived_mask():
    mean, values = figures(DEFAULT, "derived", "nrmse_pct")
    assert mean <= 67.0, f"mean NRMSE {mean:.1f} % (measured 62.1 %)"
    assert values.max() <= 90.0, f"worst NRMSE {values.max():.1f} % (measured 84.5 %)"


# --- the issue's targets ----------------------------------------------------------------------


def not_met(measured):
    return pytest.mark.xfail(reason=f"issue 13 target not met yet: measured {measured}", strict=False)


@not_met("49.6 % mean; 41.9 % on our simulator, 72.9 % on qsm-forward")
def test_issue_13_target_default_inversion_nrmse():
    assert figures(DEFAULT, "given", "nrmse_pct")[0] <= 45.0


@not_met("0.83 mean, 0.67-0.98")
def test_issue_13_target_default_inversion_contrast_recovery():
    assert 0.85 <= figures(DEFAULT, "given", "contrast_recovery")[0] <= 1.15


@not_met("61.5 % mean")
def test_issue_13_target_iswim_nrmse():
    assert figures("iswim", "given", "nrmse_pct")[0] <= 55.0


@not_met("62.1 % mean")
def test_issue_13_target_derived_mask_nrmse():
    assert figures(DEFAULT, "derived", "nrmse_pct")[0] <= 50.0


@not_met("41.4 % mean")
def test_issue_13_target_local_field_nrmse():
    assert figures(DEFAULT, "given", "local_nrmse_pct")[0] <= 35.0
