"""Number formats for statistics: exact p-values, effect sizes, ppb."""
import math

from django import template

register = template.Library()


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@register.filter
def pvalue(value) -> str:
    """Exact p-values to three significant figures (never only 'p<0.05'); '—' when not computed."""
    if _missing(value):
        return "—"
    return f"{value:.3g}" if value >= 0.001 else f"{value:.2e}"


@register.filter
def num(value) -> str:
    return "—" if _missing(value) else f"{value:.3g}"


@register.filter
def ppb(value) -> str:
    return "—" if _missing(value) else f"{value:.1f}"


@register.filter
def estimate(effect: dict, comparison) -> str:
    """An effect size and its CI, or why there is none: infinite bounds mean the sample is too small for the level."""
    sizes = " and ".join(str(group["n"]) for group in comparison.groups)
    not_estimable = f"not estimable with n = {sizes}"
    if _missing(effect["value"]):
        return not_estimable
    lo, hi = effect["ci"]
    if _missing(lo) or _missing(hi) or math.isinf(lo) or math.isinf(hi):
        return f"{num(effect['value'])} [CI {not_estimable}]"
    return f"{num(effect['value'])} [{num(lo)}, {num(hi)}]"
