"""Spearman and Kendall: statistics vs scipy, permutation p vs brute force over n! pairings."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from dashboard.stats import correlate

from .conftest import brute_force_correlation


def spearman(x, y) -> float:
    return stats.spearmanr(x, y).statistic


def kendall_b(x, y) -> float:
    return stats.kendalltau(x, y, variant="b").statistic


DATA = {
    "untied": ([1.2, 3.4, 2.2, 5.0, 4.1, 6.3, 5.5], [2.0, 2.9, 1.0, 4.4, 5.1, 6.0, 3.3]),
    "tied": ([1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0], [0.0, 1.0, 1.0, 1.0, 2.0, 3.0, 3.0]),
    "small": ([3.0, 1.0, 2.0, 5.0, 4.0], [2.0, 1.0, 2.0, 4.0, 4.0]),
}


@pytest.mark.parametrize("key", DATA)
def test_spearman_statistic_and_exact_permutation_p(key):
    x, y = (np.asarray(v) for v in DATA[key])
    res = correlate("roi vs score", x, y, method="spearman")
    assert res.statistic == pytest.approx(spearman(x, y), rel=1e-12)
    assert res.effects[0]["value"] == res.statistic
    assert res.p_method == "exact permutation"
    assert res.p_value == pytest.approx(brute_force_correlation(x, y, spearman), rel=1e-12)


@pytest.mark.parametrize("key", DATA)
def test_kendall_tau_b_statistic_and_exact_p(key):
    x, y = (np.asarray(v) for v in DATA[key])
    res = correlate("roi vs score", x, y, method="kendall")
    assert res.statistic == pytest.approx(kendall_b(x, y), rel=1e-12)
    assert res.p_value == pytest.approx(brute_force_correlation(x, y, kendall_b), rel=1e-12)
    assert res.p_method == ("exact" if key == "untied" else "exact permutation")


def test_kendall_without_ties_uses_scipy_exact():
    rng = np.random.default_rng(4)
    x = rng.normal(size=15)
    y = x + rng.normal(size=15)
    res = correlate("roi vs score", x, y, method="kendall")
    assert res.p_value == stats.kendalltau(x, y, method="exact").pvalue
    assert res.p_method == "exact"


def spearman_vectorised(x):
    def rho(yp, axis):  # Spearman = Pearson on midranks, ranking each permutation afresh
        return stats.pearsonr(stats.rankdata(x), stats.rankdata(yp, axis=axis), axis=axis).statistic
    return rho


def kendall_b_loop(x):
    return lambda yp: kendall_b(x, yp)


@pytest.mark.parametrize("method, make_statistic", [("spearman", spearman_vectorised),
                                                     ("kendall", kendall_b_loop)])
def test_n12_with_ties_equals_scipy_permutation_test_same_rng(method, make_statistic):
    rng = np.random.default_rng(6)
    x = rng.integers(0, 6, 12).astype(float)  # ordinal score, tied
    y = 150 + 10 * x + rng.normal(0, 15, 12).round()
    ref = stats.permutation_test((y,), make_statistic(x), permutation_type="pairings",
                                 n_resamples=9999, rng=1)
    res = correlate("roi vs score", x, y, method=method, rng=1)
    assert res.p_method == "permutation"
    assert res.p_value == ref.pvalue


def test_n12_spearman_critical_rho_is_about_0_58():
    # Two-sided 5% critical |rho| for n=12 is about 0.58: check on the permutation null.
    rng = np.random.default_rng(0)
    ranks = np.arange(1.0, 13.0)
    shuffled = rng.permuted(np.tile(ranks, (20000, 1)), axis=1)
    null = 1 - 6 * np.sum((shuffled - ranks) ** 2, axis=1) / (12 * (12**2 - 1))  # no ties
    assert np.quantile(np.abs(null), 0.95) == pytest.approx(0.58, abs=0.02)
    above = ranks.copy()
    above[:7] = above[:7][::-1]  # sum d^2 = 112, rho = 1 - 6*112/1716 = 0.608
    below = above.copy()
    below[[8, 9, 10, 11]] = below[[10, 11, 8, 9]]  # sum d^2 = 128, rho = 0.552
    assert spearman(ranks, below) < 0.58 < spearman(ranks, above)
    assert correlate("c", ranks, below).p_value > 0.05
    assert correlate("c", ranks, above).p_value < 0.05


@pytest.mark.parametrize("method, se", [
    ("spearman", lambda r, n: math.sqrt((1 + r**2 / 2) / (n - 3))),
    ("kendall", lambda r, n: math.sqrt(0.437 / (n - 4))),
])
def test_fisher_z_ci_with_bonett_wright_standard_errors(method, se):
    x, y = (np.asarray(v) for v in DATA["untied"])
    res = correlate("roi vs score", x, y, method=method)
    r, n = res.statistic, x.size
    z = stats.norm.ppf(0.975)
    expected = [math.tanh(math.atanh(r) - z * se(r, n)), math.tanh(math.atanh(r) + z * se(r, n))]
    assert res.effects[0]["ci"] == pytest.approx(expected)
    assert res.groups == [{"label": "pairs", "n": 7}]


def test_three_pairs_warn_that_p_below_005_is_unreachable():
    res = correlate("c", [1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    assert any("smallest two-sided p = 0.333" in w for w in res.warnings)
    assert "the correlation has 3 pairs (<5): treat the p-value as exploratory" in res.warnings
    assert all(math.isnan(c) for c in res.effects[0]["ci"])  # Fisher z needs n >= 4


def test_perfect_agreement_reports_no_ci_rather_than_a_zero_width_one():
    res = correlate("c", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2.0, 4.0, 5.0, 7.0, 9.0, 10.0])
    assert res.statistic == pytest.approx(1.0)
    assert res.p_value == pytest.approx(2 / math.factorial(6))
    assert res.as_dict()["effects"][0]["ci"] == [None, None]


@pytest.mark.parametrize("x, y, reason", [
    ([1.0, 2.0], [3.0, 1.0], "only 2 complete pair"),
    ([1.0, np.nan, 2.0, 3.0], [1.0, 2.0, np.nan, 3.0], "only 2 complete pair"),
    ([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0], "all values of the first variable are equal"),
    ([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], "all values of the second variable are equal"),
])
@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_untestable_inputs_give_nan_p_and_a_plain_warning(x, y, reason, method):
    res = correlate("c", x, y, method=method)
    assert math.isnan(res.p_value)
    assert any(reason in w for w in res.warnings)
    json.dumps(res.as_dict(), allow_nan=False)


def test_unknown_method_is_a_programming_error():
    with pytest.raises(ValueError):
        correlate("c", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], method="pearson")
