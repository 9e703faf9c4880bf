"""Sealing personal data with keys from the settings, and finding it by keyed hashes."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.db import connection

from campaign.lib.sealed import (
    SealedTextField,
    UnsealError,
    can_unseal,
    is_current,
    lookup_hash,
    reseal,
    seal,
    unseal,
)

NAME = "Zoë Ørsted-Łukasiewicz"


def new_key() -> str:
    return Fernet.generate_key().decode()


def test_it_seals_text_so_that_it_reads_as_nothing_but_opens_again():
    token = seal(NAME)
    assert NAME not in token and "rsted" not in token
    assert token.isascii()
    assert unseal(token) == NAME


def test_it_seals_the_same_text_differently_each_time():
    assert seal(NAME) != seal(NAME)


def test_it_opens_values_sealed_under_an_older_key_while_the_new_one_seals(settings):
    old = seal(NAME)
    settings.SIGNER_DATA_KEY = [new_key(), *settings.SIGNER_DATA_KEY]
    new = seal(NAME)
    assert unseal(old) == unseal(new) == NAME
    assert is_current(new) and not is_current(old)


def test_it_reseals_a_value_under_the_first_key(settings):
    old = seal(NAME)
    settings.SIGNER_DATA_KEY = [new_key(), *settings.SIGNER_DATA_KEY]
    resealed = reseal(old)
    assert is_current(resealed) and unseal(resealed) == NAME
    settings.SIGNER_DATA_KEY = settings.SIGNER_DATA_KEY[:1]  # the old key dropped
    assert unseal(resealed) == NAME
    assert not can_unseal(old)


def test_it_refuses_a_value_that_no_key_opens_without_repeating_it(settings):
    token = seal(NAME)
    settings.SIGNER_DATA_KEY = [new_key()]
    assert not can_unseal(token) and not is_current(token)
    for attempt in (unseal, reseal):
        with pytest.raises(UnsealError) as refused:
            attempt(token)
        assert token not in str(refused.value) and "SIGNER_DATA_KEY" in str(refused.value)


def test_it_refuses_a_token_that_was_altered():
    token = seal(NAME)
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(UnsealError):
        unseal(altered)


def test_a_lookup_hash_is_keyed_and_stays_when_the_data_key_changes(settings):
    digest = lookup_hash("ada@example.org")
    assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    assert lookup_hash("ada@example.org") == digest
    assert lookup_hash("ada@example.net") != digest
    settings.SIGNER_DATA_KEY = [new_key()]
    assert lookup_hash("ada@example.org") == digest
    settings.SIGNER_LOOKUP_KEY = new_key()
    assert lookup_hash("ada@example.org") != digest


def sealed_field(**options) -> SealedTextField:
    field = SealedTextField(**options)
    field.set_attributes_from_name("secret")
    return field


def test_the_field_stores_a_token_and_gives_the_text_back():
    field = sealed_field()
    stored = field.get_db_prep_save(NAME, connection)
    assert stored != NAME and unseal(stored) == NAME
    assert field.from_db_value(stored, None, connection) == NAME


@pytest.mark.parametrize("value", [None, ""])
def test_the_field_keeps_nothing_as_nothing(value):
    field = sealed_field(null=True, blank=True)
    assert field.get_db_prep_save(value, connection) == value
    assert field.from_db_value(value, None, connection) == value


@pytest.mark.parametrize("lookup", ["exact", "iexact", "startswith", "in", "contains"])
def test_the_field_refuses_every_search_but_isnull(lookup):
    field = sealed_field()
    with pytest.raises(
        FieldError, match=f"secret is sealed: it cannot be searched with '{lookup}'"
    ):
        field.get_lookup(lookup)
    assert field.get_lookup("isnull") is not None


def test_the_field_refuses_transforms():
    with pytest.raises(FieldError, match="is sealed"):
        sealed_field().get_transform("lower")
