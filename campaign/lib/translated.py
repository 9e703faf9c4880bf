"""Content that staff write in one language and translate into others.

django-modeltranslation stores each translation in its own column on the same row (`headline_ru`
beside `headline_en`), so reading a story in any language costs no extra query or join. Its own
fallback goes to one fixed language for every object; a campaign's content is written in many
(a Hungarian partner's story is written in Hungarian), so here an object is shown whole in one
language: the reader's, if the translation is complete, otherwise the language it was written in.
The page marks that language with a lang attribute and says when the text is a translation.
"""

import functools
import operator
import tomllib
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin
from modeltranslation.fields import TranslationField
from modeltranslation.utils import build_localized_fieldname

from campaign.lib.markdown import render_markdown


class TranslatedContent(models.Model):
    """For models with a `language` field (the original's) and fields registered with
    modeltranslation through `show_whole_translations`."""

    # Filled in by show_whole_translations: every translated field, and those that a
    # translation must have to be shown (the others fall back to the original's text).
    translated_fields: tuple[str, ...] = ()
    required_translated_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def has_translation(self, code: str) -> bool:
        return all(self.text_in(field, code) for field in self.required_translated_fields)

    def text_in(self, field: str, code: str) -> str:
        return getattr(self, build_localized_fieldname(field, code), None) or ""

    @property
    def shown_language(self) -> str:
        """The language the reader is shown this content in: theirs if it is translated in
        full, else the original, else (for content saved without its original) the first
        language that has it."""
        for code in (get_language(), self.language, settings.LANGUAGE_CODE):
            if code and self.has_translation(code):
                return code
        for code, _name in settings.LANGUAGES:
            if self.has_translation(code):
                return code
        return self.language

    @property
    def is_translation(self) -> bool:
        """Whether the reader is shown a translation rather than the text as written."""
        return self.shown_language != self.language and self.has_translation(self.language)

    def markdown(self, field: str) -> SafeString:
        """A Markdown field as HTML, in the shown language, rendered once per object."""
        rendered = self.__dict__.setdefault("_rendered_markdown", {})
        key = (field, self.shown_language)
        if key not in rendered:
            rendered[key] = render_markdown(getattr(self, field))
        return rendered[key]

    def clean(self) -> None:
        """The text must be there in the language it declares as its original (unless the
        field is optional); every other language is optional (readers see the original until
        it is translated)."""
        super().clean()
        missing = {
            build_localized_fieldname(field, self.language): ValidationError(
                _("Write this in the original language, %(language)s, or change that."),
                code="original_missing",
                params={"language": dict(settings.LANGUAGES).get(self.language, self.language)},
            )
            for field in self.required_translated_fields
            if not self.text_in(field, self.language) and not self._meta.get_field(field).blank
        }
        if missing:
            raise ValidationError(missing)

    def missing_translations(self) -> list[str]:
        return [code for code, _name in settings.LANGUAGES if not self.has_translation(code)]


class _ShownLanguage:
    """Replaces modeltranslation's descriptor for one field: reads come from the object's
    shown language (falling back to the original's text for an optional field), writes go to
    the current language as modeltranslation does."""

    def __init__(self, translated):
        self.translated = translated
        self.name = translated.field.name

    def __get__(self, instance, owner):
        if instance is None:
            return self
        if not isinstance(instance, TranslatedContent):
            # modeltranslation's values() reads through a stand-in object: its own rules.
            return self.translated.__get__(instance, owner)
        shown = instance.shown_language
        return instance.text_in(self.name, shown) or instance.text_in(self.name, instance.language)

    def __set__(self, instance, value) -> None:
        self.translated.__set__(instance, value)

    def __getattr__(self, name: str):
        # What modeltranslation reads off its own descriptor (the field, its fallbacks).
        return getattr(self.translated, name)


def show_whole_translations(
    model: type[TranslatedContent], fields: Iterable[str], required: Iterable[str]
) -> None:
    """Call after registering `model` with modeltranslation."""
    model.translated_fields = tuple(fields)
    model.required_translated_fields = tuple(required)
    for field in model.translated_fields:
        setattr(model, field, _ShownLanguage(model.__dict__[field]))


class TranslatedContentAdmin(TranslationAdmin):
    """The admin for translated content: a field per language for each translated field (from
    modeltranslation), and a column listing the languages a translation is missing in."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and isinstance(db_field, TranslationField):
            # modeltranslation requires English; here only the original's text is required,
            # whatever its language (TranslatedContent.clean).
            formfield.required = False
        return formfield

    @admin.display(description=_("translations missing"))
    def translations_missing(self, item: TranslatedContent) -> str:
        return " ".join(item.missing_translations()) or "—"


def seed_translations(folder: Path, name: str) -> dict[str, dict[str, str]]:
    """The translations of one seeded item, from `<folder>/<name>.<language>.toml` files:
    {"ru": {"headline": "...", ...}, ...}. Each file holds one language's text fields."""
    found = {}
    for path in sorted(folder.glob(f"{name}.*.toml")):
        code = path.name.removeprefix(f"{name}.").removesuffix(".toml")
        if code in dict(settings.LANGUAGES):
            with open(path, "rb") as file:
                found[code] = tomllib.load(file)
    return found


def localized(fields: dict[str, str], code: str) -> dict[str, str]:
    """{"headline": "..."} as the columns of one language: {"headline_ru": "..."}."""
    return {build_localized_fieldname(field, code): text for field, text in fields.items()}


def seeded(model: type[TranslatedContent], row: dict, translations: dict) -> dict:
    """A seed row as column values: its English text in the English columns (whatever language
    is active), and its translations in theirs."""
    values = {name: value for name, value in row.items() if name not in model.translated_fields}
    values.update(localized({f: row[f] for f in model.translated_fields if f in row}, "en"))
    for code, fields in translations.items():
        values.update(localized(fields, code))
    return values


def load_seed(model, key: str, rows: list[dict], *, reset: bool, folder: Path) -> tuple[int, int]:
    """Create the seeded items that are missing, with their translations (`<key>.<lang>.toml`
    in `folder`). An existing item gains the translations it lacks and keeps staff's text;
    `reset` puts the seed text back."""
    created = updated = 0
    for row in rows:
        defaults = seeded(model, row, seed_translations(folder, row[key]))
        lookup = {key: defaults.pop(key)}
        if reset:
            _, was_created = model.objects.update_or_create(**lookup, defaults=defaults)
        else:
            item, was_created = model.objects.get_or_create(**lookup, defaults=defaults)
            missing = {
                column: text
                for column, text in defaults.items()
                if column not in row and not getattr(item, column)
            }
            if not was_created and missing:
                model.objects.filter(pk=item.pk).update(**missing)
        created += was_created
        updated += reset and not was_created
    return created, updated


def written_in_original(field: str) -> Q:
    """A condition for check constraints: the translated `field` has text in the language the
    object declares as its original (NULL, which translation columns allow, counts as none)."""
    each = []
    for code, _name in settings.LANGUAGES:
        column = build_localized_fieldname(field, code)
        each.append(Q(language=code, **{f"{column}__isnull": False}) & ~Q(**{column: ""}))
    return functools.reduce(operator.or_, each)
