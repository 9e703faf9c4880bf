"""`manage.py rotate_signer_key`: signers' data re-sealed under the first of SIGNER_DATA_KEY and in
the current format, in batches, resumable, with progress, and `--check` to see what is left."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaign.lib.sealed import (
    UnsealError,
    as_stored,
    is_current,
    reseal_rows,
    stored_token,
    unseal,
)
from petitions.models import Signature

pytestmark = pytest.mark.django_db

SEALED = ("first_name", "last_name", "email")


def new_key() -> str:
    return Fernet.generate_key().decode()


def tokens() -> list[str]:
    """Every sealed value as stored, unopened (empty ones left out)."""
    rows = Signature.objects.values_list(*(stored_token(name) for name in SEALED))
    return [token for row in rows for token in row if token]


def rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_signer_key", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def signatures(petition, make_signature):
    """Five signatures under the old key: one with its address kept, one that forgot it once
    confirmed, one signed without a name."""
    made = [
        make_signature(petition, confirmed=True, wants_updates=True),
        make_signature(petition, confirmed=True),
        make_signature(petition, first_name="", last_name="", hide_name=True),
        make_signature(petition),
        make_signature(petition),
    ]
    assert made[1].email is None  # forgotten: nothing to re-seal there
    return made


@pytest.fixture
def new_first_key(settings, signatures):
    """A new key put first, the old one kept after it: how a rotation starts."""
    old = list(settings.SIGNER_DATA_KEY)
    settings.SIGNER_DATA_KEY = [new_key(), *old]
    return old


def test_it_reseals_everything_under_the_new_key_in_batches(settings, new_first_key):
    before = {s.pk: (s.first_name, s.last_name, s.email) for s in Signature.objects.all()}
    assert not any(is_current(token) for token in tokens())
    out = rotate("--batch-size", "2")
    assert out.splitlines() == [
        "2 of 5 rows done, 2 re-encrypted",
        "4 of 5 rows done, 4 re-encrypted",
        "5 of 5 rows done, 5 re-encrypted",
        "Every signature is sealed with the first key.",
    ]
    assert all(is_current(token) for token in tokens())
    settings.SIGNER_DATA_KEY = settings.SIGNER_DATA_KEY[:1]  # the old key dropped
    after = {s.pk: (s.first_name, s.last_name, s.email) for s in Signature.objects.all()}
    assert after == before


def test_it_moves_values_sealed_in_the_format_from_before_to_the_current_one(settings, signatures):
    """The same key throughout: rotating is also how old Fernet tokens leave the database."""
    fernet = Fernet(settings.SIGNER_DATA_KEY[0])
    before = {}
    for signature in Signature.objects.all():
        values = {name: getattr(signature, name) for name in SEALED}
        before[signature.pk] = values
        Signature.objects.filter(pk=signature.pk).update(
            **{
                name: as_stored(fernet.encrypt(value.encode()).decode())
                for name, value in values.items()
                if value
            }
        )
    assert tokens() and all(token.startswith("gAAAAA") for token in tokens())
    # Still read as they are, and counted as left to do.
    assert {s.pk: {n: getattr(s, n) for n in SEALED} for s in Signature.objects.all()} == before
    with pytest.raises(SystemExit):
        call_command("rotate_signer_key", "--check", stdout=StringIO())
    assert "5 of 5 rows done, 5 re-encrypted" in rotate()
    assert all(token.startswith("g1.") and is_current(token) for token in tokens())
    assert rotate("--check") == "0 of 5 rows are still under an older key or format.\n"
    after = {s.pk: {n: getattr(s, n) for n in SEALED} for s in Signature.objects.all()}
    assert after == before
    # Each value bound to its column: the address opens as an address, not as a name.
    email = Signature.objects.filter(email__isnull=False).values_list(stored_token("email"))[0][0]
    assert "@" in unseal(email, "petitions_signature.email")
    with pytest.raises(UnsealError):
        unseal(email, "petitions_signature.first_name")


def test_check_counts_the_rows_left_under_an_older_key(new_first_key):
    out = StringIO()
    with pytest.raises(SystemExit) as stopped:
        call_command("rotate_signer_key", "--check", stdout=out)
    assert stopped.value.code == 1
    assert out.getvalue() == "5 of 5 rows are still under an older key or format.\n"
    rotate()
    assert rotate("--check") == "0 of 5 rows are still under an older key or format.\n"


def test_a_run_after_an_interruption_writes_only_what_is_left(new_first_key):
    first_batch = next(reseal_rows(Signature.objects.all(), batch_size=2))  # then stopped
    assert (first_batch.rows, first_batch.resealed) == (2, 2)
    with CaptureQueriesContext(connection) as queries:
        out = rotate("--batch-size", "2")
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 3
    assert "5 of 5 rows done, 3 re-encrypted" in out
    assert all(is_current(token) for token in tokens())


def test_it_stops_at_a_value_no_key_opens_and_keeps_the_batch_as_it_was(
    settings, petition, make_signature
):
    lost = new_key()
    settings.SIGNER_DATA_KEY = [lost]
    make_signature(petition, first_name="Orphan")
    settings.SIGNER_DATA_KEY = [new_key()]  # the key that sealed it is gone
    stored = tokens()
    with pytest.raises(CommandError, match="another column\\). Nothing more was changed"):
        rotate()
    assert tokens() == stored
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("rotate_signer_key", "--check", stdout=out)
    assert "1 of them are under a key that is no longer in SIGNER_DATA_KEY" in out.getvalue()


def test_it_says_when_there_is_nothing_to_do(db):
    assert rotate() == "No signatures to re-encrypt.\n"


def test_it_refuses_an_empty_batch(db):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        rotate("--batch-size", "0")
