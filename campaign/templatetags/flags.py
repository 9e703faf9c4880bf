"""Country flags: `{% load flags %}` then `{% flag story.country %}`.

The flags are SVG (static/img/flags/, from the flag-icons project, MIT licence: LICENSE.txt
there), so they stay sharp on every screen density, and they go through the static files
storage like every other image: hashed names and a year's cache lifetime in production.
django-countries' own `country.flag` points at small unhashed GIFs instead.
"""

from django import template
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django_countries.fields import Country

register = template.Library()

# The flags' shape is 4:3; shown beside a line of text.
WIDTH, HEIGHT = 16, 12


def flag_path(code: str) -> str:
    """The flag's path among the static files; there is one for every django-countries code
    (campaign/tests/test_flags.py checks)."""
    return f"img/flags/{code.lower()}.svg"


@register.simple_tag
def flag(country: Country | None) -> SafeString:
    """The country's flag as an <img> for beside its name: decoration, so alt is empty."""
    if not country:
        return SafeString("")
    return format_html(
        '<img class="flag" src="{}" alt="" width="{}" height="{}">',
        static(flag_path(country.code)),
        WIDTH,
        HEIGHT,
    )
