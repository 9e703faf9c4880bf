"""Model fields that more than one app's content shares."""

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


def content_language_field(help_text: str | Promise) -> models.CharField:
    """The language ("en", "nl") a text that staff write is in, so that pages in another
    language can mark the text with its own lang attribute; help_text says which text.

    A plain CharField: migrations see it as if it were written out in each model.
    """
    return models.CharField(
        _("language of the text"), max_length=10, default="en", help_text=help_text
    )
