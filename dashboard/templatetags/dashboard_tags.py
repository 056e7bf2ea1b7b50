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
