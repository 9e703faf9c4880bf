import re
import time
import unicodedata

from django import forms
from django.conf import settings
from django.core import signing
from django.forms.utils import flatatt
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language, ngettext_lazy
from django.utils.translation import gettext_lazy as _
from django_countries import countries
from django_countries.fields import CountryField, LazyTypedChoiceField

from partners.models import partner_for
from petitions.addresses import normalise_address
from petitions.models import ConsentWording, HighRiskCountry, Signature

# Control and format characters (Unicode categories Cc and Cf, as of Unicode 14: zero-width
# and bidirectional marks, soft hyphens, tags, ...) and the Hangul fillers, which are letters
# that show nothing. White space among the controls (tab, newline) is folded into a space first.
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    "\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
_SPACES = re.compile(r"\s+")
_SOURCE = re.compile(r"(home|stories|petition|widget|story:[-a-z0-9_]{1,80})")
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
    """Fold runs of white space into one space, drop invisible and control characters,
    normalise to NFC and trim: the name as it is stored, and as its length is checked."""
    value = _INVISIBLE.sub("", _SPACES.sub(" ", value))
    if not value.isprintable():
        # Format characters newer than the list above (Python's Unicode may be newer).
        value = "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cf"))
    # NFC may lengthen a name (U+0958 becomes two characters) or bring spaces together.
    value = unicodedata.normalize("NFC", value)
    return _SPACES.sub(" ", value).strip()


# Counted as stored (see NormalisedCharField); shown after the field's label in the summary.
_TOO_LONG = ngettext_lazy(
    "Use at most %(limit_value)d character (this has %(show_value)d).",
    "Use at most %(limit_value)d characters (this has %(show_value)d).",
    "limit_value",
)


class NormalisedCharField(forms.CharField):
    """A line of text checked (required, max_length) as it will be stored: cleaned by
    clean_name first, so that spaces and invisible characters neither count against the
    limit nor fill in a required field, and nothing longer than the column gets through."""

    def to_python(self, value) -> str:
        value = super().to_python(value)
        return clean_name(value) if value else value


class SourceField(forms.CharField):
    """Where the form was opened from (a hidden field, from the link's ?from=): one of the
    known pages or nothing, which is recorded as 'other'. Never an error: nobody can fix it."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> str:
        value = super().to_python(value)
        return value if _SOURCE.fullmatch(value) else ""

    def prepare_value(self, value) -> str:
        # Only a known page goes into the form: nothing else from the address is shown back.
        return value if isinstance(value, str) and _SOURCE.fullmatch(value) else ""


# A partner's slug (?via=) or a campaign parameter (utm_source, utm_medium, utm_campaign): short,
# lower-case letters, digits and . _ -; anything else is dropped, never stored or shown back.
_CAMPAIGN_PARAM = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")


class CampaignParamField(forms.CharField):
    """A hidden link parameter, cleaned to itself if it is a short token, else to ""."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> str:
        value = super().to_python(value).strip().lower()
        return value if _CAMPAIGN_PARAM.fullmatch(value) else ""

    def prepare_value(self, value) -> str:
        return self.to_python(value) if isinstance(value, str) else ""


LINK_PARAMS = ("via", "utm_source", "utm_medium", "utm_campaign")


def link_params(query) -> dict[str, str]:
    """The partner and campaign parameters of a link (request.GET), those that are valid."""
    field = CampaignParamField()
    return {name: value for name in LINK_PARAMS if (value := field.clean(query.get(name, "")))}


def parse_source(value: str) -> tuple[str, str]:
    """'story:hungary' -> ('story', 'hungary'); anything unknown counts as 'other'."""
    if not _SOURCE.fullmatch(value or ""):
        return Signature.Source.OTHER, ""
    kind, _sep, story = value.partition(":")
    return kind, story


def form_timestamp() -> str:
    """When the form was shown, signed; the minimum-time check reads it back."""
    return signing.dumps(time.time(), salt=_TIMESTAMP_SALT)


# Where a page kept in the page cache gets each visitor's own form timestamp.
TIMESTAMP_SLOT = "__form_timestamp_slot__"


class FormTimestampField(forms.Field):
    """When the form was shown (hidden, signed by form_timestamp): cleaned to that time, or
    None when it is missing, tampered with or not a time. The value sent is never shown back:
    a form shown again carries a fresh timestamp (the initial, unless the view gives one)."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, initial=form_timestamp, **kwargs)

    def to_python(self, value) -> float | None:
        try:
            shown = signing.loads(str(value or ""), salt=_TIMESTAMP_SALT)
        except signing.BadSignature:
            return None
        if type(shown) not in (int, float) or not -1e12 < shown < 1e12:
            return None  # only ever a time; anything else is not from form_timestamp
        return float(shown)

    def bound_data(self, data, initial):
        return initial


# The high-risk countries' codes, space-separated.
_high_risk_codes = lazy(lambda: " ".join(sorted(HighRiskCountry.objects.codes())), str)


class SignatureForm(forms.Form):
    # Before the names, which it makes optional (the server decides: see __init__).
    without_name = forms.BooleanField(
        label=_("Sign without my name: only my email address and country are kept"),
        required=False,
    )
    first_name = NormalisedCharField(
        label=_("First name"),
        max_length=Signature._meta.get_field("first_name").max_length,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
        error_messages={
            "required": _("Enter your first name."),
            "max_length": _TOO_LONG,
        },
    )
    last_name = NormalisedCharField(
        label=_("Last name"),
        max_length=Signature._meta.get_field("last_name").max_length,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
        error_messages={
            "required": _("Enter your last name."),
            "max_length": _TOO_LONG,
        },
    )
    # A CharField: normalise_address, not Django's EmailValidator, decides which addresses
    # can receive email, and says what to change (clean_email).
    email = forms.CharField(
        label=_("Email address"),
        max_length=254,
        help_text=_("We send you a link to confirm your signature."),
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "spellcheck": "false", "autocapitalize": "off"}
        ),
        error_messages={"required": _("Enter your email address.")},
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
    # Shown only to people who came through a partner's link (see partner_consent_label).
    partner_updates = forms.BooleanField(required=False)
    hide_name = forms.BooleanField(
        label=_("Count my signature, but leave my name out of the list handed in"),
        required=False,
    )
    # Not for people: where the form was opened from, when it was shown, and a field that
    # only bots fill in.
    source = SourceField()
    via = CampaignParamField()
    utm_source = CampaignParamField()
    utm_medium = CampaignParamField()
    utm_campaign = CampaignParamField()
    rendered_at = FormTimestampField()
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    honeypot_field = "website"
    send_again_message = _("Please check your details and send the form once more.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound and self["without_name"].data:
            # No name is kept, so none is asked for; one typed anyway is dropped (clean).
            self.fields["first_name"].required = self.fields["last_name"].required = False
        # For static/js/site.js, which shows the notice and ticks hide_name when one is chosen.
        # Read when the select is rendered: a form that is only validated asks nothing.
        self.fields["country"].widget.attrs["data-high-risk"] = _high_risk_codes()
        if not self.is_bound and self.from_high_risk_country:
            # Someone from a high-risk country starts with their name left out of the hand-in;
            # a form sent back keeps what they chose.
            self.initial = {**self.initial, "hide_name": True}

    @property
    def from_high_risk_country(self) -> bool:
        """Whether the country chosen (before sending: the one the visitor's connection is
        from, as the CDN says) is high-risk: the form then says what is kept and who sees it."""
        return self["country"].value() in HighRiskCountry.objects.codes()

    def clean_email(self) -> str:
        return normalise_address(self.cleaned_data["email"])

    def looks_automated(self) -> bool:
        """True for a filled honeypot: a field that people never see."""
        return bool(self.data.get(self.honeypot_field))

    def clean(self) -> dict:
        """A form sent sooner than a person could (autofill makes people fast too), or with a
        timestamp that is missing, tampered with or too old to trust, is shown again with a
        fresh one (see FormTimestampField) rather than dropped."""
        cleaned_data = super().clean()
        shown = cleaned_data.get("rendered_at")
        if shown is None or not (
            settings.SIGNATURE_MIN_FORM_SECONDS
            <= time.time() - shown
            <= settings.SIGNATURE_FORM_MAX_AGE
        ):
            raise forms.ValidationError(self.send_again_message, code="send_again")
        if cleaned_data.get("without_name"):
            cleaned_data["first_name"] = cleaned_data["last_name"] = ""
        return cleaned_data

    def _consents(self) -> dict:
        """The partner the link named, and each consent given with the exact words shown
        (stored once per wording and language: ConsentWording)."""
        data, language = self.cleaned_data, get_language()
        partner = partner_for(data.get("via", ""))
        consents = {"partner_id": partner.pk if partner else None}
        if data["wants_updates"]:
            label = str(self.fields["wants_updates"].label)
            consents["updates_wording_id"] = ConsentWording.objects.id_for(language, label)
        if partner and data.get("partner_updates"):
            label = partner_consent_label(partner.display_name)
            consents["partner_updates"] = True
            consents["partner_updates_wording_id"] = ConsentWording.objects.id_for(language, label)
        return consents

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
            "without_name": data["without_name"],
            "source": source,
            "source_story": source_story,
            **self._consents(),
            "utm_source": data.get("utm_source", ""),
            "utm_medium": data.get("utm_medium", ""),
            "utm_campaign": data.get("utm_campaign", ""),
        }

    # What the spool keeps of a signing taken while the database is away (petitions.spool):
    # the cleaned values signature_fields is made from, not the ids it reads from the database
    # (the partner's, the consents' wordings'), which are looked up once the database is back.
    SPOOLED_FIELDS = (
        "without_name", "first_name", "last_name", "email", "country", "wants_updates",
        "partner_updates", "hide_name", "source", "via", "utm_source", "utm_medium",
        "utm_campaign",
    )  # fmt: skip

    def spooled_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.SPOOLED_FIELDS}

    @classmethod
    def signature_fields_of(cls, spooled: dict) -> dict:
        """signature_fields for a spooled signing (spooled_data), the consents' wordings in
        the active language: the drain activates the signer's, in which the form was shown."""
        form = cls()
        form.cleaned_data = dict(spooled)
        return form.signature_fields()


def partner_consent_label(partner_name: str) -> str:
    return _("%(partner)s may email me about its work") % {"partner": partner_name}


class NewLinkForm(forms.Form):
    """Ask for a fresh confirmation email when the link in hand is broken."""

    email = forms.CharField(
        label=_("Email address you signed with"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={"required": _("Enter your email address.")},
    )

    def clean_email(self) -> str:
        return normalise_address(self.cleaned_data["email"])


class OwnDataAddressForm(NewLinkForm):
    """The address a signature forgot once confirmed, typed again to receive the copy of the
    signer's data: it goes there only if it is that signature's (services.request_data_copy)."""
