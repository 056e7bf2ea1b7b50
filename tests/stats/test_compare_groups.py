"""Mann-Whitney U: p-values against scipy and brute force, effect sizes, edge cases."""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats

from dashboard.stats import compare_groups

from .conftest import brute_force_mann_whitney, u_by_counting


@pytest.mark.parametrize("sizes, seed", [((3, 9), 1), ((5, 7), 2), ((2, 3), 3), ((11, 12), 4)])
def test_without_ties_p_equals_scipy_exact(sizes, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.6, 1, sizes[0]), rng.normal(0, 1, sizes[1])
    res = compare_groups("roi", a, b)
    ref = stats.mannwhitneyu(a, b, method="exact")
    assert res.p_method == "exact"
    assert res.test == "Mann-Whitney U, exact"
    assert res.p_value == ref.pvalue
    assert res.statistic == ref.statistic


def test_complete_separation_3_vs_9_is_2_of_220_not_normal_approximation():
    a, b = [30.0, 32.0, 35.0], [5.0, 7.0, 8.0, 10.0, 11.0, 12.0, 14.0, 15.0, 18.0]
    res = compare_groups("motor cortex", a, b)
    assert res.p_value == pytest.approx(2 / math.comb(12, 3), rel=1e-12)
    assert res.p_value == pytest.approx(0.00909, abs=1e-5)
    asymptotic = stats.mannwhitneyu(a, b, method="asymptotic").pvalue
    assert asymptotic == pytest.approx(0.016, abs=0.001)
    assert "220" in res.why


@pytest.mark.parametrize("a, b", [
    # ordinal spasticity-like scores: many ties
    ([2, 3, 3], [0, 1, 1, 1, 2, 2, 0, 3, 1]),
    ([1, 1, 2, 4, 4], [0, 1, 1, 2, 2, 3, 0]),
    ([5.0, 5.0, 5.0, 6.0], [5.0, 5.0, 4.0, 4.0, 6.0]),
])
def test_with_ties_p_equals_brute_force_over_all_splits(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    res = compare_groups("roi", a, b)
    assert res.p_method == "exact permutation"
    assert "ties" in res.test
    assert res.p_value == pytest.approx(brute_force_mann_whitney(a, b), rel=1e-12)
    assert res.statistic == u_by_counting(a, b)


def test_ties_trap_scipy_exact_table_differs_from_the_permutation_p():
    # mannwhitneyu(method="exact") ignores ties; the honest p differs.
    a, b = np.array([2.0, 3, 3]), np.array([0.0, 1, 1, 1, 2, 2, 0, 3, 1])
    honest = brute_force_mann_whitney(a, b)
    assert compare_groups("roi", a, b).p_value == pytest.approx(honest, rel=1e-12)
    assert stats.mannwhitneyu(a, b, method="exact").pvalue != pytest.approx(honest, rel=1e-3)


def test_many_splits_with_ties_equals_scipy_permutation_test_same_rng():
    rng = np.random.default_rng(11)
    a, b = rng.integers(0, 5, 10).astype(float), rng.integers(1, 6, 12).astype(float)
    assert math.comb(22, 10) > 50_000  # too many to enumerate: Monte Carlo
    res = compare_groups("roi", a, b, rng=3)
    ref = stats.permutation_test(
        (a, b), lambda x, y, axis: stats.mannwhitneyu(x, y, axis=axis).statistic,
        n_resamples=9999, rng=3)
    assert res.p_method == "permutation"
    assert res.p_value == ref.pvalue
    assert "9,999" in res.why and "seed 3" in res.why
    assert compare_groups("roi", a, b, rng=3).p_value == res.p_value  # reproducible


def test_rank_biserial_and_hodges_lehmann_against_direct_formulas():
    rng = np.random.default_rng(5)
    a, b = rng.normal(1, 1, 6).round(1), rng.normal(0, 1, 8).round(1)
    res = compare_groups("roi", a, b)
    r, hl = res.effects
    u_b = stats.mannwhitneyu(b, a).statistic
    assert r["name"] == "rank-biserial r"
    assert r["value"] == pytest.approx(1 - 2 * u_b / (6 * 8))
    assert hl["value"] == pytest.approx(np.median([x - y for x in a for y in b]))
    assert r["ci"][0] <= r["value"] <= r["ci"][1]
    assert hl["ci"][0] <= hl["value"] <= hl["ci"][1]
    assert res.effect is res.effects[0]


def test_rank_biserial_sign_positive_when_first_group_larger():
    low, high = [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0, 9.0]
    assert compare_groups("roi", high, low).effects[0]["value"] == 1.0
    assert compare_groups("roi", low, high).effects[0]["value"] == -1.0
    lo, hi = compare_groups("roi", high, low).effects[0]["ci"]
    assert 0 < lo < 1 and hi == 1.0  # not degenerate at complete separation


def test_shift_ci_is_the_moses_interval_from_the_brute_force_u_distribution():
    rng = np.random.default_rng(8)
    a, b = rng.normal(0, 1, 5), rng.normal(0, 1, 6)
    positions = set(range(11))
    null = np.array([u_by_counting(np.array(split, float), np.array(sorted(positions - set(split)), float))
                     for split in itertools.combinations(range(11), 5)])
    alpha = 0.05
    # largest k with 2 P(U <= k-1) <= alpha
    k = max(k for k in range(0, 31) if 2 * np.mean(null <= k - 1) <= alpha)
    diffs = np.sort(np.subtract.outer(a, b).ravel())
    hl = compare_groups("roi", a, b).effects[1]
    assert hl["ci"] == [diffs[k - 1], diffs[diffs.size - k]]
    assert hl["ci_attained"] == pytest.approx(1 - 2 * np.mean(null <= k - 1))


def test_effect_cis_cover_the_truth_at_about_the_nominal_rate():
    rng = np.random.default_rng(2024)
    shift = 1.0
    r_true = 2 * stats.norm.cdf(shift / math.sqrt(2)) - 1  # 2 P(A > B) - 1 for normal shift
    hits_hl = hits_r = 0
    for _ in range(200):
        res = compare_groups("sim", rng.normal(shift, 1, 6), rng.normal(0, 1, 8))
        r, hl = res.effects
        hits_hl += hl["ci"][0] <= shift <= hl["ci"][1]
        hits_r += r["ci"][0] <= r_true <= r["ci"][1]
    assert 0.9 <= hits_hl / 200 <= 0.99
    assert 0.9 <= hits_r / 200 <= 0.995


def test_nans_are_dropped_and_reported():
    a, b = [3.0, np.nan, 4.0, 5.0], [1.0, 2.0, np.nan, 0.5]
    res = compare_groups("roi", a, b)
    clean = compare_groups("roi", [3.0, 4.0, 5.0], [1.0, 2.0, 0.5])
    assert res.p_value == clean.p_value
    assert [g["n"] for g in res.groups] == [3, 3]
    assert any("1 missing value(s) dropped from group 'with'" in w for w in res.warnings)


def test_group_summary_median_and_iqr():
    res = compare_groups("roi", [1.0, 2.0, 3.0, 4.0, 10.0], [0.0, 1.0])
    g = res.groups[0]
    assert g == {"label": "with", "n": 5, "median": 3.0, "iqr": [2.0, 4.0]}


def test_small_groups_warn_and_state_the_smallest_reachable_p():
    res = compare_groups("roi", [5.0, 6.0], [1.0, 2.0, 3.0], labels=("PLS", "ALS"))
    assert "group 'PLS' has 2 patients (<5): treat the p-value as exploratory" in res.warnings
    assert any("no exact test can reach p<0.05 (smallest two-sided p = 0.2)" in w for w in res.warnings)
    assert res.p_value == pytest.approx(0.2)
    assert math.isinf(res.effects[1]["ci"][0])  # no 95% distribution-free CI with 2 vs 3
    assert res.as_dict()["effects"][1]["ci"] == [None, None]


@pytest.mark.parametrize("a, b, reason", [
    ([1.0], [2.0, 3.0, 4.0], "group 'with' has 1 patient"),
    ([], [2.0, 3.0], "group 'with' has 0 patient"),
    ([np.nan, np.nan], [2.0, 3.0], "group 'with' has 0 patient"),
    ([2.0, 2.0, 2.0], [2.0, 2.0], "all values are equal"),
])
def test_untestable_inputs_give_nan_p_and_a_plain_warning(a, b, reason):
    res = compare_groups("roi", a, b)
    assert math.isnan(res.p_value)
    assert res.p_method == "none"
    assert any(reason in w for w in res.warnings)
    out = res.as_dict()
    assert out["p_value"] is None
    json.dumps(out, allow_nan=False)


def test_rank_biserial_ci_solves_newcombe_score_equation():
    # Each end theta of the CI for theta = (r+1)/2 satisfies |theta_hat - theta| = z sqrt(V(theta)),
    # V = Hanley-McNeil variance with m-1 and n-1 replaced by N*-1, N* = (m+n)/2 (Newcombe 2006).
    a, b = [4.0, 6.0, 7.0, 9.0, 3.0], [1.0, 2.0, 5.0, 0.5, 3.5, 2.5]
    m, n = 5, 6
    r = compare_groups("roi", a, b).effects[0]
    theta_hat = (r["value"] + 1) / 2
    assert theta_hat == pytest.approx(u_by_counting(np.array(a), np.array(b)) / (m * n))
    z, n_star = stats.norm.ppf(0.975), (m + n) / 2
    for end in r["ci"]:
        t = (end + 1) / 2
        var = t * (1 - t) / (m * n) * (1 + (n_star - 1) * ((1 - t) / (2 - t) + t / (1 + t)))
        assert abs(theta_hat - t) == pytest.approx(z * math.sqrt(var), rel=1e-6)
    assert r["ci"][0] < r["value"] < r["ci"][1]
