"""Writes the country-name catalogues for site languages that django-countries has no names for.

The names come from the Unicode CLDR (through Babel, a development dependency), keyed by the
English names django-countries translates, so that forms, the breakdown and story cards name
every country in the reader's language. Run it after adding a language (see the README)."""

from pathlib import Path

import django_countries
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django_countries.data import COUNTRIES

OUTPUT = Path(settings.BASE_DIR) / "campaign" / "country_names"


def has_catalogue(code: str) -> bool:
    """Whether django-countries itself names countries in this language."""
    locale = Path(django_countries.__file__).parent / "locale"
    return any(
        (locale / name / "LC_MESSAGES" / "django.mo").exists()
        for name in (code, translation.to_locale(code), f"{code}_{code.upper()}")
    )


class Command(BaseCommand):
    help = "Write country names from the Unicode CLDR for site languages django-countries lacks."

    def handle(self, *args, **options) -> None:
        try:
            from babel import Locale
            from babel.messages.catalog import Catalog
            from babel.messages.mofile import write_mo
            from babel.messages.pofile import write_po
        except ImportError as error:  # pragma: no cover - Babel is a development dependency
            raise CommandError("Install the development dependencies: make install.") from error

        with translation.override(None):
            english = {code: str(name) for code, name in COUNTRIES.items()}
        for code, _name in settings.LANGUAGES:
            if code == "en" or has_catalogue(code):
                continue
            territories = Locale.parse(translation.to_locale(code)).territories
            catalogue = Catalog(locale=code, project="#BringHumanRightsHome country names")
            for country, name in sorted(english.items()):
                if country in territories:
                    catalogue.add(name, territories[country])
            folder = OUTPUT / code / "LC_MESSAGES"
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "django.po", "wb") as po:
                write_po(po, catalogue, omit_header=False, width=100)
            with open(folder / "django.mo", "wb") as mo:
                write_mo(mo, catalogue)
            self.stdout.write(f"{code}: {len(catalogue)} country names")
