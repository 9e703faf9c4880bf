from django import template
from django.template.defaultfilters import date

register = template.Library()


@register.filter
def moment(value) -> str:
    """A date and time in the reader's language's own format, with its time zone: "30 November
    2026, 14:05 UTC", "30 ноября 2026 г. 14:05 UTC"."""
    if not value:
        return ""
    return f"{date(value, 'DATETIME_FORMAT')} {date(value, 'T')}"
