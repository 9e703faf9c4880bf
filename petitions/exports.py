"""Signatures out of the site: streamed CSV exports and the hand-in package.

Both read the database through a server-side cursor a chunk of rows at a time, open the
chunk's sealed names and addresses together and write its lines as one piece of text, so
memory stays flat however many signatures there are and the cost per row stays small
(bench/EXPORT.md). Every export is recorded (ExportRecord), the only thing written here: what
an export changes (the hand-in freezes the count) is in services.
"""

import csv
import datetime as dt
import functools
import hashlib
import io
import itertools
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, Func, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django_countries import countries

from campaign.lib.csvlines import chunk_text, csv_cell, neutralise
from campaign.lib.sealed import sealed_context, stored_token, unseal_many
from partners.models import Partner
from petitions import handin_pdf
from petitions.models import ExportRecord, Petition, Signature, public_figures

BOM = "\ufeff"
# Rows read from the server-side cursor at a time, opened together and written as one piece of
# text: large enough that per-chunk costs (a round trip, a decryption run, a write) vanish,
# small enough that a chunk's rows and text stay a few megabytes.
CHUNK_SIZE = 5000

HEADER = [
    "first_name",
    "last_name",
    "email",
    "country_code",
    "country_name",
    "confirmed_at",
    "updates_consent",
    "source_page",
]
FIELDS = [
    "first_name",
    "last_name",
    "email",
    "country",
    "confirmed_at",
    "wants_updates",
    "hide_name",
    "source",
    "source_story",
]


def _iso_utc(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class _Line:
    """A file-like object whose write() returns what was written, for csv.writer."""

    def write(self, value: str) -> str:
        return value


@functools.cache
def _country_cells(language: str) -> dict[str, str]:
    """Each country's name as its cell in the export, by code, in a language: looked up once
    per export language rather than once per row."""
    with translation.override(language):
        return {code: csv_cell(str(name)) for code, name in countries}


def _country_names() -> dict[str, str]:
    return _country_cells(translation.get_language() or settings.LANGUAGE_CODE)


# The cells that are not sealed are written by the database, as csv.writer would write them
# (neutralised where they hold what someone typed or chose), a row's arriving as one text:
# reading each value into Python, converting it and writing it out again costs more than all
# the rest of a row. Only the sealed values, which the database cannot open, are written here.


def _alone(compiler, connection, expression) -> str:
    sql, params = compiler.compile(expression)
    if params:  # the cells below repeat their expression's SQL: it must stand alone
        raise ValueError("A CSV cell's expression cannot take parameters.")
    return sql


class Cell(Func):
    """A text column (NULL as empty) as csv.writer writes it (quoted if it holds a quote, a
    comma or a line break), neutralised unless formula=False. The SQL names the column several
    times, so it must be a column (or an expression without parameters)."""

    output_field = TextField()

    def __init__(self, expression, *, formula: bool = True) -> None:
        super().__init__(expression)
        self.formula = formula

    def as_sql(self, compiler, connection, **extra_context):
        column = _alone(compiler, connection, *self.get_source_expressions())
        value = f"COALESCE(CAST({column} AS text), '')"
        postgresql = connection.vendor == "postgresql"
        char = "chr" if postgresql else "char"
        text = value
        if self.formula:
            starts = f"'=', '+', '-', '@', {char}(9), {char}(13)"
            text = (
                f"CASE WHEN substr({value}, 1, 1) IN ({starts}) "
                f"THEN '''' || {value} ELSE {value} END"
            )
        if postgresql:
            special = f"{value} ~ '[\",\\r\\n]'"
        else:  # SQLite has no regular expressions of its own
            needles = ("'\"'", "','", f"{char}(13)", f"{char}(10)")
            special = " OR ".join(f"instr({value}, {needle}) > 0" for needle in needles)
        quoted = f"'\"' || replace({text}, '\"', '\"\"') || '\"'"
        return f"CASE WHEN {special} THEN {quoted} ELSE {text} END", []


class Text(Func):
    """A column the site writes (a moment, a number): never quoted, never a formula; NULL as
    empty."""

    output_field = TextField()
    template = "COALESCE(CAST(%(expressions)s AS text), '')"


class YesNo(Func):
    output_field = TextField()
    template = "CASE WHEN %(expressions)s THEN 'yes' ELSE 'no' END"


class SourcePage(Func):
    """The page signed from (source, source_story): the source, or story:<slug> for a story's."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        source, story = (_alone(compiler, connection, e) for e in self.get_source_expressions())
        kind = Signature.Source.STORY.value
        if not kind.isalnum():  # written into the SQL
            raise ValueError(kind)
        sql = (
            f"CASE WHEN {source} = '{kind}' AND {story} <> '' "
            f"THEN 'story:' || {story} ELSE {source} END"
        )
        return sql, []


class CountryName(Func):
    """The country's name as its cell (_country_cells), looked up by the database in the names
    handed to it."""

    output_field = TextField()

    def __init__(self, expression, names: dict[str, str]) -> None:
        super().__init__(expression)
        self.names = json.dumps(names)

    def as_sql(self, compiler, connection, **extra_context):
        code = _alone(compiler, connection, *self.get_source_expressions())
        if connection.vendor == "postgresql":
            return f"COALESCE(%s::jsonb ->> {code}, '')", [self.names]
        return f"""COALESCE(json_extract(%s, '$."' || {code} || '"'), '')""", [self.names]


class Line(Func):
    """Cells joined into a line's text (without its end)."""

    output_field = TextField()
    arg_joiner = " || ',' || "
    template = "(%(expressions)s)"


class IsoUtc(Func):
    """A moment as the export writes it (as _iso_utc writes it: ISO 8601 in UTC, ending in Z,
    with microseconds only when there are some), written by the database."""

    output_field = TextField()
    template = (
        "replace(to_char(%(expressions)s AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
    )

    def as_sqlite(self, compiler, connection, **extra_context):
        # SQLite keeps a moment as UTC text, with microseconds only when there are some.
        template = "replace(%(expressions)s, ' ', 'T') || 'Z'"
        return self.as_sql(compiler, connection, template=template, **extra_context)


@dataclass(frozen=True)
class Layout:
    """A CSV's columns: the header; the sealed fields, the line's first cells, opened here
    (names left blank, and not opened, where hide_name says so); and the other cells, written
    by the database, made from the country names' cells (they are in the reader's language)."""

    header: list[str]
    sealed: tuple[str, ...]
    rest: Callable[[dict[str, str]], list]


# The sealed fields an export reads, those of them that hide_name leaves out, and the moments
# (read as text, IsoUtc).
SEALED_FIELDS = ("first_name", "last_name", "email")
NAME_FIELDS = ("first_name", "last_name")
MOMENT_FIELDS = ("created_at", "confirmed_at")


def _token(name: str):
    token = Coalesce(stored_token(name), Value(""), output_field=TextField())
    if name not in NAME_FIELDS:
        return token
    return Case(When(hide_name=True, then=Value("")), default=token, output_field=TextField())


# The admin's and the command's export. Only the cells that hold what someone typed can start
# like a formula; the others are written by the site. Signers who asked to be left out of the
# list handed in appear without their names, in every export.
SIGNATURES = Layout(
    header=HEADER,
    sealed=SEALED_FIELDS,
    rest=lambda names: [
        Cell("country", formula=False),
        CountryName("country", names),
        Text(IsoUtc("confirmed_at")),
        YesNo("wants_updates"),
        Cell(SourcePage("source", "source_story")),
    ],
)

# What governments receive: names (left out where the signer asked), country and date; never
# email addresses, consent or the page signed from.
HAND_IN = Layout(
    header=["first_name", "last_name", "country_code", "country_name", "confirmed_at"],
    sealed=NAME_FIELDS,
    rest=lambda names: [
        Cell("country", formula=False),
        CountryName("country", names),
        Text(IsoUtc("confirmed_at")),
    ],
)


def iter_csv(
    queryset: QuerySet, record: ExportRecord | None = None, *, layout: Layout = SIGNATURES
) -> Iterator[str]:
    """The CSV of these signatures in id order, as text chunks: a byte-order mark and header,
    then the lines of CHUNK_SIZE signatures at a time: the database writes each row's cells but
    the sealed ones, which are opened a column at a time (campaign.lib.csvlines). The record
    learns how many rows were written, and whether the export finished."""
    rest = Line(*layout.rest(_country_names()))
    tokens = [_token(name) for name in layout.sealed]
    contexts = [sealed_context(queryset.model, name) for name in layout.sealed]
    chunks = _chunks(queryset.order_by("pk").values_list(*tokens, rest))
    keys = tuple(settings.SIGNER_DATA_KEY)
    written = 0
    completed = False
    try:
        yield BOM + csv.writer(_Line(), lineterminator="\r\n").writerow(layout.header)
        for chunk in chunks:
            text = chunk_text(list(zip(*chunk, strict=True)), contexts, keys)
            written += len(chunk)
            yield text
        completed = True
    finally:
        chunks.close()  # the query ended (its rows drained) before the record is written
        if record is not None:
            finish_record(record, rows=written, completed=completed)


def _chunks(rows: QuerySet) -> Iterator[list[tuple]]:
    """The rows in lists of CHUNK_SIZE. From PostgreSQL, streamed (psycopg's stream(), CHUNK_SIZE
    rows a message): the server writes rows while this process handles the previous ones, where
    a server-side cursor outside a transaction (WITH HOLD) first writes them all."""
    if connection.vendor != "postgresql":
        rows = rows.iterator(chunk_size=CHUNK_SIZE)
        while chunk := list(itertools.islice(rows, CHUNK_SIZE)):
            yield chunk
        return
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        stream = cursor.cursor.stream(sql, params, size=CHUNK_SIZE)
        try:
            while chunk := list(itertools.islice(stream, CHUNK_SIZE)):
                yield chunk
        finally:
            stream.close()


def _column(name: str):
    if name in SEALED_FIELDS:
        return stored_token(name)
    if name in MOMENT_FIELDS:
        return IsoUtc(name)
    return name


def read_rows(queryset: QuerySet, fields: list[str]) -> Iterator[tuple]:
    """values_list(*fields) rows in id order, through a server-side cursor, moments as the
    export writes them (IsoUtc), sealed fields read as their tokens and opened CHUNK_SIZE rows
    at a time (unseal_many: the keys looked up once a chunk rather than once a value), for
    reading an export's rows in Python (the CSV itself is iter_csv's). The sealed fields come
    first among the fields. The names of signers who asked to be left out (hide_name, which
    must then be among the fields) are not opened at all: every export leaves them blank."""
    width = sum(name in SEALED_FIELDS for name in fields)
    if any(name in SEALED_FIELDS for name in fields[width:]):
        raise ValueError("read_rows needs the sealed fields first.")
    names = [index for index in range(width) if fields[index] in NAME_FIELDS]
    hidden = fields.index("hide_name") if names else None
    columns = [_column(name) for name in fields]
    contexts = [sealed_context(queryset.model, name) for name in fields[:width]]
    rows = queryset.order_by("pk").values_list(*columns).iterator(chunk_size=CHUNK_SIZE)
    if not width:
        yield from rows
        return
    while chunk := list(itertools.islice(rows, CHUNK_SIZE)):
        tokens: list[str | None] = []
        for row in chunk:
            if hidden is not None and row[hidden]:
                tokens += ["" if index in names else row[index] for index in range(width)]
            else:
                tokens += row[:width]
        opened = zip(*[iter(unseal_many(tokens, contexts))] * width, strict=True)
        for row, values in zip(chunk, opened, strict=True):
            yield values + row[width:]


def export_rows(queryset: QuerySet) -> Iterator[tuple]:
    """The rows of the export (values_list(*FIELDS) tuples, names and addresses opened)."""
    return read_rows(queryset, FIELDS)


def signatures_for_export(queryset: QuerySet, *, include_pending: bool = False) -> QuerySet:
    queryset = queryset.exportable()
    if not include_pending:
        queryset = queryset.confirmed()
    return queryset


def export_filename(petition: Petition | None, when: dt.datetime | None = None) -> str:
    day = (when or timezone.now()).date().isoformat()
    stem = petition.slug if petition else "all-petitions"
    return f"{stem}-signatures-{day}.csv"


def recorded_filters(filters: dict) -> dict:
    """The filters as the record keeps them: the search term may be an email address, so the
    record says only that there was one."""
    kept = {name: value for name, value in (filters or {}).items() if name != "q"}
    term = (filters or {}).get("q")
    if any(term if isinstance(term, list) else [term]):
        kept["search"] = "yes"
    return kept


def start_record(
    *, kind: str, user=None, username: str = "", petition=None, partner=None, filters=None
) -> ExportRecord:
    return ExportRecord.objects.create(
        kind=kind,
        user=user if user is not None and user.is_authenticated else None,
        username=username or getattr(user, "username", "") or "system",
        petition=petition,
        partner=partner,
        filters=recorded_filters(filters),
    )


def finish_record(record: ExportRecord, *, rows: int, completed: bool = True) -> None:
    ExportRecord.objects.filter(pk=record.pk).update(row_count=rows, completed=completed)


def write_csv(queryset: QuerySet, stream: IO[str], record: ExportRecord) -> int:
    for chunk in iter_csv(queryset, record):
        stream.write(chunk)
    record.refresh_from_db()
    return record.row_count or 0


# A partner's consenting signers ---------------------------------------------------------
# For the partner to email: only the confirmed signers who agreed to it, each with the words
# they agreed to (the wording's id is its version: a changed text is a new wording) and when.

PARTNER_HEADER = [
    "first_name",
    "last_name",
    "email",
    "country_code",
    "country_name",
    "language",
    "consent_wording_version",
    "consent_wording",
    "consented_at",
    "confirmed_at",
]


def partner_signers(*, partner: Partner, petition: Petition) -> QuerySet:
    """Confirmed, not erased signatures of the petition made through the partner's link whose
    signers agreed to hear from the partner."""
    return (
        Signature.objects.exportable()
        .confirmed()
        .filter(petition=petition, partner=partner, partner_updates=True, erased_at__isnull=True)
    )


# The consent was given when signing. Every cell is neutralised, as the partner's list holds
# the wording's text as well as what the signer typed.
PARTNER = Layout(
    header=PARTNER_HEADER,
    sealed=SEALED_FIELDS,
    rest=lambda names: [
        Cell("country"),
        CountryName("country", names),
        Cell("language"),
        Text("partner_updates_wording"),
        Cell("partner_updates_wording__text"),
        Text(IsoUtc("created_at")),
        Text(IsoUtc("confirmed_at")),
    ],
)


def iter_partner_csv(queryset: QuerySet, record: ExportRecord) -> Iterator[str]:
    return iter_csv(queryset, record, layout=PARTNER)


def partner_export_filename(
    partner: Partner, petition: Petition, when: dt.datetime | None = None
) -> str:
    day = (when or timezone.now()).date().isoformat()
    return f"{petition.slug}-{partner.slug}-consenting-signers-{day}.csv"


# The hand-in package ---------------------------------------------------------------------


class _HashingWriter(io.RawIOBase):
    """Passes bytes on to a zip member while computing their SHA-256."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        return self.target.write(data)


def _add_text(archive: zipfile.ZipFile, name: str, chunks: Iterable[str]) -> str:
    with archive.open(name, "w", force_zip64=True) as member:
        hashing = _HashingWriter(member)
        for chunk in chunks:
            hashing.write(chunk.encode("utf-8"))
    return hashing.sha256.hexdigest()


@contextmanager
def snapshot() -> Iterator[None]:
    """A transaction in which every read sees the same moment. PostgreSQL needs it said as the
    transaction's first statement; SQLite's transactions see one moment already. Inside a
    transaction already open (a caller's, or the tests') that one decides."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


# The hand-in's public part: what anyone may read, published at the petition's hand-in/ address
# once it is handed in, and in the package's public/ folder. receipts.txt: the SHA-256 of each
# receipt handed in, sorted, one a line; counts.csv: the total, then the counts by country as
# the public breakdown shows them (rounded down, small countries together as OTHER: see
# petitions.models.public_figures), so that publishing them singles out nobody; MANIFEST.sha256:
# the SHA-256 of both, as sha256sum writes them (`sha256sum -c MANIFEST.sha256` checks them).
RECEIPTS_FILE = "receipts.txt"
COUNTS_FILE = "counts.csv"
MANIFEST_FILE = "MANIFEST.sha256"
PUBLIC_FOLDER = "public/"


def public_countries(by_country: Iterable[tuple[str, int]]) -> list[list[str | int]]:
    """The counts by country as the public part publishes them (and the petition stores them)."""
    return public_figures(
        by_country, rounding=settings.BREAKDOWN_ROUNDING, min_count=settings.BREAKDOWN_MIN_COUNT
    )


def iter_public_counts(total: int, rows: Iterable[list]) -> Iterator[str]:
    """counts.csv, from the total and public_countries' rows: the same bytes whenever it is
    written again from what the petition stored."""
    yield "country_code,confirmed_signatures\n"
    yield f"TOTAL,{total}\n"
    for code, count in rows:
        yield f"{code or 'OTHER'},{count}\n"


def iter_receipts(hashes: Iterable[str]) -> Iterator[str]:
    """receipts.txt, from the receipt hashes in order, in chunks of lines."""
    lines: list[str] = []
    for digest in hashes:
        lines.append(digest)
        if len(lines) == CHUNK_SIZE:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def public_manifest(hashes: dict[str, str]) -> str:
    """MANIFEST.sha256 from {file name: SHA-256}, in sha256sum's format."""
    return "".join(f"{digest}  {name}\n" for name, digest in hashes.items())


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PublicPart:
    manifest: str  # MANIFEST.sha256
    manifest_sha256: str
    countries: list  # public_countries' rows, for counts.csv


@dataclass(frozen=True)
class HandInPackage:
    file: IO[bytes]  # a temporary file, at its start; whoever sends it closes it
    filename: str
    total: int  # the confirmed signatures in it
    public: PublicPart | None = None


def write_hand_in(
    petition: Petition, *, frozen_at: dt.datetime, language: str = "en"
) -> HandInPackage:
    """Write the hand-in ZIP for a petition to a temporary file.

    The signatures CSV (names of signers who opted out left out), a per-country summary, a
    printable summary and a manifest with the SHA-256 of each file all come from one
    database snapshot (the caller's, when it opened one). The printable summary and the
    country names are in `language`. Freezing the count is the caller's: see
    services.hand_in.
    """
    package = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it
    with snapshot():
        signatures = Signature.objects.confirmed().filter(petition=petition)
        # With the signatures listed without a name (signed without one, left out at the
        # signer's request, or erased: hide_name), counted in the same query.
        by_country = list(
            signatures.values("country")
            .annotate(total=Count("id"), without_name=Count("id", filter=Q(hide_name=True)))
            .order_by("-total", "country")
        )
        total = sum(row["total"] for row in by_country)
        without_name = sum(row["without_name"] for row in by_country)
        hashes: dict[str, str] = {}
        with zipfile.ZipFile(package, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            hashes["signatures.csv"] = _add_text(
                archive,
                "signatures.csv",
                iter_csv(signatures, layout=HAND_IN),
            )
            with translation.override(language):
                hashes["countries.csv"] = _add_text(
                    archive, "countries.csv", _country_csv(by_country)
                )
                summary = render_to_string(
                    "petitions/hand_in_summary.html",
                    {
                        "petition": petition,
                        "total": total,
                        "by_country": [
                            (code, countries.name(code), n) for code, n in _pairs(by_country)
                        ],
                        "frozen_at": frozen_at,
                        "without_name": without_name,
                    },
                )
            hashes["summary.html"] = _add_text(archive, "summary.html", [summary])
            public = _add_public_part(archive, hashes, signatures, total, _pairs(by_country))
            named = total - without_name
            document = handin_pdf.render_hand_in_pdf(
                petition,
                language=language,
                frozen_at=frozen_at,
                total=total,
                by_country=list(_pairs(by_country)),
                names=_names_to_list(signatures, _pairs(by_country), limit=handin_pdf.MAX_NAMES),
                named=named,
                manifest_sha256=public.manifest_sha256,
            )
            archive.writestr("hand-in.pdf", document)
            hashes["hand-in.pdf"] = hashlib.sha256(document).hexdigest()
            manifest = {
                "petition": petition.slug,
                "title": petition.text_in("title", "en") or petition.title,
                "summary_language": language,
                "frozen_at": _iso_utc(frozen_at),
                "confirmed_signatures": total,
                "signatures_without_name": without_name,
                "public_manifest_sha256": public.manifest_sha256,
                "files": {name: {"sha256": digest} for name, digest in hashes.items()},
            }
            archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
            archive.writestr("SHA256SUMS", "".join(f"{h}  {n}\n" for n, h in hashes.items()))
    package.seek(0)
    return HandInPackage(
        file=package,
        filename=f"{petition.slug}-hand-in-{frozen_at:%Y-%m-%d}.zip",
        total=total,
        public=public,
    )


def _add_public_part(
    archive: zipfile.ZipFile,
    hashes: dict[str, str],
    signatures: QuerySet,
    total: int,
    by_country: Iterable[tuple[str, int]],
) -> PublicPart:
    """Write the public part into the package's public/ folder (and its files' hashes into
    `hashes`, for the package's own manifest)."""
    receipts = (
        signatures.order_by("receipt_hash")
        .values_list("receipt_hash", flat=True)
        .iterator(chunk_size=CHUNK_SIZE)
    )
    rows = public_countries(by_country)
    listed = {
        RECEIPTS_FILE: _add_text(archive, PUBLIC_FOLDER + RECEIPTS_FILE, iter_receipts(receipts)),
        COUNTS_FILE: _add_text(
            archive, PUBLIC_FOLDER + COUNTS_FILE, iter_public_counts(total, rows)
        ),
    }
    manifest = public_manifest(listed)
    hashes.update({PUBLIC_FOLDER + name: digest for name, digest in listed.items()})
    hashes[PUBLIC_FOLDER + MANIFEST_FILE] = _add_text(
        archive, PUBLIC_FOLDER + MANIFEST_FILE, [manifest]
    )
    return PublicPart(manifest=manifest, manifest_sha256=sha256_text(manifest), countries=rows)


def _names_to_list(
    signatures: QuerySet, by_country: Iterable[tuple[str, int]], *, limit: int
) -> Iterator[tuple[str, str, str]]:
    """(country, first name, last name) of the signatures that may be named, at most `limit`,
    country by country in by_country's order and in the order they signed: one query per
    country, each stopping where the limit does, so that no more names are opened than listed."""
    remaining = limit
    for code, _total in by_country:
        if remaining <= 0:
            return
        rows = (
            signatures.filter(country=code, hide_name=False)
            .order_by("pk")
            .values_list("country", "first_name", "last_name")[:remaining]
        )
        for row in rows.iterator(chunk_size=CHUNK_SIZE):
            remaining -= 1
            yield row


def _pairs(by_country: list[dict]) -> Iterator[tuple[str, int]]:
    for row in by_country:
        yield row["country"], row["total"]


def _country_csv(by_country: list[dict]) -> Iterator[str]:
    writer = csv.writer(_Line(), lineterminator="\r\n")
    yield BOM + writer.writerow(["country_code", "country_name", "confirmed_signatures"])
    for code, total in _pairs(by_country):
        yield writer.writerow([code, neutralise(str(countries.name(code))), str(total)])
