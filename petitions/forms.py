import re
import time
import unicodedata

from django import forms
from django.conf import settings
from django.core import signing
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django_countries import countries
from django_countries.fields import CountryField, LazyTypedChoiceField

from petitions.models import Signature

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"\s+")
_SOURCE = re.compile(r"^(home|stories|petition|story:[-a-z0-9_]{1,80})$")
_TIMESTAMP_SALT = "petitions.form.rendered"


class CountryChoiceField(LazyTypedChoiceField):
    """Checks a country code with one look-up instead of walking all 250 choices, and shares
    its (unchanging) choices between form instances instead of deep-copying them for each."""

    def __deepcopy__(self, memo):
        # Django internals: forms deep-copy their base_fields for each instance, and
        # ChoiceField.__deepcopy__ only adds a deep copy of `_choices` to Field's; skipping to
        # Field's own keeps everything else it copies (widget, messages, validators).
        return forms.Field.__deepcopy__(self, memo)

    def valid_value(self, value) -> bool:
        return bool(value) and countries.alpha2(value) == str(value).upper() == str(value)


class CountrySelect(forms.Select):
    """The country list, rendered once per language and selected country.

    Rendering 250 options through the widget templates took most of the petition page's time;
    the options are the same for everyone who reads the page in one language. Only real country
    codes are remembered, so the cache stays small whatever is posted.
    """

    _options: dict[tuple[str, str], str] = {}

    def use_required_attribute(self, initial) -> bool:
        # The first option is always the blank "Choose your country".
        return not self.is_hidden

    def render(self, name, value, attrs=None, renderer=None) -> str:
        attrs = self.build_attrs(self.attrs, attrs)
        # flatatt: not in Django's documentation, but what its own widgets render attrs with.
        return format_html(
            "<select{}>{}</select>",
            flatatt({"name": name, **attrs}),
            self._options_html(str(value or "")),
        )

    def _options_html(self, selected: str) -> str:
        key = (get_language(), selected)
        html = self._options.get(key)
        if html is None:
            choices = list(self.choices)
            html = format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                ((code, " selected" if code == selected else "", label) for code, label in choices),
            )
            if selected == "" or any(code == selected for code, _label in choices):
                self._options[key] = html
        return html


def clean_name(value: str) -> str:
    """Trim, fold runs of white space, and drop invisible and control characters."""
    value = unicodedata.normalize("NFC", value)
    value = _CONTROL.sub("", value)
    return _SPACES.sub(" ", value).strip()


def parse_source(value: str) -> tuple[str, str]:
    """'story:hungary' -> ('story', 'hungary'); anything unknown counts as 'other'."""
    if not _SOURCE.match(value or ""):
        return Signature.Source.OTHER, ""
    kind, _sep, story = value.partition(":")
    return kind, story


def form_timestamp() -> str:
    """When the form was shown, signed; the minimum-time check reads it back."""
    return signing.dumps(time.time(), salt=_TIMESTAMP_SALT)


# Where a page kept in the page cache gets each visitor's own form timestamp.
TIMESTAMP_SLOT = "__form_timestamp_slot__"


class SignatureForm(forms.Form):
    first_name = forms.CharField(
        label=_("First name"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
        error_messages={"required": _("Enter your first name.")},
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
        error_messages={"required": _("Enter your last name.")},
    )
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        help_text=_("We send you a link to confirm your signature."),
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "spellcheck": "false", "autocapitalize": "off"}
        ),
        error_messages={
            "required": _("Enter your email address."),
            "invalid": _("Enter an email address like name@example.org."),
        },
    )
    # From the model field, so that country names follow the reader's language.
    country = CountryField(blank_label=_("Choose your country")).formfield(
        choices_form_class=CountryChoiceField,
        label=_("Country"),
        error_messages={
            "required": _("Choose your country."),
            "invalid_choice": _("Choose your country from the list."),
        },
        widget=CountrySelect(attrs={"autocomplete": "country"}),
    )
    wants_updates = forms.BooleanField(
        label=_("Email me news about this campaign"),
        required=False,
    )
    hide_name = forms.BooleanField(
        label=_("Count my signature, but leave my name out of the list handed in"),
        required=False,
    )
    # Not for people: where the form was opened from, when it was shown, and a field that
    # only bots fill in.
    source = forms.CharField(required=False, widget=forms.HiddenInput, max_length=90)
    rendered_at = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    honeypot_field = "website"

    def clean_first_name(self) -> str:
        return self._clean_name("first_name")

    def clean_last_name(self) -> str:
        return self._clean_name("last_name")

    def _clean_name(self, field: str) -> str:
        value = clean_name(self.cleaned_data[field])
        if not value:
            raise forms.ValidationError(self.fields[field].error_messages["required"])
        return value

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def looks_automated(self) -> bool:
        """True for a filled honeypot, or a form sent sooner than a person could."""
        if self.data.get(self.honeypot_field):
            return True
        try:
            shown = signing.loads(self.data.get("rendered_at", ""), salt=_TIMESTAMP_SALT)
        except signing.BadSignature:
            return True
        return time.time() - float(shown) < settings.SIGNATURE_MIN_FORM_SECONDS

    def signature_fields(self) -> dict:
        data = self.cleaned_data
        source, source_story = parse_source(data.get("source", ""))
        return {
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "email": data["email"],
            "country": data["country"],
            "wants_updates": data["wants_updates"],
            "hide_name": data["hide_name"],
            "source": source,
            "source_story": source_story,
        }


class NewLinkForm(forms.Form):
    """Ask for a fresh confirmation email when the link in hand is broken."""

    email = forms.EmailField(
        label=_("Email address you signed with"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": _("Enter your email address."),
            "invalid": _("Enter an email address like name@example.org."),
        },
    )

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()
