"""What the site holds about a signer, as the copy they ask for from any email's link lists it
(petitions.emails sends it): every signature of the person (Signature.objects.of_signer), on
every petition, each with what its row holds, as plain-text lines of a label and a value.

The copy goes to the signer's own address, but some of what it shows was typed by them (their
name) or came with the link they followed (the campaign parameters). Those are shown quoted and
on one line, with no character that could break the line or turn the text around, so that
nothing in them can pass for the site's own words.
"""

import datetime as dt
import unicodedata
from dataclasses import dataclass

from django.db.models import BooleanField, ExpressionWrapper
from django.utils.translation import get_language_info
from django.utils.translation import gettext as _
from django_countries import countries

from petitions.models import KEEPS_ADDRESS, ConsentWording, Signature
from petitions.tokens import format_receipt

# Characters that reorder text as it is shown (bidirectional overrides and isolates).
_REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def quoted(text: str) -> str:
    """Text someone typed, as the copy shows it: on one line, without control or reordering
    characters, between quotation marks."""
    kept = "".join(
        " " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char
        for char in text
        if char not in _REORDERING
    )
    return f"“{' '.join(kept.split())}”"


def moment(value: dt.datetime | None) -> str:
    """A time the same in every language: 2026-12-01 06:30 UTC."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _language_name(code: str) -> str:
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


def _yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


def _consent(given: bool, wording: ConsentWording | None, at: dt.datetime) -> str:
    if not given:
        return _("no")
    if wording is None:
        return _("yes, given on %(time)s") % {"time": moment(at)}
    return _("yes, given on %(time)s to the words: %(words)s") % {
        "time": moment(at),
        "words": quoted(wording.text),
    }


def _address(signature: Signature) -> str:
    """Whether the row keeps the address, and why: from KEEPS_ADDRESS (annotated), not from the
    column, which may hold for a moment an address typed to receive this very copy."""
    if signature.status == Signature.Status.PENDING:
        return _("kept, sealed, until you confirm; an unconfirmed signature is deleted with it")
    if signature.keeps_address:
        return _("kept, sealed, because you agreed to receive emails (see above)")
    return _(
        "not kept: only its keyed fingerprint, which cannot be turned back into the address "
        "and stops it from signing twice"
    )


@dataclass(frozen=True)
class HeldSignature:
    """One signature as the copy lists it."""

    petition: str
    country: str  # its code, for deciding whether the copy is discreet
    lines: list[tuple[str, str]]


def held_about(signature: Signature) -> list[HeldSignature]:
    """Every signature of the person behind this one, oldest first, as the copy lists them, in
    the active language. Only what belongs to them: nothing of anyone else's signatures."""
    rows = (
        Signature.objects.of_signer(signature)
        .filter(erased_at__isnull=True)
        .select_related("petition", "partner", "updates_wording", "partner_updates_wording")
        .annotate(keeps_address=ExpressionWrapper(KEEPS_ADDRESS, output_field=BooleanField()))
        .order_by("created_at", "pk")
    )
    return [_held(row) for row in rows]


def _held(row: Signature) -> HeldSignature:
    name = " ".join(part for part in (row.first_name, row.last_name) if part)
    lines = [
        (_("Name"), quoted(name) if name else _("no name")),
        (_("Name left out of the list handed in"), _yes_no(row.hide_name)),
        (_("Country"), str(countries.name(row.country)) or row.country),
        (_("Language"), _language_name(row.language)),
        (_("Status"), str(row.get_status_display())),
        (_("Signed"), moment(row.created_at)),
    ]
    if row.confirmed_at:
        lines.append((_("Confirmed"), moment(row.confirmed_at)))
    lines += [
        (
            _("Emails from the campaign"),
            _consent(row.wants_updates, row.updates_wording, row.created_at),
        ),
        (
            _("Emails from the partner organisation"),
            _consent(row.partner_updates, row.partner_updates_wording, row.created_at),
        ),
    ]
    if row.partner is not None:
        lines.append((_("Partner organisation whose link you followed"), row.partner.display_name))
    source = str(row.get_source_display())
    if row.source_story:
        source = f"{source} {quoted(row.source_story)}"
    lines.append((_("Signed from"), source))
    campaign = [
        f"{label} {quoted(value)}"
        for label, value in (
            (_("source"), row.utm_source),
            (_("medium"), row.utm_medium),
            (_("campaign"), row.utm_campaign),
        )
        if value
    ]
    if campaign:
        lines.append((_("Campaign parameters of the link you followed"), ", ".join(campaign)))
    if row.receipt:
        lines.append((_("Receipt"), format_receipt(row.receipt)))
    lines.append((_("Email address"), _address(row)))
    if row.email_sent_at:
        lines.append((_("Last email sent to you"), moment(row.email_sent_at)))
    return HeldSignature(petition=row.petition.title, country=row.country, lines=lines)
