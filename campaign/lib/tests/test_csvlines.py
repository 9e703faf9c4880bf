"""A chunk's CSV lines from its sealed columns, and opening a column of sealed values."""

import csv

import pytest

from campaign.lib.csvlines import chunk_text, csv_cell, neutralise
from campaign.lib.sealed import UnsealError, seal, unseal, unseal_column
from campaign.lib.tests.test_sealed import FIRST, NAME, altered, fernet_seal, new_key

EMAIL = "petitions_signature.email"


def test_a_column_opens_as_unseal_opens_each_value(settings):
    texts = [NAME, "a", "", "y" * 16, "Ünïcode " * 20]
    old = [seal(text, FIRST) if text else "" for text in texts]
    fernet = fernet_seal("older", settings.SIGNER_DATA_KEY[0])
    assert unseal_column(old, FIRST) == texts  # one key
    settings.SIGNER_DATA_KEY = [new_key(), *settings.SIGNER_DATA_KEY]
    tokens = [*old, seal("new", FIRST), fernet, ""]
    assert unseal_column(tokens, FIRST) == [*texts, "new", "older", ""]  # two keys, both formats
    assert unseal_column(tokens, FIRST) == [unseal(t, FIRST) if t else t for t in tokens]
    assert unseal_column(tuple(old), FIRST, keys=tuple(settings.SIGNER_DATA_KEY)) == texts
    assert unseal_column([]) == []


@pytest.mark.parametrize("keys", [1, 2])
def test_a_column_with_a_value_that_does_not_open_is_refused(settings, keys):
    if keys == 2:
        settings.SIGNER_DATA_KEY = [new_key(), *settings.SIGNER_DATA_KEY]
    good = seal(NAME, FIRST)
    for bad in [
        altered(good, 0),  # its key's id
        altered(good, 20),  # its ciphertext
        good[:12],  # too short for a nonce and a tag
        good[:-3] + "!!!",  # not base64
        good[:10] + "\n" + good[10:],  # a line break
        seal(NAME, EMAIL),  # another column's
        seal(NAME, ""),  # bound to nothing
    ]:
        with pytest.raises(UnsealError):
            unseal_column([good, bad, good], FIRST)
    with pytest.raises(UnsealError):
        unseal_column([good, "gAAAAAB-broken"], FIRST)


class _Line:
    def write(self, value: str) -> str:
        return value


def test_a_chunk_is_written_as_csv_writer_writes_it(settings):
    keys = tuple(settings.SIGNER_DATA_KEY)
    writer = csv.writer(_Line(), lineterminator="\r\n")
    plain = [["Ada", "ada@example.org"], ["Bo", ""], ["Zoë", "z@example.org"]]
    tricky = [["=1+1", '"q"'], ["a,b", "line\nbreak"], ["\tx", "-y"], ["@z", "\r\n"]]
    for rows in (plain, tricky, plain + tricky):
        columns = [
            [seal(row[0], FIRST) for row in rows],
            [seal(row[1], EMAIL) if row[1] else "" for row in rows],
            [f"rest{n}" for n in range(len(rows))],
        ]
        expected = "".join(
            writer.writerow([neutralise(cell) for cell in row])[:-2] + f",rest{n}\r\n"
            for n, row in enumerate(rows)
        )
        assert chunk_text(columns, [FIRST, EMAIL], keys) == expected


def test_a_cell_is_neutralised_then_quoted():
    assert csv_cell('=HYPERLINK("x")') == '"\'=HYPERLINK(""x"")"'
    assert csv_cell("Ada") == "Ada" and csv_cell("") == ""
