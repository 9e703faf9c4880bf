"""Signed links in the emails: to confirm a signature (expiring) and to withdraw it."""

import enum

from django.conf import settings
from django.core import signing

CONFIRM_SALT = "petitions.signature.confirm"
WITHDRAW_SALT = "petitions.signature.withdraw"
# An expired confirmation link can still ask for a fresh one for this long.
RENEW_MAX_AGE = 90 * 24 * 3600


class LinkState(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


def confirm_token(signature_id: int) -> str:
    return signing.dumps(signature_id, salt=CONFIRM_SALT)


def withdraw_token(signature_id: int) -> str:
    return signing.dumps(signature_id, salt=WITHDRAW_SALT)


def _read(token: str, salt: str, max_age: int | None) -> tuple[LinkState, int | None]:
    try:
        value = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        return LinkState.EXPIRED, None
    except signing.BadSignature:
        return LinkState.INVALID, None
    if not isinstance(value, int):
        return LinkState.INVALID, None
    return LinkState.VALID, value


def read_confirm_token(token: str) -> tuple[LinkState, int | None]:
    state, signature_id = _read(token, CONFIRM_SALT, settings.SIGNATURE_CONFIRM_MAX_AGE)
    if state is LinkState.EXPIRED:
        # Authentic but old: still good for asking for a new link.
        renew_state, signature_id = _read(token, CONFIRM_SALT, RENEW_MAX_AGE)
        if renew_state is not LinkState.VALID:
            return LinkState.INVALID, None
    return state, signature_id


def read_withdraw_token(token: str) -> tuple[LinkState, int | None]:
    return _read(token, WITHDRAW_SALT, None)
