"""Sealing personal data with keys from the settings, and finding it by keyed hashes."""

import base64

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
    unseal_many,
)

NAME = "Zoë Ørsted-Łukasiewicz"
FIRST, EMAIL = "petitions_signature.first_name", "petitions_signature.email"
# Sealed once with this key: what is stored today must open however the code changes (the
# key's derivation, its id and the format are part of every database).
KNOWN_KEY = "c2VhbGVkIHZhbHVlcyBrbm93biBhbnN3ZXIga2V5ISE="
KNOWN = {
    "g1.IvssTjbWIO93YTEkeIkj7aa3Gt4r-zzJZp9xrGt4gwfp19GzkxAuQAYFG1mQRvmd9ypo7tnMKI8M": (
        "petitions_signature.last_name"
    ),
    # Fernet's token, as values were sealed before.
    "gAAAAABrDna3XCSuNNuGWKpgjVHcW6Y7lf8waIJlwrf_k9cBnKUcM9A5-vUoNeoToXDTI0M9PVnMKX91dqjg2855DX2k"
    "824rrWNmrUC8ZULynkRxA8J4WwI=": "",
}


def new_key() -> str:
    return Fernet.generate_key().decode()


def fernet_seal(text: str, key: str) -> str:
    """A value as it was sealed before the current format (Fernet, bound to nothing)."""
    return Fernet(key).encrypt(text.encode()).decode()


def altered(token: str, at: int) -> str:
    """The value with one of its bytes changed: at 0-3 its key's id, 4-15 its nonce, then its
    ciphertext and, in the last 16, its tag."""
    data = bytearray(base64.urlsafe_b64decode(token[3:]))
    data[at] ^= 1
    return token[:3] + base64.urlsafe_b64encode(bytes(data)).decode()


def test_it_seals_text_so_that_it_reads_as_nothing_but_opens_again():
    token = seal(NAME, FIRST)
    assert NAME not in token and "rsted" not in token and "Zo" not in token
    assert token.isascii() and token.startswith("g1.")
    assert unseal(token, FIRST) == NAME
    assert unseal(seal("")) == ""


def test_it_seals_the_same_text_differently_each_time():
    assert seal(NAME) != seal(NAME)


def test_what_is_stored_today_still_opens(settings):
    settings.SIGNER_DATA_KEY = [KNOWN_KEY]
    for token, context in KNOWN.items():
        assert unseal(token, context) == NAME
        assert unseal_many([token], [context]) == [NAME]


def test_a_value_opens_only_where_it_was_sealed_for():
    token = seal(EMAIL, EMAIL)
    assert unseal(token, EMAIL) == EMAIL
    for elsewhere in (FIRST, "", "petitions_signature.email "):
        with pytest.raises(UnsealError):
            unseal(token, elsewhere)
    with pytest.raises(UnsealError):
        unseal_many([seal(NAME, FIRST), token], [FIRST])


def test_it_opens_values_sealed_under_an_older_key_while_the_new_one_seals(settings):
    old = seal(NAME, FIRST)
    settings.SIGNER_DATA_KEY = [new_key(), *settings.SIGNER_DATA_KEY]
    new = seal(NAME, FIRST)
    assert new[:11] != old[:11]  # another key's id
    assert unseal(old, FIRST) == unseal(new, FIRST) == NAME
    assert is_current(new) and not is_current(old)
    assert can_unseal(new) and can_unseal(old)


def test_it_reseals_a_value_under_the_first_key(settings):
    old = seal(NAME, FIRST)
    settings.SIGNER_DATA_KEY = [new_key(), *settings.SIGNER_DATA_KEY]
    resealed = reseal(old, FIRST)
    assert is_current(resealed) and unseal(resealed, FIRST) == NAME
    settings.SIGNER_DATA_KEY = settings.SIGNER_DATA_KEY[:1]  # the old key dropped
    assert unseal(resealed, FIRST) == NAME
    assert not can_unseal(old)


def test_it_still_opens_fernet_tokens_and_reseals_them_in_the_current_format(settings):
    token = fernet_seal(NAME, settings.SIGNER_DATA_KEY[0])
    assert unseal(token) == unseal(token, FIRST) == NAME
    assert unseal_many([token, None], [FIRST]) == [NAME, None]
    assert can_unseal(token) and not is_current(token)
    resealed = reseal(token, FIRST)
    assert resealed.startswith("g1.") and is_current(resealed)
    assert unseal(resealed, FIRST) == NAME
    with pytest.raises(UnsealError):
        unseal(resealed, EMAIL)
    # Under a key that was put second, as while a rotation runs.
    settings.SIGNER_DATA_KEY = [new_key(), *settings.SIGNER_DATA_KEY]
    assert unseal(token) == NAME and can_unseal(token)
    assert unseal(reseal(token, FIRST), FIRST) == NAME


@pytest.mark.parametrize("old_format", [False, True], ids=["current", "fernet"])
def test_it_refuses_a_value_that_no_key_opens_without_repeating_it(settings, old_format):
    token = fernet_seal(NAME, settings.SIGNER_DATA_KEY[0]) if old_format else seal(NAME)
    settings.SIGNER_DATA_KEY = [new_key()]
    assert not can_unseal(token) and not is_current(token)
    for attempt in (unseal, reseal):
        with pytest.raises(UnsealError) as refused:
            attempt(token)
        assert token not in str(refused.value) and "SIGNER_DATA_KEY" in str(refused.value)


def test_it_opens_many_values_at_once_as_it_opens_each(settings):
    texts = [NAME, "a", "x" * 15, "y" * 16, "Ünïcode " * 20, "ada@example.org"]
    old = [seal(text, FIRST) for text in texts]
    fernet = fernet_seal("older", settings.SIGNER_DATA_KEY[0])
    settings.SIGNER_DATA_KEY = [new_key(), *settings.SIGNER_DATA_KEY]
    new = [seal(text, FIRST) for text in texts]
    tokens = [old[0], None, new[1], "", *old[2:4], *new[2:], fernet, old[-1]]
    assert unseal_many(tokens, [FIRST]) == [
        unseal(token, FIRST) if token else token for token in tokens
    ]
    assert unseal_many(tokens, [FIRST]) == [
        NAME, None, "a", "", *texts[2:4], *texts[2:], "older", texts[-1]
    ]  # fmt: skip
    # Rows of two fields, each value checked against its own column.
    rows = [seal("Ada", FIRST), seal("ada@example.org", EMAIL), seal("Bo", FIRST), None]
    assert unseal_many(rows, [FIRST, EMAIL]) == ["Ada", "ada@example.org", "Bo", None]
    with pytest.raises(UnsealError):
        unseal_many(rows, [EMAIL, FIRST])
    assert unseal_many([]) == []


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: altered(seal(NAME), 1), id="key id"),
        pytest.param(lambda: altered(seal(NAME), 6), id="nonce"),
        pytest.param(lambda: altered(seal(NAME), 17), id="ciphertext"),
        pytest.param(lambda: altered(seal(NAME), -1), id="tag"),
        pytest.param(lambda: seal(NAME)[:-4], id="truncated"),
        pytest.param(lambda: seal("")[:40], id="shorter than a tag"),
        pytest.param(lambda: "g1.not base64 at all", id="not base64"),
        pytest.param(lambda: "g1.IvssTjbWIO93YTEke€", id="not ascii"),
        pytest.param(lambda: "not a value at all", id="neither format"),
        pytest.param(lambda: "gAAAAAB€", id="fernet, not ascii"),
        pytest.param(lambda: fernet_seal(NAME, new_key()), id="fernet, no key"),
    ],
)
def test_it_refuses_an_altered_value_and_many_values_when_one_does_not_open(bad):
    token = bad()
    with pytest.raises(UnsealError) as refused:
        unseal(token)
    assert token not in str(refused.value) and "SIGNER_DATA_KEY" in str(refused.value)
    with pytest.raises(UnsealError) as refused:
        unseal_many([seal(NAME), token, None])
    assert token not in str(refused.value) and "SIGNER_DATA_KEY" in str(refused.value)


def test_it_refuses_text_that_is_not_utf_8(settings):
    token = fernet_seal("x", settings.SIGNER_DATA_KEY[0])
    not_text = Fernet(settings.SIGNER_DATA_KEY[0]).encrypt(b"\xff\xfe").decode()
    assert unseal(token) == "x"
    with pytest.raises(UnsealError):
        unseal(not_text)


def test_a_lookup_hash_is_keyed_and_stays_when_the_data_key_changes(settings):
    digest = lookup_hash("ada@example.org")
    assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    assert lookup_hash("ada@example.org") == digest
    assert lookup_hash("ada@example.net") != digest
    settings.SIGNER_DATA_KEY = [new_key()]
    assert lookup_hash("ada@example.org") == digest
    settings.SIGNER_LOOKUP_KEY = new_key()
    assert lookup_hash("ada@example.org") != digest


def sealed_field(name: str = "secret", **options) -> SealedTextField:
    field = SealedTextField(**options)
    field.set_attributes_from_name(name)
    return field


def test_the_field_stores_a_sealed_value_and_gives_the_text_back():
    field = sealed_field()
    stored = field.get_db_prep_save(NAME, connection)
    assert stored.startswith("g1.") and NAME not in stored
    assert unseal(stored, field.sealing_context) == NAME
    assert field.from_db_value(stored, None, connection) == NAME


def test_the_field_refuses_a_value_copied_from_another_sealed_column():
    stored = sealed_field("other").get_db_prep_save(NAME, connection)
    with pytest.raises(UnsealError):
        sealed_field().from_db_value(stored, None, connection)


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
