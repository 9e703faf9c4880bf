"""Personal data sealed in the database with keys that are not in it.

A copy of the database, a backup of it or a log of its statements must reveal nobody, so text
that names a person is stored sealed: encrypted and authenticated with Fernet (the
`cryptography` package's AES-128-CBC with HMAC-SHA256; nothing home-made here), under a key
read from the environment and never written to the database. Where rows must be *found* by
such text (one signature per address, a data officer's exact search), they are found by a
keyed hash of it (HMAC-SHA256), which says nothing to whoever lacks the key either.

Two settings (keys of 32 bytes in url-safe base64, as Fernet.generate_key() makes them; the
settings check them at start-up):

- SIGNER_DATA_KEY: one or more Fernet keys, the first seals, all open (MultiFernet), so that a
  new key can be put first while values sealed with the old one are re-sealed (`reseal`);
- SIGNER_LOOKUP_KEY: the key of the keyed hashes. It is not rotated with the data key: every
  stored hash would have to be recomputed from a value that may be gone (an address forgotten
  once its signature was confirmed keeps only its hash), and meanwhile duplicates would slip
  through.

`SealedTextField` does the sealing for a model: the instance holds the plain text, the column
the token. Generic: this module knows no app.
"""

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError
from django.db import models, router, transaction
from django.db.models.expressions import ExpressionWrapper, Value
from django.utils.translation import gettext_lazy as _


class UnsealError(Exception):
    """A sealed value that none of the keys opens: the key it was sealed with has been taken
    out of SIGNER_DATA_KEY too early (or the value was altered). Never carries the value."""


@dataclass(frozen=True)
class _DataKeys:
    all: MultiFernet  # seals with the first, opens with any
    each: tuple[Fernet, ...]  # the first tells current tokens; each, tokens some key opens


@functools.lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> _DataKeys:
    each = tuple(Fernet(key) for key in keys)
    return _DataKeys(all=MultiFernet(each), each=each)


def _data_keys() -> _DataKeys:
    # Read each time (cached per list of keys), so that tests overriding the setting are heard.
    return _fernets(tuple(settings.SIGNER_DATA_KEY))


def _signed_by(fernet: Fernet, token: str) -> bool:
    """Whether this key made the token: its signature checked, nothing decrypted."""
    try:
        fernet.extract_timestamp(token.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


_NO_KEY = (
    "A sealed value could not be opened with any key in SIGNER_DATA_KEY: the key it was sealed "
    "with is missing from the list."
)


@functools.lru_cache(maxsize=8)
def _key_bytes(key: str) -> bytes:
    return base64.urlsafe_b64decode(key.encode("ascii"))


def seal(text: str) -> str:
    """The text encrypted and authenticated under the first data key: a Fernet token (ASCII).
    Sealing the same text twice gives two different tokens."""
    return _data_keys().all.encrypt(text.encode("utf-8")).decode("ascii")


def unseal(token: str) -> str:
    """The text a token was sealed from, opened with whichever data key sealed it."""
    try:
        return _data_keys().all.decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise UnsealError(_NO_KEY) from None


def is_current(token: str) -> bool:
    """Whether the token was sealed with the first data key: checked by its signature alone,
    without decrypting, so that a re-sealing run skips current tokens cheaply."""
    return _signed_by(_data_keys().each[0], token)


def can_unseal(token: str) -> bool:
    """Whether some data key opens the token (by its signature, without decrypting)."""
    return any(_signed_by(fernet, token) for fernet in _data_keys().each)


def reseal(token: str) -> str:
    """The same text sealed with the first data key (MultiFernet.rotate); UnsealError if no key
    opens the token."""
    try:
        return _data_keys().all.rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise UnsealError(_NO_KEY) from None


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
    empty value says only that there is none.

    The column can be read and written but never searched: a lookup on a token could never
    match (each sealing differs), so every lookup but `isnull` is refused with an error rather
    than finding nothing. Find rows by a keyed hash of the value (`lookup_hash`) instead.
    """

    description = _("Text sealed with a key kept outside the database")

    def from_db_value(self, value, expression, connection):
        return unseal(value) if value else value

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        return seal(value) if value else value

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
    """A sealed field as its column holds it (the token, unopened), for values() and
    values_list(): re-sealing reads tokens without opening the current ones."""
    return ExpressionWrapper(models.F(field_name), output_field=models.TextField())


def as_stored(token: str) -> Value:
    """A token to write into a sealed field's column as it is (update(field=as_stored(token))),
    not sealed again."""
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
    """Re-seal under the first data key every sealed value of these rows that is under another
    key, `batch_size` rows at a time in id order, each batch in its own short transaction with
    its rows locked (rows another transaction holds are skipped and counted as busy, so that
    signers are never kept waiting); yield the progress after each batch.

    Resumable: a current token costs a signature check and no write, so a run after an
    interruption passes quickly over what the previous one did. UnsealError, with the batch
    rolled back, if a value is under none of the keys.
    """
    model = queryset.model
    using = router.db_for_write(model)
    names = sealed_fields(model)
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
                    name: as_stored(reseal(token))
                    for name, token in zip(names, values, strict=True)
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
    stale: int  # rows with a value under a key other than the first
    unopenable: int  # of those, rows with a value that no key opens


def check_rows(queryset: models.QuerySet, *, chunk_size: int = 2000) -> SealCheck:
    """How many of these rows still have a value sealed under an older key (and how many have
    one that no key in the list opens), by their signatures alone: nothing is decrypted or
    changed."""
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
