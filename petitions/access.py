"""Who among staff may see what of the signers, and the record of every look.

Signers' names and email addresses are personal data, and for some signers being known to have
signed is a danger. Staff see them only with `petitions.view_personal_data` (the "Data officers"
role); everyone else sees a signature as "Signature #<id>". The admin asks the functions here and
never the permissions themselves, and records each look at personal data (record_look).
"""

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from petitions.models import PersonalDataAccess, Signature

PERSONAL_DATA_PERMISSION = "petitions.view_personal_data"
EXPORT_PERMISSION = "petitions.export_signatures"
ERASE_PERMISSION = "petitions.erase_signatures"
SIGNATURES_PERMISSION = "petitions.view_signature"
# Ids are looked up only if they fit in a bigint.
_MAX_ID_DIGITS = 18


def can_see_personal_data(user) -> bool:
    return user.has_perm(PERSONAL_DATA_PERMISSION)


def can_see_signatures(user) -> bool:
    """Signatures without names, and what is counted from them (a petition's counts and
    report). Editors cannot."""
    return user.has_perm(SIGNATURES_PERMISSION)


def can_export(user) -> bool:
    """Exports and the hand-in carry signers' names (and the exports their email addresses)."""
    return user.has_perm(EXPORT_PERMISSION) and can_see_personal_data(user)


def can_erase(user) -> bool:
    return user.has_perm(ERASE_PERMISSION)


def signature_label(signature: Signature) -> str:
    """How a signature is named to staff, whoever they are: never by its signer."""
    if signature.erased_at:
        return _("Erased signature #%(id)s") % {"id": signature.pk}
    return _("Signature #%(id)s") % {"id": signature.pk}


def is_email_search(term: str) -> bool:
    return "@" in term


def search_signatures(queryset: QuerySet, term: str, *, user) -> QuerySet:
    """The admin's search: by signature id (exact, "1234" or "#1234"), and for staff who may see
    personal data by a complete email address too. Never by part of a name or an address, which
    would let anyone page through the signers letter by letter."""
    term = term.strip()
    if not term:
        return queryset
    number = term.removeprefix("#")
    if number.isascii() and number.isdigit() and len(number) <= _MAX_ID_DIGITS:
        return queryset.filter(pk=int(number))
    if is_email_search(term) and can_see_personal_data(user):
        # By the address's keyed hash, however it is written: addresses are sealed.
        return queryset.with_email(term)
    return queryset.none()


def record_look(*, user, kind: str, signature_ids: list[int]) -> PersonalDataAccess:
    return PersonalDataAccess.objects.create(
        kind=kind, user=user, username=user.get_username(), signature_ids=signature_ids
    )
