"""Personal data sealed in the database with keys that are not in it.

A copy of the database, a backup of it or a log of its statements must reveal nobody, so text
that names a person is stored sealed: encrypted and authenticated with AES-256-GCM, the
`cryptography` package's AEAD (`AESGCM`: one call seals, one call checks and opens; nothing
home-made), under a key read from the environment and never written to the database. Where rows
must be *found* by such text (one signature per address, a data officer's exact search), they
are found by a keyed hash of it (HMAC-SHA256), which says nothing to whoever lacks the key
either.

Why AES-GCM: an export opens two or three values a row for a million rows, and Fernet (the
format sealed before, AES-128-CBC with HMAC-SHA256) costs about 15 µs a value in Python, the
AEAD call about 1 µs (bench/EXPORT.md). Its one demand is that a nonce never repeats under a
key: nonces here are 96 random bits (os.urandom), and the chance that any two of n values
sealed under one key share one is about n²/2⁹⁷: for 4 million values (a million signatures
with all their fields) about 2⁻⁵³. NIST's limit for random nonces, 2³² values a key (SP
800-38D, 8.3), is a thousand times more than the site seals in a campaign, and a new key
(rotation) starts the count again.

A sealed value is text: "g1." and, in url-safe base64, the key's id (4 bytes), the nonce (12)
and the ciphertext with its tag (16). The key's id names the key that sealed it, so opening
tries no other; the associated data binds the value to where it belongs ("signer-data/" and a
sealed field's table and column, `sealed_context`), so that a value moved from one column to
another (an address into the name that the public list shows) is refused as an altered one
would be. Values without the prefix are Fernet tokens sealed before this format: they still
open (MultiFernet, with the same keys, whatever their column), and re-sealing
(`rotate_signer_key`) rewrites them in the current format.

Two settings (keys of 32 bytes in url-safe base64, as Fernet.generate_key() makes them; the
settings check them at start-up):

- SIGNER_DATA_KEY: one or more keys, the first seals, all open, so that a new key can be put
  first while values sealed with the old one are re-sealed (`reseal`). Each key's AES-256 key is
  derived from it with HKDF-SHA256: the keys keep Fernet's form, so that the list that sealed
  the Fernet tokens still opens them and no operator had to change a key for this format;
- SIGNER_LOOKUP_KEY: the key of the keyed hashes. It is not rotated with the data key: every
  stored hash would have to be recomputed from a value that may be gone (an address forgotten
  once its signature was confirmed keeps only its hash), and meanwhile duplicates would slip
  through.

`SealedTextField` does the sealing for a model: the instance holds the plain text, the column
the sealed value. Generic: this module knows no app.
"""

import base64
import binascii
import functools
import hashlib
import hmac
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import models, router, transaction
from django.db.models.expressions import ExpressionWrapper, Value
from django.utils.translation import gettext_lazy as _


class UnsealError(Exception):
    """A sealed value that none of the keys opens: the key it was sealed with has been taken
    out of SIGNER_DATA_KEY too early (or the value was altered, or moved from another column).
    Never carries the value."""


# The format: its prefix (a Fernet token starts "gA", never with a dot), then the key's id, the
# nonce and the ciphertext with its 16-byte tag. The smallest value seals an empty text.
PREFIX = "g1."
_ID_SIZE, _NONCE_SIZE, _TAG_SIZE = 4, 12, 16
_NONCE_END = _ID_SIZE + _NONCE_SIZE
_SMALLEST = _NONCE_END + _TAG_SIZE
# What HKDF derives each key's AES-256 key for, and what its id is a MAC of: changing either
# would leave every value sealed in this format unreadable.
_KEY_INFO = b"campaign.sealed signer-data AES-256-GCM g1"
_ID_INFO = b"campaign.sealed key id"
_URLSAFE = bytes.maketrans(b"-_", b"+/")


@dataclass(frozen=True)
class _DataKeys:
    current_id: bytes  # the first key's id: it seals
    current: AESGCM
    by_id: dict[bytes, AESGCM]  # every key, by its id: they open
    fernet: MultiFernet  # the same keys, for values sealed before this format


def _aead_key(key: str) -> tuple[bytes, AESGCM]:
    """A key of SIGNER_DATA_KEY as this format uses it: its id and its AES-256-GCM cipher."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        _key_bytes(key)
    )
    key_id = hmac.new(derived, _ID_INFO, hashlib.sha256).digest()[:_ID_SIZE]
    return key_id, AESGCM(derived)


@functools.lru_cache(maxsize=8)
def _keys(keys: tuple[str, ...]) -> _DataKeys:
    aead = [_aead_key(key) for key in keys]
    by_id = dict(aead)
    if len(by_id) != len({_key_bytes(key) for key in keys}):
        # One chance in four billion for two keys; the id would no longer say which key.
        raise ImproperlyConfigured(
            "Two keys in SIGNER_DATA_KEY have the same id: replace the newer one with another "
            "new key."
        )
    return _DataKeys(
        current_id=aead[0][0],
        current=aead[0][1],
        by_id=by_id,
        fernet=MultiFernet([Fernet(key) for key in keys]),
    )


def _data_keys() -> _DataKeys:
    # Read each time (cached per list of keys), so that tests overriding the setting are heard.
    return _keys(tuple(settings.SIGNER_DATA_KEY))


@functools.lru_cache(maxsize=64)
def _associated_data(context: str) -> bytes:
    return b"signer-data/" + context.encode("utf-8")


def sealed_context(model: type[models.Model], field_name: str) -> str:
    """What the values of a model's sealed field are bound to (their associated data): its table
    and column. Renaming either leaves the values sealed before unreadable under the new name:
    a migration that renames one opens them with the old context and seals them with the new."""
    return f"{model._meta.db_table}.{model._meta.get_field(field_name).column}"


_NO_KEY = (
    "A sealed value could not be opened with any key in SIGNER_DATA_KEY: the key it was sealed "
    "with is missing from the list (or the value was altered, or moved from another column)."
)


@functools.lru_cache(maxsize=8)
def _key_bytes(key: str) -> bytes:
    return base64.urlsafe_b64decode(key.encode("ascii"))


def _decoded(token: str) -> bytes | None:
    """The bytes of a value in this format (prefix removed, base64 decoded), None for any other
    text (a Fernet token). binascii on translated bytes: half the time of urlsafe_b64decode,
    and an export decodes two million of them."""
    if not token.startswith(PREFIX):
        return None
    try:
        data = binascii.a2b_base64(token[len(PREFIX) :].encode("ascii").translate(_URLSAFE))
    except (binascii.Error, UnicodeError):
        raise UnsealError(_NO_KEY) from None
    if len(data) < _SMALLEST:
        raise UnsealError(_NO_KEY)
    return data


def _open(keys: _DataKeys, token: str, associated_data: bytes) -> str:
    try:
        data = _decoded(token)
        if data is None:
            return keys.fernet.decrypt(token.encode("ascii")).decode("utf-8")
        aead = keys.by_id.get(data[:_ID_SIZE])
        if aead is None:
            raise UnsealError(_NO_KEY)
        nonce, sealed = data[_ID_SIZE:_NONCE_END], data[_NONCE_END:]
        return aead.decrypt(nonce, sealed, associated_data).decode("utf-8")
    except (InvalidTag, InvalidToken, UnicodeError):
        raise UnsealError(_NO_KEY) from None


def _sealed(keys: _DataKeys, text: str, associated_data: bytes) -> str:
    nonce = os.urandom(_NONCE_SIZE)
    sealed = keys.current.encrypt(nonce, text.encode("utf-8"), associated_data)
    return PREFIX + base64.urlsafe_b64encode(keys.current_id + nonce + sealed).decode("ascii")


def seal(text: str, context: str = "") -> str:
    """The text encrypted and authenticated under the first data key, bound to `context` (a
    sealed field's `sealed_context`; "" for a value kept elsewhere, such as the spool's): ASCII
    in the format above. Sealing the same text twice gives two different values."""
    return _sealed(_data_keys(), text, _associated_data(context))


def unseal(token: str, context: str = "") -> str:
    """The text a value was sealed from, opened with the data key that sealed it and checked
    against the context it was sealed for (a Fernet token, from before, against none)."""
    return _open(_data_keys(), token, _associated_data(context))


def unseal_many(tokens: Sequence[str | None], contexts: Sequence[str] = ("",)) -> list[str | None]:
    """What unseal gives for each value, None and "" passed through as the field does, for
    reading many rows at once (an export): the keys and the associated data looked up once, and
    unseal's path for the current format written out in the loop (an export opens two million
    values, and each call saved shows). The contexts are those of a row's fields in turn, the
    values laid row after row (the first value takes the first context, the next the second,
    and so on around). UnsealError if any value does not open."""
    keys = _data_keys()
    every = itertools.cycle([_associated_data(context) for context in contexts])
    by_id, decode, urlsafe, start = keys.by_id, binascii.a2b_base64, _URLSAFE, len(PREFIX)
    opened: list[str | None] = []
    try:
        for token, associated_data in zip(tokens, every, strict=False):
            if not token:
                opened.append(token)
            elif token.startswith(PREFIX):
                data = decode(token[start:].encode("ascii").translate(urlsafe))
                aead = by_id.get(data[:_ID_SIZE])
                if aead is None or len(data) < _SMALLEST:
                    raise UnsealError(_NO_KEY)
                nonce, sealed = data[_ID_SIZE:_NONCE_END], data[_NONCE_END:]
                opened.append(aead.decrypt(nonce, sealed, associated_data).decode("utf-8"))
            else:
                opened.append(_open(keys, token, associated_data))
    except (InvalidTag, binascii.Error, UnicodeError):
        raise UnsealError(_NO_KEY) from None
    return opened


def unseal_column(
    tokens: Sequence[str], context: str = "", *, keys: tuple[str, ...] | None = None
) -> list[str]:
    """What unseal_many gives for values of one field (one context, "" for none; "" passed
    through), made as short as it goes for an export, which spends most of its time here: the
    values in the current format decoded together (one base64 decoding of the column's text
    rather than a call a value), then each opened with one call of AESGCM. Values in Fernet's
    format, from before, are opened one at a time. UnsealError if any value does not open.
    `keys`, SIGNER_DATA_KEY's unless given, for a process without the settings."""
    keys = _data_keys() if keys is None else _keys(keys)
    associated_data = _associated_data(context)
    start = len(PREFIX)
    current = [token[start:] for token in tokens if token[:start] == PREFIX]
    opened = _open_current(keys, current, associated_data)
    if len(current) == len(tokens):
        return opened
    each = iter(opened)
    return [
        next(each)
        if token[:start] == PREFIX
        else _open(keys, token, associated_data)
        if token
        else token
        for token in tokens
    ]


def _open_current(keys: _DataKeys, tokens: list[str], associated_data: bytes) -> list[str]:
    """Values in the current format, their prefix taken off, opened."""
    if not tokens:
        return []
    lines = "\n".join(tokens).encode("ascii", "replace").translate(_URLSAFE).split(b"\n")
    if len(lines) != len(tokens):  # a value with a line break in it: not one this format writes
        raise UnsealError(_NO_KEY)
    decode, by_id = binascii.a2b_base64, keys.by_id
    try:
        datas = [decode(line) for line in lines]
        if len(by_id) == 1:
            # One key, nothing to look up: the values with its id are opened (one too short
            # to hold a nonce and a tag fails as an altered one does), any other refused.
            [(key_id, aead)] = by_id.items()
            decrypt = aead.decrypt
            opened = [
                decrypt(data[_ID_SIZE:_NONCE_END], data[_NONCE_END:], associated_data).decode()
                for data in datas
                if data[:_ID_SIZE] == key_id
            ]
            if len(opened) < len(datas):
                raise UnsealError(_NO_KEY)
            return opened
        opened = []
        for data in datas:
            aead = by_id.get(data[:_ID_SIZE])
            if aead is None or len(data) < _SMALLEST:
                raise UnsealError(_NO_KEY)
            sealed = data[_NONCE_END:]
            opened.append(aead.decrypt(data[_ID_SIZE:_NONCE_END], sealed, associated_data).decode())
        return opened
    except (InvalidTag, ValueError):  # binascii.Error and UnicodeError are ValueErrors
        raise UnsealError(_NO_KEY) from None


def is_current(token: str) -> bool:
    """Whether the value is in the current format and under the first data key: told by its
    key's id, without decrypting, so that a re-sealing run skips current values cheaply."""
    try:
        data = _decoded(token)
    except UnsealError:
        return False
    return data is not None and data[:_ID_SIZE] == _data_keys().current_id


def can_unseal(token: str) -> bool:
    """Whether some data key is the one that sealed the value: by its key's id in the current
    format, by the Fernet signature for a token from before; nothing decrypted."""
    keys = _data_keys()
    try:
        data = _decoded(token)
    except UnsealError:
        return False
    if data is not None:
        return data[:_ID_SIZE] in keys.by_id
    try:
        keys.fernet.extract_timestamp(token.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


def reseal(token: str, context: str = "") -> str:
    """The same text sealed again, in the current format and with the first data key;
    UnsealError if no key opens the value."""
    keys = _data_keys()
    associated_data = _associated_data(context)
    return _sealed(keys, _open(keys, token, associated_data), associated_data)


def keyed_hash(key: str, text: str) -> str:
    """HMAC-SHA256 of the text under a key (url-safe base64, as in the settings), in hex."""
    return hmac.new(_key_bytes(key), text.encode("utf-8"), hashlib.sha256).hexdigest()


def lookup_hash(text: str) -> str:
    """What rows are found by instead of a sealed text: its keyed hash under SIGNER_LOOKUP_KEY,
    64 hex characters. The same text always gives the same hash, so callers normalise first
    (one spelling per value)."""
    return keyed_hash(settings.SIGNER_LOOKUP_KEY, text)


class SealedTextField(models.TextField):
    """Text sealed in its column (see `seal`) and plain on the model instance, so that code
    reading `signature.first_name` works as before. None stays NULL and "" stays empty: an
    empty value says only that there is none. Values are bound to the field's table and column
    (`sealing_context`): one copied into another sealed column does not open there.

    The column can be read and written but never searched: a lookup on a sealed value could never
    match (each sealing differs), so every lookup but `isnull` is refused with an error rather
    than finding nothing. Find rows by a keyed hash of the value (`lookup_hash`) instead.
    """

    description = _("Text sealed with a key kept outside the database")

    @property
    def sealing_context(self) -> str:
        """As `sealed_context` says it, from the field itself."""
        model = getattr(self, "model", None)
        return f"{model._meta.db_table if model else ''}.{self.column}"

    def from_db_value(self, value, expression, connection):
        return unseal(value, self.sealing_context) if value else value

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        return seal(value, self.sealing_context) if value else value

    def get_lookup(self, lookup_name: str):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise FieldError(self._refusal(lookup_name))

    def get_transform(self, lookup_name: str):
        raise FieldError(self._refusal(lookup_name))

    def _refusal(self, lookup_name: str) -> str:
        model = getattr(self, "model", None)
        where = f"{model.__name__}.{self.name}" if model else self.name
        return (
            f"{where} is sealed: it cannot be searched with '{lookup_name}' (only 'isnull'); "
            "find rows by a keyed hash of the value instead."
        )


def stored_token(field_name: str) -> ExpressionWrapper:
    """A sealed field as its column holds it (the sealed value, unopened), for values() and
    values_list(): re-sealing reads them without opening the current ones, an export opens
    a chunk of them together (`unseal_many`)."""
    return ExpressionWrapper(models.F(field_name), output_field=models.TextField())


def as_stored(token: str) -> Value:
    """A sealed value to write into a sealed field's column as it is
    (update(field=as_stored(token))), not sealed again."""
    return Value(token, output_field=models.TextField())


def sealed_fields(model: type[models.Model]) -> list[str]:
    """The names of a model's sealed fields."""
    return [
        field.name for field in model._meta.concrete_fields if isinstance(field, SealedTextField)
    ]


# Re-sealing under a new key ---------------------------------------------------------------


@dataclass(frozen=True)
class ResealProgress:
    """Where a re-sealing run is, after a batch: rows looked at, rows whose values it re-sealed,
    and rows it left because another transaction held them (a later run takes them)."""

    rows: int = 0
    resealed: int = 0
    busy: int = 0


def reseal_rows(queryset: models.QuerySet, *, batch_size: int = 1000) -> Iterator[ResealProgress]:
    """Re-seal under the first data key, in the current format, every sealed value of these
    rows that is under another key or in Fernet's format from before, `batch_size` rows at a
    time in id order, each batch in its own short transaction with its rows locked (rows
    another transaction holds are skipped and counted as busy, so that signers are never kept
    waiting); yield the progress after each batch.

    Resumable: a current value costs a look at its key's id and no write, so a run after an
    interruption passes quickly over what the previous one did. UnsealError, with the batch
    rolled back, if a value is under none of the keys.
    """
    model = queryset.model
    using = router.db_for_write(model)
    names = sealed_fields(model)
    contexts = [sealed_context(model, name) for name in names]
    tokens = {f"sealed_{name}": stored_token(name) for name in names}
    rows = queryset.using(using).order_by("pk").annotate(**tokens)
    progress = ResealProgress()
    after = None
    while True:
        with transaction.atomic(using=using):
            batch = rows if after is None else rows.filter(pk__gt=after)
            locked = list(
                batch.select_for_update(skip_locked=True).values_list("pk", *tokens)[:batch_size]
            )
            if not locked:
                return
            resealed = 0
            for pk, *values in locked:
                changed = {
                    name: as_stored(reseal(token, context))
                    for name, context, token in zip(names, contexts, values, strict=True)
                    if token and not is_current(token)
                }
                if changed:
                    model._base_manager.using(using).filter(pk=pk).update(**changed)
                    resealed += 1
            last = locked[-1][0]
            # The rows of this stretch that were held by another transaction (SKIP LOCKED).
            seen = batch.filter(pk__lte=last).count()
        progress = ResealProgress(
            rows=progress.rows + seen,
            resealed=progress.resealed + resealed,
            busy=progress.busy + seen - len(locked),
        )
        after = last
        yield progress


@dataclass(frozen=True)
class SealCheck:
    rows: int  # rows looked at
    stale: int  # rows with a value under a key other than the first, or in Fernet's format
    unopenable: int  # of those, rows with a value that no key opens


def check_rows(queryset: models.QuerySet, *, chunk_size: int = 2000) -> SealCheck:
    """How many of these rows still have a value sealed under an older key or in the format
    from before (and how many have one that no key in the list opens), by their keys' ids or
    Fernet signatures alone: nothing is decrypted or changed."""
    names = sealed_fields(queryset.model)
    tokens = {f"sealed_{name}": stored_token(name) for name in names}
    values = queryset.order_by("pk").annotate(**tokens).values_list(*tokens)
    rows = stale = unopenable = 0
    for row in values.iterator(chunk_size=chunk_size):
        rows += 1
        old = [token for token in row if token and not is_current(token)]
        if old:
            stale += 1
            unopenable += not all(can_unseal(token) for token in old)
    return SealCheck(rows=rows, stale=stale, unopenable=unopenable)
