from django import template
from django.urls import translate_url

from campaign import languages

register = template.Library()


@register.simple_tag(takes_context=True)
def page_url_in(context, code: str) -> str:
    """This page's address in another language."""
    return translate_url(context["request"].path, code)


@register.filter
def language_name(code: str) -> str:
    """A site language's name in the reader's language ("ru" -> "Russian", "русский")."""
    return str(languages.get(code).name)
