"""Signed links in the emails: to confirm a signature (expiring) and to withdraw it.

A link names its signature by the signature's public id, a random UUID: the row's sequential
id would tell a signer roughly how many signed before them, and would sit in the logs of every
mail system the email passes. Links are signed with SECRET_KEY, and still read when signed with
a key in SECRET_KEY_FALLBACKS, so that changing the key breaks no link already emailed.
"""

import enum
import uuid

from django.conf import settings
from django.core import signing

CONFIRM_SALT = "petitions.signature.confirm"
WITHDRAW_SALT = "petitions.signature.withdraw"
# An expired confirmation link can still ask for a fresh one for this long.
RENEW_MAX_AGE = 90 * 24 * 3600

# What a link names its signature by: the public id; the row's id (an int) only in links
# emailed before signatures had a public id, still honoured so that those keep working.
SignatureRef = uuid.UUID | int


class LinkState(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


def confirm_token(public_id: uuid.UUID) -> str:
    return signing.dumps(public_id.hex, salt=CONFIRM_SALT)


def withdraw_token(public_id: uuid.UUID) -> str:
    return signing.dumps(public_id.hex, salt=WITHDRAW_SALT)


def _read(token: str, salt: str, max_age: int | None) -> tuple[LinkState, SignatureRef | None]:
    try:
        # signing reads SECRET_KEY_FALLBACKS too.
        value = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        return LinkState.EXPIRED, None
    except signing.BadSignature:
        return LinkState.INVALID, None
    if isinstance(value, str):
        try:
            return LinkState.VALID, uuid.UUID(hex=value)
        except ValueError:
            return LinkState.INVALID, None
    if type(value) is int:  # an older link (not a bool, which is an int too)
        return LinkState.VALID, value
    return LinkState.INVALID, None


def read_confirm_token(token: str) -> tuple[LinkState, SignatureRef | None]:
    state, signature_ref = _read(token, CONFIRM_SALT, settings.SIGNATURE_CONFIRM_MAX_AGE)
    if state is LinkState.EXPIRED:
        # Authentic but old: still good for asking for a new link.
        renew_state, signature_ref = _read(token, CONFIRM_SALT, RENEW_MAX_AGE)
        if renew_state is not LinkState.VALID:
            return LinkState.INVALID, None
    return state, signature_ref


def read_withdraw_token(token: str) -> tuple[LinkState, SignatureRef | None]:
    """Withdrawal links never expire: they work until the signer's data is erased."""
    return _read(token, WITHDRAW_SALT, None)
