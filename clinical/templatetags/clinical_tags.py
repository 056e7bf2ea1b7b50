from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def sign(value: bool | None) -> str:
    """A derived yes/no finding: present, absent, or not examined."""
    if value is None:
        return mark_safe('<span class="unknown">not examined</span>')
    return format_html('<span class="{}">{}</span>', "yes" if value else "no", "present" if value else "absent")


@register.filter
def dash(value) -> str:
    return "—" if value is None or value == "" else value
