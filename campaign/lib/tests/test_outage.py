"""Reading through a database outage: TimedCache.read gives the value last kept while the
database does not answer, and only then."""

import pytest
from django.db import IntegrityError, InterfaceError, OperationalError

from campaign.lib.outage import DATABASE_UNAVAILABLE
from campaign.lib.pagecache import TimedCache


def expire(kept: TimedCache) -> None:
    kept.entries.update((key, (0.0, value)) for key, (_t, value) in kept.entries.items())


def failing(error: Exception):
    def read():
        raise error

    return read


def test_it_reads_once_and_keeps_the_value():
    kept = TimedCache(seconds=60)
    reads = []
    assert kept.read("k", lambda: reads.append(1) or "fresh") == "fresh"
    assert kept.read("k", failing(OperationalError())) == "fresh"
    assert reads == [1]


def test_an_expired_value_is_read_again():
    kept = TimedCache(seconds=60)
    kept.read("k", lambda: "old")
    expire(kept)
    assert kept.read("k", lambda: "new") == "new"


@pytest.mark.parametrize("error", [OperationalError("gone"), InterfaceError("closed")])
def test_while_the_database_is_away_it_gives_the_value_last_kept(error):
    kept = TimedCache(seconds=60)
    kept.read("k", lambda: "old")
    expire(kept)
    assert kept.get("k") is None
    assert kept.stale("k") == "old"
    assert kept.read("k", failing(error)) == "old"


def test_with_nothing_kept_the_outage_is_raised():
    kept = TimedCache(seconds=60)
    with pytest.raises(OperationalError):
        kept.read("k", failing(OperationalError("gone")))


def test_other_database_errors_are_raised_whatever_was_kept():
    kept = TimedCache(seconds=60)
    kept.read("k", lambda: "old")
    expire(kept)
    with pytest.raises(IntegrityError):
        kept.read("k", failing(IntegrityError("wrong")))
    assert IntegrityError not in DATABASE_UNAVAILABLE


def test_a_cleared_value_is_not_given_again():
    kept = TimedCache(seconds=60)
    kept.read("k", lambda: "old")
    kept.clear()
    with pytest.raises(OperationalError):
        kept.read("k", failing(OperationalError("gone")))
