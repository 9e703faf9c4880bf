"""Signings taken while PostgreSQL does not answer: the spool.

A signing that passes every check (the petition open, the rate limit, the honeypot, the form's
timing, the fields) but cannot be written because the database does not answer is not refused:
`keep` writes it, sealed, to a list in Redis, and the signer sees the usual "check your inbox"
page. The email worker drains the list once the database answers again (`drain`, called from
petitions.emails.run_worker) through the same one-statement insert as any signing
(services.sign_petition), dated when it was taken, so that duplicates collapse there as they
always do: a second signing of one address, or one entry written twice by a drain killed between
the insert and the entry's removal, makes no second row and asks for no second email. Its email
goes out then.

Each entry is one string: the petition's id, the keyed hash of the address (as the signature
row keeps it), the time, and the signing itself (the cleaned form values and the language)
sealed with SIGNER_DATA_KEY (campaign.lib.sealed). Redis, its append-only file and its replicas
hold ciphertext only. The hash lets `erase` (erase_signer) find a signer's entries without
opening any, and the time lets `purge` (purge_unconfirmed) remove old ones; nothing of an entry
is ever logged. Entries are kept as long as it takes: there is no expiry but those two.

Where: SPOOL_URL, by default the cache's Redis. Production must make that Redis keep what it is
given (the README's "Running in production": append-only file, no eviction of keys without an
expiry). Without a spool (SPOOL_URL empty, as with development's per-process cache), or with
Redis away too, such a signing gets the calm 503 page, as before.

Several web instances and several workers share one spool: entries are added with one LPUSH,
and one drain at a time moves them (a lock in Redis that expires, so that a drain killed
mid-way holds nobody up); erasure waits for the drain in progress, so that no drain writes an
entry it has just erased.
"""

import contextlib
import datetime as dt
import functools
import json
import logging
import secrets
import time
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db import transaction
from django.utils import translation

from campaign.lib.outage import DATABASE_UNAVAILABLE
from campaign.lib.sealed import seal, unseal
from petitions import services
from petitions.forms import SignatureForm
from petitions.models import Petition, address_hash

logger = logging.getLogger(__name__)

# The keys: the entries (new ones pushed at the head, drained from the tail), those a drain
# could not write for a reason other than the database (set aside: kept for the retention jobs
# and erasure, never retried in a loop), and the drain's lock. Tests give each their own prefix.
PREFIX = "petitions:spool"
# Entries written per drain (each call of `drain`), and how long its lock holds at most.
BATCH = 200
LOCK_SECONDS = 30

# Removes the entries whose field ARGV[1] ("hash" or "petition") is one of ARGV[2..], or
# ("before") whose time is before ARGV[2], from each list in KEYS; returns how many. One
# script, so that no entry moves between reading and removing.
_REMOVE = """
local field, removed = ARGV[1], 0
for _, key in ipairs(KEYS) do
  for _, entry in ipairs(redis.call('LRANGE', key, 0, -1)) do
    local petition, hash, at = string.match(entry, '^(%d+):(%x+):([%d.]+):')
    local hit = false
    if field == 'before' then
      hit = at ~= nil and tonumber(at) < tonumber(ARGV[2])
    else
      local value = field == 'hash' and hash or petition
      for i = 2, #ARGV do
        if value == ARGV[i] then hit = true break end
      end
    end
    if hit then removed = removed + redis.call('LREM', key, 1, entry) end
  end
end
return removed
"""
# Releases the lock only if it is still this holder's (it may have expired and been taken).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_last_warnings: dict[str, float] = {}


def _warn(message: str, *args) -> None:
    """Log a warning at most once a minute per message and process: an outage is said once,
    not on every request."""
    now = time.monotonic()
    if now - _last_warnings.get(message, -60.0) >= 60:
        _last_warnings[message] = now
        logger.warning(message, *args)


def _keys() -> tuple[str, str, str]:
    return f"{PREFIX}:entries", f"{PREFIX}:aside", f"{PREFIX}:lock"


@functools.lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    # Short timeouts: a signer is waiting, and has already waited for the database.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def _client() -> redis.Redis | None:
    return _client_for(settings.SPOOL_URL) if settings.SPOOL_URL else None


def keep(*, petition: Petition, language: str, data: dict) -> bool:
    """Spool one signing that passed the form's checks (SignatureForm.spooled_data), made in
    `language`; False when there is no spool or Redis does not answer either (the caller then
    shows the 503 page)."""
    client = _client()
    if client is None:
        return False
    now = time.time()
    signing = {"petition": petition.pk, "language": language, "signed_at": now, "data": data}
    token = seal(json.dumps(signing, separators=(",", ":")))
    entry = f"{petition.pk}:{address_hash(data['email'])}:{now:.6f}:{token}"
    entries, _aside, _lock = _keys()
    try:
        client.lpush(entries, entry)
    except redis.RedisError as exc:
        _warn("Signing spool: Redis does not answer either (%s)", type(exc).__name__)
        return False
    _warn("The database does not answer: signings are kept in the spool until it is back")
    return True


def waiting() -> int:
    """How many signings wait in the spool (0 without one)."""
    client = _client()
    return client.llen(_keys()[0]) if client is not None else 0


@contextlib.contextmanager
def _drain_lock(client: redis.Redis, *, wait: float = 0.0) -> Iterator[bool]:
    """Hold the drain's lock, waiting up to `wait` seconds for it; yields whether it is held."""
    _entries, _aside, lock = _keys()
    token = secrets.token_hex(16)
    deadline = time.monotonic() + wait
    while not client.set(lock, token, nx=True, ex=LOCK_SECONDS):
        if time.monotonic() >= deadline:
            yield False
            return
        time.sleep(0.05)
    try:
        yield True
    finally:
        with contextlib.suppress(redis.RedisError):
            client.eval(_RELEASE, 1, lock, token)


def drain(*, limit: int = BATCH) -> int:
    """Write up to `limit` spooled signings to the database, oldest first, and return how many
    left the spool. Raises one of DATABASE_UNAVAILABLE when the database still does not answer
    (the entries stay, for the next call); Redis not answering is logged and waited out."""
    client = _client()
    if client is None:
        return 0
    entries, _aside, _lock = _keys()
    done = 0
    try:
        if not client.llen(entries):
            return 0
        with _drain_lock(client) as held:
            if not held:
                return 0  # another drain is at it
            batch = list(reversed(client.lrange(entries, -limit, -1)))
            _write_batch(client, batch)
            # Only now: a drain killed before this leaves the entries, written again by the
            # next drain, which collapses each into the row it made.
            removing = client.pipeline(transaction=False)
            for entry in batch:
                removing.lrem(entries, -1, entry)
            removing.execute()
            done = len(batch)
    except redis.RedisError as exc:
        _warn("Signing spool: Redis does not answer (%s)", type(exc).__name__)
    if done:
        logger.info("%s spooled signings written to the database", done)
    return done


def _write_batch(client: redis.Redis, batch: list[bytes]) -> None:
    """The batch in one transaction: one commit, one wait for the disk, rather than one per
    signing (a drain after an outage at a campaign's peak writes thousands). If a signing fails
    for a reason other than the database, again one at a time, so that only that one is set
    aside; one at a time too with EMAIL_QUEUE=immediate (development), which sends each email as
    its signing is written, and would send it again for a batch rolled back."""
    petitions: dict[int, Petition | None] = {}
    if settings.EMAIL_QUEUE != "immediate":
        try:
            with transaction.atomic():
                for entry in batch:
                    _write(entry, petitions)
            return
        except DATABASE_UNAVAILABLE:
            raise
        except Exception:
            pass  # which one it was is found below
    for entry in batch:
        try:
            _write(entry, petitions)
        except DATABASE_UNAVAILABLE:
            raise
        except Exception as exc:
            # It cannot be opened (its key is no longer in SIGNER_DATA_KEY) or written: kept
            # aside, within reach of erasure and the retention jobs, not retried for ever.
            logger.error("A spooled signing was set aside: %s", type(exc).__name__)
            client.lpush(_keys()[1], entry)


def _write(entry: bytes, petitions: dict[int, Petition | None]) -> None:
    """One spooled signing into the database, as services.sign_petition writes any, dated when
    it was signed. `petitions`: those of the batch so far, read once each."""
    signing = json.loads(unseal(entry.decode("ascii").split(":", 3)[3]))
    petition_id = signing["petition"]
    if petition_id not in petitions:
        petitions[petition_id] = Petition.objects.filter(pk=petition_id).first()
    petition = petitions[petition_id]
    if petition is None or not petition.is_open:
        # Taken while it was open; it could no longer be confirmed, so it is not written.
        logger.warning("A spooled signing was dropped: its petition takes no signatures now")
        return
    language = signing["language"]
    with translation.override(language):
        services.sign_petition(
            petition=petition,
            language=language,
            signed_at=dt.datetime.fromtimestamp(signing["signed_at"], tz=dt.UTC),
            **SignatureForm.signature_fields_of(signing["data"]),
        )


def _remove(field: str, *values: str) -> int:
    """Remove the entries matching (see _REMOVE), waiting for a drain in progress; 0 without a
    spool. Raises redis.RedisError if Redis does not answer: erasure and retention must not
    report done when they are not."""
    client = _client()
    if client is None:
        return 0
    entries, aside, _lock = _keys()
    with _drain_lock(client, wait=LOCK_SECONDS + 1) as held:
        if not held:
            raise RuntimeError("The signing spool stayed busy: run this again.")
        return client.eval(_REMOVE, 2, entries, aside, field, *values)


def erase(address: str) -> int:
    """Remove every spooled signing of this address (normalised as the form stores it, as
    erase_signer does); return how many."""
    return erase_hash(address_hash(address))


def erase_hash(email_hash: str) -> int:
    """Remove every spooled signing of the address with this keyed hash (a signer erasing
    their own data from an email's link, when the address itself is no longer kept)."""
    return _remove("hash", email_hash)


def forget_petition(petition_id: int) -> int:
    """Remove every spooled signing of this petition (anonymise_closed)."""
    return _remove("petition", str(petition_id))


def purge(*, older_than: dt.timedelta) -> int:
    """Remove the spooled signings older than this (purge_unconfirmed)."""
    return _remove("before", f"{time.time() - older_than.total_seconds():.6f}")
