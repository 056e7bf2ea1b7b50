from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def sign(value: bool | None) -> str:
    """A derived yes/no finding: present, absent, or not examined."""
    if value is None:
        return format_html('<span class="unknown">not examined</span>')
    return format_html('<span class="{}">{}</span>', "yes" if value else "no", "present" if value else "absent")


@register.filter
def dash(value) -> str:
    return "—" if value is None or value == "" else value
