"""Signed links in the emails: to confirm a signature (expiring), to withdraw it, and to ask
for a copy of the signer's data or its erasure; and the receipt each signer keeps to check the
hand-in.

A link names its signature by the signature's public id, a random UUID: the row's sequential
id would tell a signer roughly how many signed before them, and would sit in the logs of every
mail system the email passes. Links are signed with SECRET_KEY, and still read when signed with
a key in SECRET_KEY_FALLBACKS, so that changing the key breaks no link already emailed.
"""

import enum
import hashlib
import secrets
import uuid

from django.conf import settings
from django.core import signing

CONFIRM_SALT = "petitions.signature.confirm"
WITHDRAW_SALT = "petitions.signature.withdraw"
DATA_SALT = "petitions.signer.data"
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


def data_token(public_id: uuid.UUID) -> str:
    return signing.dumps(public_id.hex, salt=DATA_SALT)


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


def read_data_token(token: str) -> tuple[LinkState, SignatureRef | None]:
    """Links to a signer's own data never expire either: a signer may ask months later what is
    held about them. They work until the data is erased."""
    return _read(token, DATA_SALT, None)


# Receipts ----------------------------------------------------------------------------------
# What a signer keeps to check, after the hand-in, that their signature was among those handed
# in: a random code, drawn for each signature and derived from nothing about the signer, so
# that the hashes published with the hand-in name nobody. Sixteen characters from an alphabet
# of 32 without look-alikes (no 0, O, 1 or I): 80 bits, too many to guess a code from the
# published hashes. Shown in groups of four, K7QF-9M2D-XR4T-P8WZ; read back however it is
# typed (lower case, spaces or dashes anywhere).

RECEIPT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
RECEIPT_LENGTH = 16
RECEIPT_GROUP = 4


def new_receipt() -> str:
    """A fresh receipt code, normalised (no dashes): five random bits a character, from one
    read of the system's random source (the alphabet has 32 characters, so every one is as
    likely; a secrets.choice a character would read it sixteen times)."""
    return "".join(RECEIPT_ALPHABET[byte & 31] for byte in secrets.token_bytes(RECEIPT_LENGTH))


def normalise_receipt(text: str) -> str:
    """A code as typed, as new_receipt gives it: upper case, without spaces or dashes."""
    return "".join(char for char in text.upper() if char not in _RECEIPT_SEPARATORS)


def is_receipt(code: str) -> bool:
    """Whether a normalised code could be a receipt (its length and alphabet)."""
    return len(code) == RECEIPT_LENGTH and all(char in RECEIPT_ALPHABET for char in code)


def receipt_hash(code: str) -> str:
    """What the hand-in publishes of a receipt: the SHA-256 of its normalised code, in hex.
    Unkeyed, so that anyone can compute it from their code (printf %s CODE | sha256sum) and
    find it in the published list without the site."""
    return hashlib.sha256(normalise_receipt(code).encode("utf-8")).hexdigest()


def format_receipt(code: str) -> str:
    """A receipt as shown to its signer: K7QF-9M2D-XR4T-P8WZ."""
    code = normalise_receipt(code)
    return "-".join(code[n : n + RECEIPT_GROUP] for n in range(0, len(code), RECEIPT_GROUP))


_RECEIPT_SEPARATORS = frozenset(" -\t\u00a0\u2010\u2011\u2012\u2013\u2014\u2212")
