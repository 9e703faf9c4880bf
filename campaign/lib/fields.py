"""Model fields that more than one app's content shares."""

from django.conf import settings
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


def content_language_field(help_text: str | Promise) -> models.CharField:
    """The language ("en", "ru") a text that staff write was written in: its translations say
    so, and pages in another language mark the text with its own lang attribute; help_text says
    which text.

    A plain CharField: migrations see it as if it were written out in each model.
    """
    return models.CharField(
        _("original language"),
        max_length=10,
        default="en",
        choices=settings.LANGUAGES,
        help_text=help_text,
    )
