"""Rank-based statistics for small QSM cohorts, honest about what tiny samples allow.

Every function returns a :class:`Comparison` that names the test, says why that
p-value method was used, reports the exact (or permutation) p-value, effect
sizes with 95% confidence intervals and plain-language warnings.

Choice of p-value method
------------------------
* No ties: the exact null distribution (``mannwhitneyu``/``wilcoxon`` with
  ``method="exact"``, ``kendalltau`` with ``method="exact"``).
* Ties (common with ordinal scores, and with ppb values rounded for export):
  the exact tables are wrong, so a permutation test on the ranks
  (``scipy.stats.permutation_test``). It enumerates every rearrangement when
  there are at most ``MAX_ENUMERATION`` of them (an exact p-value given the
  ties), otherwise it draws ``N_RESAMPLES`` random ones from the seeded ``rng``.
* Spearman: always a permutation test, because scipy's t-based p-value is
  accurate only for large n.
* Large samples (more than ``LARGE_SAMPLE`` patients or pairs): the tie-corrected
  normal approximation (Spearman: the t approximation), named as such in the
  test and its reason; the Hodges-Lehmann estimates, which need every pairwise
  difference, are then left out with a warning.

Two-sided p-values follow scipy's convention: twice the smaller one-sided
p-value, capped at 1.

Hemispheres: pass one value per patient (for example the mean of both
hemispheres), or test each side separately and correct with :func:`holm`.
Pooling hemispheres as if they were independent patients doubles n with
dependent data and gives p-values that are too small.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

__all__ = ["Comparison", "compare_groups", "compare_paired", "correlate", "holm"]

CI_LEVEL = 0.95
SIGNIFICANCE = 0.05
SMALL_GROUP = 5
N_RESAMPLES = 9999
# Enumerating ~50,000 rearrangements takes about a second in scipy; above that
# a seeded Monte Carlo sample of N_RESAMPLES is precise enough (SE < 0.005).
MAX_ENUMERATION = 50_000

# Above this many patients (or pairs) exact and permutation p-values cost seconds and add nothing:
# the tie-corrected normal approximation is used instead, and labelled as such.
LARGE_SAMPLE = 300
# Kendall's permutation statistic costs O(n^2) per rearrangement; beyond this many pairs its
# tie-corrected normal approximation (accurate from n of about 30) is used instead.
KENDALL_PERMUTATION_MAX = 60

P_EXACT = "exact"
P_EXACT_PERMUTATION = "exact permutation"
P_PERMUTATION = "permutation"
P_ASYMPTOTIC = "normal approximation"
P_NONE = "none"

RngLike = int | np.random.Generator | None


@dataclass(frozen=True)
class Comparison:
    """Result of one statistical comparison, ready for the dashboard.

    Attributes
    ----------
    name : str
        What was compared, e.g. ``"motor cortex, left"``.
    test : str
        Test and p-value method, e.g. ``"Mann-Whitney U, exact"``.
    why : str
        One sentence on why this test and p-value method were used.
    groups : list of dict
        ``{"label", "n", "median", "iqr": [q1, q3]}`` per group (for
        correlations only ``{"label": "pairs", "n"}``).
    statistic : float
        U of the first group, T+ (sum of ranks of positive differences),
        Spearman rho or Kendall tau-b; NaN when not computed.
    p_value : float
        Two-sided p-value; NaN when the test cannot be run.
    p_method : str
        ``"exact"`` (exact null distribution, no ties), ``"exact permutation"``
        (every rearrangement enumerated, exact given the ties),
        ``"permutation"`` (seeded Monte Carlo permutations) or ``"none"``.
    effects : list of dict
        ``{"name", "value", "ci": [lo, hi], "ci_level"}``; the first one is
        the primary effect size. NaN where not estimable.
    p_holm : float or None
        Holm-adjusted p-value, filled in by :func:`holm`.
    warnings : list of str
        Plain-language caveats.
    """

    name: str
    test: str
    why: str
    groups: list[dict[str, Any]]
    statistic: float
    p_value: float
    p_method: str
    effects: list[dict[str, Any]] = field(default_factory=list)
    p_holm: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def effect(self) -> dict[str, Any] | None:
        """The primary effect size (the first of ``effects``)."""
        return self.effects[0] if self.effects else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict; NaN and infinities become None."""
        out = _plain(asdict(self))
        out["effect"] = _plain(self.effect)
        return out


def _plain(value: Any) -> Any:
    """Convert numpy scalars and containers to JSON types, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------- helpers


def _finite(values: ArrayLike) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    return v[np.isfinite(v)]


def _describe(label: str, values: np.ndarray) -> dict[str, Any]:
    if values.size == 0:
        return {"label": label, "n": 0, "median": math.nan, "iqr": [math.nan, math.nan]}
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return {"label": label, "n": int(values.size), "median": float(med),
            "iqr": [float(q1), float(q3)]}


def _has_ties(values: np.ndarray) -> bool:
    return np.unique(values).size < values.size


def _small_warning(what: str, n: int, unit: str = "patients") -> list[str]:
    if n >= SMALL_GROUP:
        return []
    unit = unit if n != 1 else unit.removesuffix("s")
    return [f"{what} has {n} {unit} (<{SMALL_GROUP}): treat the p-value as exploratory"]


def _reach_warning(setting: str, min_p: float) -> list[str]:
    if min_p <= SIGNIFICANCE:
        return []
    return [f"with {setting} no exact test can reach p<{SIGNIFICANCE:g} "
            f"(smallest two-sided p = {min_p:.3g})"]


def _nan_effect(name: str) -> dict[str, Any]:
    return {"name": name, "value": math.nan, "ci": [math.nan, math.nan], "ci_level": CI_LEVEL}


def _not_testable(name: str, test: str, groups: list[dict[str, Any]], effect_names: Sequence[str],
                  warnings: list[str], reason: str) -> Comparison:
    return Comparison(name=name, test=f"{test}, not computed", why=reason[0].upper() + reason[1:] + ".",
                      groups=groups, statistic=math.nan, p_value=math.nan, p_method=P_NONE,
                      effects=[_nan_effect(e) for e in effect_names],
                      warnings=[*warnings, f"no p-value: {reason}"])


def _permutation_p(data: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray],
                   permutation_type: Literal["independent", "samples", "pairings"],
                   n_distinct: int, rng: RngLike) -> tuple[float, str]:
    """Two-sided permutation p-value; exact enumeration when there are few rearrangements.

    scipy enumerates every distinct rearrangement when ``n_resamples`` is at
    least their number, so ``np.inf`` requests the exact test.
    """
    exact = n_distinct <= MAX_ENUMERATION
    res = stats.permutation_test(data, statistic, permutation_type=permutation_type,
                                 vectorized=True, n_resamples=np.inf if exact else N_RESAMPLES,
                                 batch=1000, alternative="two-sided", rng=rng)
    return float(res.pvalue), P_EXACT_PERMUTATION if exact else P_PERMUTATION


def _count(n: int) -> str:
    if n < 10**9:
        return f"{n:,}"
    return f"about 10^{len(str(n)) - 1}"  # too large for a float


def _asymptotic_why(what: str, size: int, limit: int = LARGE_SAMPLE) -> str:
    return (f"With {size} {what} (more than {limit}) the tie-corrected normal approximation is accurate; "
            f"exact and permutation p-values are used for smaller samples.")


def _large_sample_effect(name: str) -> tuple[dict[str, Any], str]:
    return _nan_effect(name), (f"{name} not computed above {LARGE_SAMPLE} patients (it needs every pairwise "
                               f"difference); see the rank-biserial r")


def _permutation_why(reason: str, unit: str, n_distinct: int, method: str, rng: RngLike) -> str:
    if method == P_EXACT_PERMUTATION:
        return f"{reason}, so the p-value comes from all {_count(n_distinct)} {unit} (exact)."
    if isinstance(rng, int):
        seed = f"seed {rng}"
    else:
        seed = "unseeded, not reproducible" if rng is None else "the supplied generator"
    return (f"{reason}, so the p-value comes from {N_RESAMPLES:,} random {unit} "
            f"of the {_count(n_distinct)} possible ({seed}).")


# ------------------------------------------------ exact null distributions


def _mann_whitney_counts(m: int, n: int) -> np.ndarray:
    """Number of the C(m+n, m) splits giving U = 0, 1, ..., mn (no ties).

    These are the coefficients of the Gaussian binomial
    prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i), computed as a truncated power
    series with exact Python integers (object arrays) so tail counts stay exact.
    """
    counts = np.zeros(m * n + 1, dtype=object)
    counts[0] = 1
    for i in range(1, m + 1):
        if n + i <= m * n:
            counts[n + i:] = counts[n + i:] - counts[:m * n + 1 - (n + i)]
        for r in range(i):  # dividing by (1 - q^i) is a cumulative sum with stride i
            counts[r::i] = np.cumsum(counts[r::i])
    return counts


def _signed_rank_counts(n: int) -> np.ndarray:
    """Number of the 2^n sign patterns giving T+ = 0, 1, ..., n(n+1)/2 (no ties)."""
    top = n * (n + 1) // 2
    counts = np.zeros(top + 1, dtype=object)
    counts[0] = 1
    for i in range(1, n + 1):  # multiply by (1 + q^i)
        counts[i:] = counts[i:] + counts[:top + 1 - i]
    return counts


def _order_statistic_ci(sorted_values: np.ndarray, counts: np.ndarray) -> tuple[list[float], float]:
    """Distribution-free CI [v_(k), v_(N+1-k)] from inverting a rank test.

    ``counts`` is the exact null distribution of the rank statistic (U or T+),
    whose range 0..N matches the N sorted pairwise differences or Walsh
    averages. k is the largest integer with 2 P(stat <= k-1) <= 1 - level,
    so the attained coverage 1 - 2 P(stat <= k-1) is at least the level.

    Returns
    -------
    ci : list of float
        [lo, hi]; [-inf, inf] when even k = 1 does not reach the level.
    attained : float
        The exact coverage of the interval (without ties).
    """
    alpha = Fraction(1 - CI_LEVEL).limit_denominator(1000)
    total = int(sum(counts))
    cumulative = np.cumsum(counts)
    k = int(sum(1 for c in cumulative if 2 * c * alpha.denominator <= alpha.numerator * total))
    if k == 0:
        return [-math.inf, math.inf], 1.0
    attained = 1 - 2 * int(cumulative[k - 1]) / total
    n_values = sorted_values.size
    return [float(sorted_values[k - 1]), float(sorted_values[n_values - k])], attained


# ------------------------------------------------------------- CIs for r


def _z_crit() -> float:
    return float(stats.norm.ppf(0.5 + CI_LEVEL / 2))


def _fisher_ci(r: float, se: float) -> list[float]:
    """Fisher-z interval tanh(atanh(r) +- z se); undefined at |r| = 1."""
    if not math.isfinite(se) or not abs(r) < 1:
        return [math.nan, math.nan]
    z = math.atanh(r)
    half = _z_crit() * se
    return [math.tanh(z - half), math.tanh(z + half)]


def _mann_whitney_theta_ci(theta: float, m: int, n: int) -> list[float]:
    """Score-type CI for theta = P(A > B) + P(A = B)/2 (Newcombe 2006).

    Uses the Hanley-McNeil variance with both m-1 and n-1 replaced by N*-1,
    N* = (m+n)/2, evaluated at the candidate theta (like a Wilson interval),
    so the interval stays inside [0, 1] and is not degenerate at 0 or 1.
    """
    z = _z_crit()
    n_star = (m + n) / 2

    def score(t: float) -> float:
        var = t * (1 - t) / (m * n) * (1 + (n_star - 1) * ((1 - t) / (2 - t) + t / (1 + t)))
        return (theta - t) / math.sqrt(var)

    eps = 1e-12
    lo = 0.0 if theta <= 0 else optimize.brentq(lambda t: score(t) - z, eps, 1 - eps)
    hi = 1.0 if theta >= 1 else optimize.brentq(lambda t: score(t) + z, eps, 1 - eps)
    return [lo, hi]


def _effect(name: str, value: float, ci: list[float], **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": float(value), "ci": [float(c) for c in ci],
            "ci_level": CI_LEVEL, **extra}


# ------------------------------------------------------------ two groups


def _u_from_ranks(ranks_a: np.ndarray, ranks_b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mann-Whitney U of the first sample from pooled ranks (vectorised)."""
    m = ranks_a.shape[axis]
    return np.sum(ranks_a, axis=axis) - m * (m + 1) / 2


def compare_groups(name: str, a: ArrayLike, b: ArrayLike,
                   labels: tuple[str, str] = ("with", "without"), rng: RngLike = 0) -> Comparison:
    """Two-sided Mann-Whitney U test of two independent groups.

    Parameters
    ----------
    name : str
        What is compared (shown on the dashboard).
    a, b : array_like
        Values of the two groups (e.g. susceptibility in ppb); NaNs are dropped.
    labels : tuple of str
        Group labels, in the order of ``a`` and ``b``.
    rng : int or numpy.random.Generator or None
        Seed for the Monte Carlo permutation test (used only with ties and
        more than ``MAX_ENUMERATION`` possible splits).

    Returns
    -------
    Comparison
        ``statistic`` is U of group ``a`` (pairs with a > b, ties counting
        one half). Effects: the rank-biserial correlation
        r = 2U/(n_a n_b) - 1 = 1 - 2U_b/(n_a n_b), positive when group ``a``
        tends to be larger, with a score-type CI (Newcombe 2006); and the
        Hodges-Lehmann shift (median of all differences a_i - b_j) with the
        distribution-free Moses/Bauer CI, whose attained coverage is given in
        ``ci_attained`` (it is exact without ties, approximate with them).

    References
    ----------
    Mann HB, Whitney DR (1947). Ann Math Stat 18:50-60.
    Hodges JL, Lehmann EL (1963). Ann Math Stat 34:598-611.
    Bauer DF (1972). J Am Stat Assoc 67:687-690.
    Kerby DS (2014). Compr Psychol 3:11.IT.3.1.
    Newcombe RG (2006). Stat Med 25:559-573.
    """
    test = "Mann-Whitney U"
    effect_names = ("rank-biserial r", "Hodges-Lehmann shift (ppb)")
    raw = [np.asarray(v, dtype=float).ravel() for v in (a, b)]
    x, y = (_finite(v) for v in raw)
    groups = [_describe(labels[0], x), _describe(labels[1], y)]
    warnings = [f"{r.size - v.size} missing value(s) dropped from group '{lab}'"
                for r, v, lab in zip(raw, (x, y), labels) if r.size > v.size]
    for lab, v in zip(labels, (x, y)):
        warnings += _small_warning(f"group '{lab}'", v.size)
    m, n = x.size, y.size
    for lab, size in zip(labels, (m, n)):
        if size < 2:
            return _not_testable(name, test, groups, effect_names, warnings,
                                 f"group '{lab}' has {size} patient(s) and a rank test needs at least 2 per group")
    pooled = np.concatenate([x, y])
    if np.ptp(pooled) == 0:
        return _not_testable(name, test, groups, effect_names, warnings,
                             "all values are equal, so there is no ordering to test")
    n_splits = math.comb(m + n, m)
    warnings += _reach_warning(f"{m} vs {n} patients", min(1.0, 2 / n_splits))

    ranks = stats.rankdata(pooled)
    u = float(_u_from_ranks(ranks[:m], ranks[m:]))
    theta = u / (m * n)
    rank_biserial = _effect(effect_names[0], 2 * theta - 1, [2 * c - 1 for c in _mann_whitney_theta_ci(theta, m, n)])
    if m + n > LARGE_SAMPLE:
        shift, note = _large_sample_effect(effect_names[1])
        return Comparison(name=name, test=f"{test}, normal approximation (large groups)",
                          why=_asymptotic_why("patients", m + n), groups=groups, statistic=u,
                          p_value=float(stats.mannwhitneyu(x, y, method="asymptotic").pvalue),
                          p_method=P_ASYMPTOTIC, effects=[rank_biserial, shift], warnings=[*warnings, note])
    if _has_ties(pooled):
        p, p_method = _permutation_p((ranks[:m], ranks[m:]), _u_from_ranks, "independent", n_splits, rng)
        test += ", exact permutation (ties)" if p_method == P_EXACT_PERMUTATION else ", permutation (ties)"
        why = _permutation_why("Tied values make the exact tables invalid",
                               "splits of the patients", n_splits, p_method, rng)
    else:
        p = float(stats.mannwhitneyu(x, y, method="exact").pvalue)
        p_method = P_EXACT
        test += ", exact"
        why = (f"No tied values, so the p-value is exact: the share of all {_count(n_splits)} equally "
               f"likely splits of the patients with a U at least as extreme.")

    diffs = np.sort(np.subtract.outer(x, y).ravel())
    shift_ci, attained = _order_statistic_ci(diffs, _mann_whitney_counts(m, n))
    if not math.isfinite(shift_ci[0]):
        warnings.append(f"with {m} vs {n} patients no distribution-free {CI_LEVEL:.0%} CI "
                        f"for the shift exists (it would be unbounded)")
    effects = [rank_biserial, _effect(effect_names[1], float(np.median(diffs)), shift_ci, ci_attained=attained)]
    return Comparison(name=name, test=test, why=why, groups=groups, statistic=u, p_value=p,
                      p_method=p_method, effects=effects, warnings=warnings)


# ---------------------------------------------------------------- paired


def _complete_pairs(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Paired values with every pair holding a NaN dropped, and a warning saying how many."""
    xa = np.asarray(x, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if xa.size != ya.size:
        raise ValueError(f"paired data need equal lengths, got {xa.size} and {ya.size}")
    keep = np.isfinite(xa) & np.isfinite(ya)
    warnings = [f"{int((~keep).sum())} pair(s) with a missing value dropped"] if not keep.all() else []
    return xa[keep], ya[keep], warnings


def _matched_pairs_r(t_plus: float, ranks: np.ndarray, warnings: list[str]) -> tuple[float, list[float]]:
    """Matched-pairs rank-biserial r = (T+ - T-)/(T+ + T-) with a Fisher-z CI (null SE); warns at r = +-1."""
    r = 2 * t_plus / float(ranks.sum()) - 1
    k = ranks.size
    se = math.sqrt(k * (k + 1) * (2 * k + 1) / 6) / (k * (k + 1) / 2)
    if abs(r) == 1:
        warnings.append("every nonzero difference has the same sign (r = "
                        f"{r:+.0f}): no CI for the rank-biserial r; see the pseudo-median CI")
    return r, _fisher_ci(r, se)


def _t_plus(signed_ranks: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sum of the ranks of positive differences (vectorised over sign flips)."""
    return np.sum(np.where(signed_ranks > 0, signed_ranks, 0.0), axis=axis)


def compare_paired(name: str, x: ArrayLike, y: ArrayLike,
                   labels: tuple[str, str] = ("motor", "control"), rng: RngLike = 0) -> Comparison:
    """Two-sided Wilcoxon signed-rank test on the paired differences x - y.

    One pair per patient: pairs with a NaN are dropped. Zero differences are
    handled with Wilcoxon's method (scipy's ``zero_method="wilcox"``): they
    carry no direction and are left out of the ranking and the test, and the
    sign-flip permutation runs on the nonzero differences only.

    Parameters
    ----------
    name : str
        What is compared (shown on the dashboard).
    x, y : array_like
        Paired values, e.g. motor and control cortex susceptibility (ppb).
    labels : tuple of str
        Labels of ``x`` and ``y``.
    rng : int or numpy.random.Generator or None
        Seed for the Monte Carlo sign-flip test (used only with tied absolute
        differences and more than ``MAX_ENUMERATION`` sign patterns).

    Returns
    -------
    Comparison
        ``groups`` holds ``x``, ``y`` and the differences. ``statistic`` is
        T+, the sum of ranks of positive differences (scipy's two-sided
        statistic is min(T+, T-) instead). Effects: the matched-pairs
        rank-biserial r = (T+ - T-)/(T+ + T-) (Kerby 2014), positive when
        ``x`` tends to exceed ``y``, with a Fisher-z CI using its null
        standard error (undefined when r = +-1); and the Hodges-Lehmann
        pseudo-median of all differences (zeros included) with the
        distribution-free Walsh-average CI.

    References
    ----------
    Wilcoxon F (1945). Biometrics Bull 1:80-83.
    Hodges JL, Lehmann EL (1963). Ann Math Stat 34:598-611.
    Kerby DS (2014). Compr Psychol 3:11.IT.3.1.
    """
    test = "Wilcoxon signed-rank"
    effect_names = ("rank-biserial r", "Hodges-Lehmann pseudo-median (ppb)")
    xa, ya, warnings = _complete_pairs(x, y)
    d = xa - ya
    groups = [_describe(labels[0], xa), _describe(labels[1], ya),
              _describe(f"{labels[0]} - {labels[1]}", d)]
    warnings += _small_warning("the paired comparison", d.size, "pairs")
    if d.size < 2:
        return _not_testable(name, test, groups, effect_names, warnings,
                             f"only {d.size} complete pair(s); the test needs at least 2")
    nonzero = d[d != 0]
    n_zero = d.size - nonzero.size
    if nonzero.size == 0:
        return _not_testable(name, test, groups, effect_names, warnings,
                             "all differences are zero, so there is no direction to test")
    if n_zero:
        warnings.append(f"{n_zero} pair(s) with zero difference left out of the test (Wilcoxon's "
                        f"zero method); they still count for the pseudo-median")
    n_signs = 2 ** nonzero.size
    warnings += _reach_warning(f"n={nonzero.size} nonzero pairs", min(1.0, 2 / n_signs))

    ranks = stats.rankdata(np.abs(nonzero))
    signed = np.sign(nonzero) * ranks
    t_plus = float(_t_plus(signed))
    r, r_ci = _matched_pairs_r(t_plus, ranks, warnings)
    if d.size > LARGE_SAMPLE:
        pseudo_median, note = _large_sample_effect(effect_names[1])
        return Comparison(name=name, test=f"{test}, normal approximation (many pairs)",
                          why=_asymptotic_why("pairs", d.size), groups=groups, statistic=t_plus,
                          p_value=float(stats.wilcoxon(nonzero, method="approx").pvalue), p_method=P_ASYMPTOTIC,
                          effects=[_effect(effect_names[0], r, r_ci), pseudo_median], warnings=[*warnings, note])
    if _has_ties(np.abs(nonzero)):
        p, p_method = _permutation_p((signed,), _t_plus, "samples", n_signs, rng)
        test += ", exact sign-flip permutation (ties)" if p_method == P_EXACT_PERMUTATION \
            else ", sign-flip permutation (ties)"
        why = _permutation_why("Tied absolute differences make the exact tables invalid",
                               "sign patterns", n_signs, p_method, rng)
    else:
        p = float(stats.wilcoxon(nonzero, method="exact").pvalue)
        p_method = P_EXACT
        test += ", exact"
        why = (f"No tied nonzero differences, so the p-value is exact: the share of all "
               f"{_count(n_signs)} equally likely sign patterns with a T+ at least as extreme.")

    i, j = np.triu_indices(d.size)
    walsh = np.sort((d[i] + d[j]) / 2)
    hl_ci, attained = _order_statistic_ci(walsh, _signed_rank_counts(d.size))
    if not math.isfinite(hl_ci[0]):
        warnings.append(f"with {d.size} pairs no distribution-free {CI_LEVEL:.0%} CI for the "
                        f"pseudo-median exists (it would be unbounded)")
    effects = [
        _effect(effect_names[0], r, r_ci),
        _effect(effect_names[1], float(np.median(walsh)), hl_ci, ci_attained=attained),
    ]
    return Comparison(name=name, test=test, why=why, groups=groups, statistic=t_plus, p_value=p,
                      p_method=p_method, effects=effects, warnings=warnings)


# ----------------------------------------------------------- correlation


def _spearman_statistic(rx: np.ndarray) -> Callable[..., np.ndarray]:
    """Pearson correlation of fixed x-ranks with permuted y-ranks (vectorised)."""
    cx = rx - rx.mean()
    sxx = np.sum(cx**2)

    def rho(ry: np.ndarray, axis: int = -1) -> np.ndarray:
        cy = ry - np.mean(ry, axis=axis, keepdims=True)
        return np.sum(cx * cy, axis=axis) / np.sqrt(sxx * np.sum(cy**2, axis=axis))

    return rho


def _kendall_statistic(x: np.ndarray) -> Callable[..., np.ndarray]:
    """Kendall tau-b of fixed x with permuted y (vectorised over the last axis)."""
    i, j = np.triu_indices(x.size, k=1)
    sx = np.sign(x[i] - x[j])
    untied_x = np.sum(sx != 0)

    def tau_b(y: np.ndarray, axis: int = -1) -> np.ndarray:
        y = np.moveaxis(y, axis, -1)
        sy = np.sign(y[..., i] - y[..., j])
        return np.sum(sx * sy, axis=-1) / np.sqrt(untied_x * np.sum(sy != 0, axis=-1))

    return tau_b


def correlate(name: str, x: ArrayLike, y: ArrayLike,
              method: Literal["spearman", "kendall"] = "spearman", rng: RngLike = 0) -> Comparison:
    """Rank correlation with a permutation p-value.

    Parameters
    ----------
    name : str
        What is correlated (shown on the dashboard).
    x, y : array_like
        Paired observations; pairs with a NaN are dropped.
    method : {"spearman", "kendall"}
        Spearman's rho or Kendall's tau-b (which accounts for ties).
    rng : int or numpy.random.Generator or None
        Seed for the Monte Carlo permutation test (n! > ``MAX_ENUMERATION``,
        i.e. n >= 9).

    Returns
    -------
    Comparison
        The p-value comes from permuting the pairing of y with x: all n!
        pairings when n <= 8, else ``N_RESAMPLES`` seeded ones. Kendall
        without ties uses scipy's exact distribution instead (the same
        permutation distribution, computed by recursion). The CI is Fisher-z
        with the Bonett-Wright standard errors: sqrt((1 + rho^2/2)/(n-3)) for
        Spearman (n >= 4) and sqrt(0.437/(n-4)) for Kendall (n >= 5); it is
        undefined when |r| = 1.

    References
    ----------
    Bonett DG, Wright TA (2000). Psychometrika 65:23-28.
    Kendall MG (1945). Biometrika 33:239-251.
    """
    if method not in ("spearman", "kendall"):
        raise ValueError(f"method must be 'spearman' or 'kendall', not {method!r}")
    coefficient = "Spearman rho" if method == "spearman" else "Kendall tau-b"
    test = coefficient
    xa, ya, warnings = _complete_pairs(x, y)
    n = int(xa.size)
    groups = [{"label": "pairs", "n": n}]
    warnings += _small_warning("the correlation", n, "pairs")
    if n < 3:
        return _not_testable(name, test, groups, [coefficient], warnings,
                             f"only {n} complete pair(s); a correlation needs at least 3")
    for which, v in (("first", xa), ("second", ya)):
        if np.ptp(v) == 0:
            return _not_testable(name, test, groups, [coefficient], warnings,
                                 f"all values of the {which} variable are equal, so it cannot correlate")
    if n > (KENDALL_PERMUTATION_MAX if method == "kendall" else LARGE_SAMPLE):
        return _large_correlation(name, coefficient, method, xa, ya, groups, warnings)
    n_pairings = math.factorial(n)
    warnings += _reach_warning(f"n={n} pairs", min(1.0, 2 / n_pairings))

    ties = _has_ties(xa) or _has_ties(ya)
    rx, ry = stats.rankdata(xa), stats.rankdata(ya)
    if method == "spearman":
        value = float(stats.spearmanr(xa, ya).statistic)
        statistic = _spearman_statistic(rx)
        se = math.sqrt((1 + value**2 / 2) / (n - 3)) if n > 3 else math.nan
    else:
        value = float(stats.kendalltau(xa, ya).statistic)
        statistic = _kendall_statistic(rx)
        se = math.sqrt(0.437 / (n - 4)) if n > 4 else math.nan

    if method == "kendall" and not ties:
        p = float(stats.kendalltau(xa, ya, method="exact").pvalue)
        p_method = P_EXACT
        test += ", exact"
        why = "No tied values, so the p-value is exact (scipy's exact null distribution of tau)."
    else:
        p, p_method = _permutation_p((ry,), statistic, "pairings", n_pairings, rng)
        test += ", exact permutation" if p_method == P_EXACT_PERMUTATION else ", permutation"
        reason = "Some values are tied" if ties else "Spearman's t-based p-value is unreliable for small n"
        why = _permutation_why(reason, "pairings", n_pairings, p_method, rng)

    ci = _fisher_ci(value, se)
    if abs(value) == 1:
        warnings.append(f"the ranks agree perfectly ({coefficient} = {value:+.0f}): no Fisher-z CI")
    elif not math.isfinite(se):
        warnings.append(f"with n={n} pairs the Fisher-z CI is not defined")
    return Comparison(name=name, test=test, why=why, groups=groups, statistic=value, p_value=p,
                      p_method=p_method, effects=[_effect(coefficient, value, ci)],
                      warnings=warnings)


def _large_correlation(name: str, coefficient: str, method: str, x: np.ndarray, y: np.ndarray,
                       groups: list[dict[str, Any]], warnings: list[str]) -> Comparison:
    """Many pairs: scipy's t (Spearman) or tie-corrected normal (Kendall) p-value, O(n log n)."""
    n = x.size
    limit = KENDALL_PERMUTATION_MAX if method == "kendall" else LARGE_SAMPLE
    if method == "spearman":
        result = stats.spearmanr(x, y)
        se = math.sqrt((1 + result.statistic**2 / 2) / (n - 3))
        test = f"{coefficient}, t approximation (many pairs)"
    else:
        result = stats.kendalltau(x, y, method="asymptotic")
        se = math.sqrt(0.437 / (n - 4))
        test = f"{coefficient}, normal approximation (many pairs)"
    value = float(result.statistic)
    return Comparison(name=name, test=test, why=_asymptotic_why("pairs", n, limit), groups=groups, statistic=value,
                      p_value=float(result.pvalue), p_method=P_ASYMPTOTIC,
                      effects=[_effect(coefficient, value, _fisher_ci(value, se))], warnings=warnings)


# ------------------------------------------------------------ multiplicity


def holm(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """Holm-Bonferroni step-down adjustment across a family of comparisons.

    With the m finite p-values sorted, p_(1) <= ... <= p_(m), the adjusted
    value is max_{j <= i} min(1, (m - j + 1) p_(j)), which is monotone and
    capped at 1. Comparisons without a p-value (NaN) are not counted in m
    and get a NaN ``p_holm``.

    Parameters
    ----------
    comparisons : sequence of Comparison
        The family (e.g. all ROIs and sides of one question).

    Returns
    -------
    list of Comparison
        Copies in the input order with ``p_holm`` filled in.

    References
    ----------
    Holm S (1979). Scand J Stat 6:65-70.
    """
    p = np.array([c.p_value for c in comparisons], dtype=float)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.full(p.size, math.nan)
    adjusted[order] = stepped
    return [replace(c, p_holm=float(a)) for c, a in zip(comparisons, adjusted)]
