"""Large samples use the labelled normal (or t) approximation, equal to scipy's own."""
import numpy as np
import pytest
from scipy import stats

from dashboard.stats import LARGE_SAMPLE, compare_groups, compare_paired, correlate

RNG = np.random.default_rng(7)
A = np.round(RNG.normal(30, 8, 400), 1)  # rounded: ties, as exported ppb values have
B = np.round(RNG.normal(28, 8, 350), 1)


def test_mann_whitney_uses_the_tie_corrected_normal_approximation():
    res = compare_groups("large", A, B)
    assert res.p_method == "normal approximation" and "normal approximation" in res.test
    assert res.p_value == pytest.approx(stats.mannwhitneyu(A, B, method="asymptotic").pvalue, rel=1e-12)
    u = stats.mannwhitneyu(A, B).statistic
    assert res.statistic == u and res.effect["value"] == pytest.approx(2 * u / (A.size * B.size) - 1)
    assert np.isnan(res.effects[1]["value"]) and any("Hodges-Lehmann" in w for w in res.warnings)


def test_wilcoxon_uses_the_normal_approximation():
    d_x, d_y = A[:LARGE_SAMPLE + 50], A[:LARGE_SAMPLE + 50] - np.round(RNG.normal(1, 3, LARGE_SAMPLE + 50), 1)
    res = compare_paired("large", d_x, d_y)
    nonzero = (d_x - d_y)[(d_x - d_y) != 0]
    assert res.p_method == "normal approximation"
    assert res.p_value == pytest.approx(stats.wilcoxon(nonzero, method="approx").pvalue, rel=1e-12)


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_correlations_use_scipys_large_sample_p_values(method):
    x, y = A[:350], A[:350] + RNG.normal(0, 10, 350)
    res = correlate("large", x, y, method=method)
    reference = stats.spearmanr(x, y) if method == "spearman" else stats.kendalltau(x, y, method="asymptotic")
    assert res.p_method == "normal approximation"
    assert res.statistic == pytest.approx(reference.statistic) and res.p_value == pytest.approx(reference.pvalue)


def test_small_samples_never_use_the_approximation():
    res = compare_groups("small", A[:150], B[:150])
    assert res.p_method in ("exact", "exact permutation", "permutation")


def test_kendall_with_ties_switches_to_the_approximation_earlier():
    x = np.round(RNG.normal(30, 8, 80), 1)
    score = RNG.integers(0, 33, 80).astype(float)
    res = correlate("tied scores", x, score, method="kendall")
    assert res.p_method == "normal approximation"
    assert res.p_value == pytest.approx(stats.kendalltau(x, score, method="asymptotic").pvalue)
