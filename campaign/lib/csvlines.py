"""CSV lines whose first cells are sealed values, written a chunk of rows at a time.

A chunk is a list of rows, each the tokens of its sealed values then the rest of its line
already written (by the database: see petitions.exports). Its sealed values are opened a
column at a time (unseal_column), made cells as csv.writer writes them, formula-neutralised,
and the lines put together by str.join over the columns: nothing is done a row in Python that
a loop in C can do. Nothing here needs Django's settings: the keys are handed over.
"""

import re
from collections.abc import Sequence

from campaign.lib.sealed import unseal_column

# A spreadsheet reads a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What makes csv.writer quote a cell: its delimiter, its quote character, a line break.
_QUOTED = re.compile('[",\r\n]').search
# A chunk's opened values are looked at together, laid end to end with NULs between them: one
# search each for what could start a formula or need quoting, and only a chunk where something
# turns up is written value by value.
_SUSPECT = ["\x00" + start for start in FORMULA_STARTS] + ['"', ",", "\r", "\n"]


def neutralise(value: str) -> str:
    """Make a cell that a spreadsheet would run as a formula read as plain text."""
    if value and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_cell(value: str) -> str:
    """A cell as csv.writer writes it (quoted only where it must be), neutralised."""
    value = neutralise(value)
    return '"' + value.replace('"', '""') + '"' if _QUOTED(value) else value


def csv_cells(values: list[str]) -> list[str]:
    text = "\x00" + "\x00".join(values)
    if not any(suspect in text for suspect in _SUSPECT):
        return values
    return [csv_cell(value) for value in values]


def chunk_text(
    columns: Sequence[Sequence[str]], contexts: Sequence[str], keys: tuple[str, ...]
) -> str:
    """The lines of a chunk given by its columns, each line ending in CRLF: each row's sealed
    values (one a context, "" for none) opened with `keys` and written as cells, then the rest
    of its line."""
    width = len(contexts)
    cells = [
        csv_cells(unseal_column(columns[index], contexts[index], keys=keys))
        for index in range(width)
    ]
    return "\r\n".join(map(",".join, zip(*cells, columns[width], strict=True))) + "\r\n"
