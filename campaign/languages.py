"""The site's languages, in one place: the settings, the language switcher, the language notice,
link previews and content translation all read this list.

To add a language, add a line here (see the README's "Adding a language")."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Language:
    code: str  # the URL prefix and the HTML lang attribute
    name: str  # in the reader's language (for staff and for "Translated from ...")
    local_name: str  # in the language itself, as the switcher shows it
    locale: str  # for link previews (og:locale)
    direction: str = "ltr"


SITE_LANGUAGES = (
    Language("en", _("English"), "English", "en_GB"),
    Language("nl", _("Dutch"), "Nederlands", "nl_NL"),
    Language("az", _("Azerbaijani"), "Azərbaycanca", "az_AZ"),
    Language("hu", _("Hungarian"), "Magyar", "hu_HU"),
    Language("kk", _("Kazakh"), "Қазақша", "kk_KZ"),
    Language("pl", _("Polish"), "Polski", "pl_PL"),
    Language("ru", _("Russian"), "Русский", "ru_RU"),
    Language("tr", _("Turkish"), "Türkçe", "tr_TR"),
    Language("uk", _("Ukrainian"), "Українська", "uk_UA"),
)

BY_CODE = {language.code: language for language in SITE_LANGUAGES}
CODES = tuple(BY_CODE)


def get(code: str) -> Language:
    """The site language for a code, or English for one the site does not have."""
    return BY_CODE.get(code) or BY_CODE["en"]
