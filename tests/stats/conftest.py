"""Independent brute-force references for the rank tests (no code from dashboard.stats)."""
from __future__ import annotations

import itertools

import numpy as np

REL_TOL = 1e-9  # "as extreme" comparisons on rank sums, robust to float noise


def two_sided(null: np.ndarray, observed: float) -> float:
    """scipy's two-sided convention: twice the smaller tail, capped at 1."""
    tol = REL_TOL * max(1.0, abs(observed))
    greater = np.mean(null >= observed - tol)
    less = np.mean(null <= observed + tol)
    return min(1.0, 2 * min(greater, less))


def u_by_counting(a: np.ndarray, b: np.ndarray) -> float:
    """U of a: pairs with a > b, ties counting one half."""
    diff = np.subtract.outer(a, b)
    return float(np.sum(diff > 0) + 0.5 * np.sum(diff == 0))


def brute_force_mann_whitney(a: np.ndarray, b: np.ndarray) -> float:
    """Exact two-sided p over every split of the pooled values into groups of the same sizes."""
    pooled = np.concatenate([a, b])
    idx = np.arange(pooled.size)
    null = []
    for chosen in itertools.combinations(idx, a.size):
        mask = np.zeros(pooled.size, bool)
        mask[list(chosen)] = True
        null.append(u_by_counting(pooled[mask], pooled[~mask]))
    return two_sided(np.array(null), u_by_counting(a, b))


def midranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), computed by counting rather than with scipy."""
    return np.array([np.sum(values < v) + (np.sum(values == v) + 1) / 2 for v in values])


def brute_force_signed_rank(d: np.ndarray) -> float:
    """Exact two-sided p over all 2^n sign flips; zeros dropped first (Wilcoxon's method)."""
    d = d[d != 0]
    ranks = midranks(np.abs(d))
    observed = ranks[d > 0].sum()
    null = [ranks[np.array(signs) > 0].sum() for signs in itertools.product((-1, 1), repeat=d.size)]
    return two_sided(np.array(null), observed)


def brute_force_correlation(x: np.ndarray, y: np.ndarray, statistic) -> float:
    """Exact two-sided p over all n! pairings of y with x."""
    null = [statistic(x, y[list(p)]) for p in itertools.permutations(range(y.size))]
    return two_sided(np.array(null), statistic(x, y))
