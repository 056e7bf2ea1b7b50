"""Wilcoxon signed-rank: p-values against scipy and brute-force sign flips, effects, edge cases."""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats

from dashboard.stats import compare_paired

from .conftest import brute_force_signed_rank, midranks


@pytest.mark.parametrize("n, seed", [(5, 1), (8, 2), (12, 3), (20, 4)])
def test_without_ties_p_equals_scipy_exact(n, seed):
    rng = np.random.default_rng(seed)
    motor, control = rng.normal(0.5, 1, n), rng.normal(0, 1, n)
    res = compare_paired("motor vs control", motor, control)
    d = motor - control
    assert res.p_method == "exact"
    assert res.p_value == stats.wilcoxon(d, method="exact").pvalue
    # statistic is T+, the sum of ranks of positive differences
    assert res.statistic == stats.wilcoxon(d, alternative="greater", method="exact").statistic


def test_eight_pairs_all_positive_give_2_of_256():
    motor = np.array([160.0, 151.0, 149.0, 170.0, 140.0, 155.0, 162.0, 158.0])
    control = motor - np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    res = compare_paired("motor vs control", motor, control)
    assert res.p_value == pytest.approx(2 / 2**8, rel=1e-12)
    assert res.p_value == pytest.approx(0.0078, abs=1e-4)
    assert not any("no exact test" in w for w in res.warnings)


@pytest.mark.parametrize("d", [
    [1.0, 2.0, 2.0, -1.0, 3.0, 3.0, 3.0, 4.0],      # tied |d|, including across signs
    [0.0, 0.0, 2.0, -2.0, 5.0, 1.0, 1.0, 6.0, 7.0],  # zeros and ties
    [0.0, 1.0, 2.0, 3.0, -4.0, 5.0, 6.0],           # zero only: nonzero part untied
])
def test_with_ties_or_zeros_p_equals_brute_force_over_all_sign_flips(d):
    d = np.asarray(d)
    res = compare_paired("roi", d + 100, np.full(d.size, 100.0))
    assert res.p_value == pytest.approx(brute_force_signed_rank(d), rel=1e-12)
    nonzero = d[d != 0]
    assert res.statistic == midranks(np.abs(nonzero))[nonzero > 0].sum()


def test_zeros_are_dropped_like_scipy_zero_method_wilcox():
    d = np.array([0.0, 0.0, 1.5, 2.5, -0.5, 3.5, 4.5, 5.5])  # nonzero |d| untied
    res = compare_paired("roi", d, np.zeros(d.size))
    assert res.p_method == "exact"
    assert res.p_value == stats.wilcoxon(d, zero_method="wilcox", method="exact").pvalue
    assert any("2 pair(s) with zero difference left out" in w for w in res.warnings)


def test_many_sign_patterns_with_ties_equals_scipy_permutation_test_same_rng():
    rng = np.random.default_rng(12)
    d = rng.integers(1, 6, 18) * rng.choice([-1.0, 1.0], 18, p=[0.3, 0.7])

    def t_plus(diff, axis):
        return np.sum(np.where(diff > 0, stats.rankdata(np.abs(diff), axis=axis), 0), axis=axis)

    ref = stats.permutation_test((d,), t_plus, permutation_type="samples", n_resamples=9999, rng=7)
    res = compare_paired("roi", d, np.zeros(d.size), rng=7)
    assert res.p_method == "permutation"
    assert res.p_value == ref.pvalue


def test_rank_biserial_and_pseudo_median_against_direct_formulas():
    d = np.array([3.0, -1.0, 4.0, 1.5, 5.0, -2.0, 6.0, 2.5, 0.0])
    res = compare_paired("roi", d, np.zeros(d.size))
    r, hl = res.effects
    nonzero = d[d != 0]  # the zero is left out of r, kept in the pseudo-median
    ranks = midranks(np.abs(nonzero))
    t_plus, t_minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
    assert r["value"] == pytest.approx((t_plus - t_minus) / (t_plus + t_minus))
    walsh = [(d[i] + d[j]) / 2 for i, j in itertools.combinations_with_replacement(range(d.size), 2)]
    assert hl["value"] == pytest.approx(np.median(walsh))
    se = math.sqrt(nonzero.size * (nonzero.size + 1) * (2 * nonzero.size + 1) / 6) / ranks.sum()
    z = stats.norm.ppf(0.975)
    assert r["ci"] == pytest.approx([math.tanh(math.atanh(r["value"]) - z * se),
                                     math.tanh(math.atanh(r["value"]) + z * se)])


def test_pseudo_median_ci_matches_brute_force_signed_rank_distribution():
    rng = np.random.default_rng(9)
    d = rng.normal(0.3, 1, 9)
    null = np.array([sum(i + 1 for i, s in enumerate(signs) if s > 0)
                     for signs in itertools.product((-1, 1), repeat=9)])
    k = max(k for k in range(0, 46) if 2 * np.mean(null <= k - 1) <= 0.05)
    walsh = np.sort([(d[i] + d[j]) / 2 for i, j in itertools.combinations_with_replacement(range(9), 2)])
    hl = compare_paired("roi", d, np.zeros(9)).effects[1]
    assert hl["ci"] == [walsh[k - 1], walsh[walsh.size - k]]
    assert hl["ci_attained"] == pytest.approx(1 - 2 * np.mean(null <= k - 1))


def test_pseudo_median_ci_covers_the_truth_at_about_the_nominal_rate():
    rng = np.random.default_rng(31)
    hits = 0
    for _ in range(200):
        hl = compare_paired("sim", rng.normal(0.5, 1, 10), np.zeros(10)).effects[1]
        hits += hl["ci"][0] <= 0.5 <= hl["ci"][1]
    assert 0.9 <= hits / 200 <= 0.99


def test_all_same_sign_reports_no_rank_biserial_ci_instead_of_a_fake_one():
    res = compare_paired("roi", [5.0, 6.0, 7.0, 8.0, 9.0, 10.0], [1.0] * 6)
    r = res.effects[0]
    assert r["value"] == 1.0
    assert all(math.isnan(c) for c in r["ci"])
    assert any("same sign" in w for w in res.warnings)


def test_four_pairs_cannot_reach_significance_and_say_so():
    res = compare_paired("roi", [2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 1.0, 1.0])
    assert res.p_value == pytest.approx(0.125)
    assert any("no exact test can reach p<0.05 (smallest two-sided p = 0.125)" in w for w in res.warnings)
    assert "the paired comparison has 4 pairs (<5): treat the p-value as exploratory" in res.warnings


def test_pairs_with_a_nan_are_dropped():
    res = compare_paired("roi", [5.0, np.nan, 7.0, 8.0, 2.0, 9.0], [1.0, 2.0, np.nan, 3.0, 1.5, 4.0])
    clean = compare_paired("roi", [5.0, 8.0, 2.0, 9.0], [1.0, 3.0, 1.5, 4.0])
    assert res.p_value == clean.p_value
    assert [g["n"] for g in res.groups] == [4, 4, 4]
    assert res.groups[2]["label"] == "motor - control"
    assert "2 pair(s) with a missing value dropped" in res.warnings


@pytest.mark.parametrize("x, y, reason", [
    ([1.0], [0.0], "only 1 complete pair"),
    ([], [], "only 0 complete pair"),
    ([3.0, 4.0, 5.0], [3.0, 4.0, 5.0], "all differences are zero"),
])
def test_untestable_inputs_give_nan_p_and_a_plain_warning(x, y, reason):
    res = compare_paired("roi", x, y)
    assert math.isnan(res.p_value)
    assert any(reason in w for w in res.warnings)
    json.dumps(res.as_dict(), allow_nan=False)


def test_unequal_lengths_are_a_programming_error():
    with pytest.raises(ValueError):
        compare_paired("roi", [1.0, 2.0], [1.0])
