"""Signatures out of the site: streamed CSV exports and the hand-in package.

Both read the database through an iterator in chunks and write row by row, so memory stays
flat however many signatures there are. Every export is recorded (ExportRecord), the only
thing written here: what an export changes (the hand-in freezes the count) is in services.
"""

import csv
import datetime as dt
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from django.db import connection, transaction
from django.db.models import Count, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django_countries import countries

from partners.models import Partner
from petitions.models import ExportRecord, Petition, Signature

BOM = "\ufeff"
CHUNK_SIZE = 2000
# A spreadsheet reads a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

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


def neutralise(value: str) -> str:
    """Make a cell that a spreadsheet would run as a formula read as plain text."""
    if value and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _iso_utc(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _source_page(source: str, story: str) -> str:
    return f"story:{story}" if source == Signature.Source.STORY and story else source


def csv_row(values: tuple) -> list[str]:
    """One export row from a values_list(*FIELDS) tuple. Signers who asked to be left out
    of the list handed in appear without their names."""
    first, last, email, country, confirmed_at, consent, hide_name, source, story = values
    if hide_name:
        first = last = ""
    row = [
        first,
        last,
        email or "",
        country,
        str(countries.name(country)) if country else "",
        _iso_utc(confirmed_at),
        "yes" if consent else "no",
        _source_page(source, story),
    ]
    return [neutralise(cell) for cell in row]


# What governments receive: names (left out where the signer asked), country and date; never
# email addresses, consent or the page signed from.
HAND_IN_HEADER = ["first_name", "last_name", "country_code", "country_name", "confirmed_at"]


def hand_in_row(values: tuple) -> list[str]:
    first, last, _email, country, name, confirmed_at, _consent, _source = csv_row(values)
    return [first, last, country, name, confirmed_at]


class _Line:
    """A file-like object whose write() returns what was written, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def iter_csv(
    rows: Iterable[tuple],
    record: ExportRecord | None = None,
    *,
    header: list[str] = HEADER,
    row=csv_row,
) -> Iterator[str]:
    """The CSV as text chunks: a byte-order mark and header, then one line per signature.
    The record learns how many rows were written, and whether the export finished."""
    writer = csv.writer(_Line(), lineterminator="\r\n")
    written = 0
    completed = False
    try:
        yield BOM + writer.writerow(header)
        for values in rows:
            yield writer.writerow(row(values))
            written += 1
        completed = True
    finally:
        if record is not None:
            finish_record(record, rows=written, completed=completed)


def export_rows(queryset: QuerySet) -> Iterator[tuple]:
    return queryset.order_by("pk").values_list(*FIELDS).iterator(chunk_size=CHUNK_SIZE)


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


def write_csv(rows: Iterable[tuple], stream: IO[str], record: ExportRecord) -> int:
    for chunk in iter_csv(rows, record):
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
PARTNER_FIELDS = [
    "first_name",
    "last_name",
    "email",
    "country",
    "language",
    "partner_updates_wording",
    "partner_updates_wording__text",
    "created_at",
    "confirmed_at",
    "hide_name",
]


def partner_signers(*, partner: Partner, petition: Petition) -> QuerySet:
    """Confirmed, not erased signatures of the petition made through the partner's link whose
    signers agreed to hear from the partner."""
    return (
        Signature.objects.exportable()
        .confirmed()
        .filter(petition=petition, partner=partner, partner_updates=True, erased_at__isnull=True)
    )


def partner_csv_row(values: tuple) -> list[str]:
    """One row from a values_list(*PARTNER_FIELDS) tuple; the consent was given when signing.
    Signers who asked to be left out of the list handed in appear without their names, as in
    every export."""
    first, last, email, country, language, wording_id, wording, signed_at, confirmed_at, hide = (
        values
    )
    if hide:
        first = last = ""
    row = [
        first,
        last,
        email or "",
        country,
        str(countries.name(country)) if country else "",
        language,
        str(wording_id or ""),
        wording or "",
        _iso_utc(signed_at),
        _iso_utc(confirmed_at),
    ]
    return [neutralise(cell) for cell in row]


def iter_partner_csv(queryset: QuerySet, record: ExportRecord) -> Iterator[str]:
    rows = queryset.order_by("pk").values_list(*PARTNER_FIELDS).iterator(chunk_size=CHUNK_SIZE)
    return iter_csv(rows, record, header=PARTNER_HEADER, row=partner_csv_row)


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


@dataclass(frozen=True)
class HandInPackage:
    file: IO[bytes]  # a temporary file, at its start; whoever sends it closes it
    filename: str
    total: int  # the confirmed signatures in it


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
        by_country = list(
            signatures.values("country").annotate(total=Count("id")).order_by("-total", "country")
        )
        total = sum(row["total"] for row in by_country)
        hashes: dict[str, str] = {}
        with zipfile.ZipFile(package, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            hashes["signatures.csv"] = _add_text(
                archive,
                "signatures.csv",
                iter_csv(export_rows(signatures), header=HAND_IN_HEADER, row=hand_in_row),
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
                    },
                )
            hashes["summary.html"] = _add_text(archive, "summary.html", [summary])
            manifest = {
                "petition": petition.slug,
                "title": petition.text_in("title", "en") or petition.title,
                "summary_language": language,
                "frozen_at": _iso_utc(frozen_at),
                "confirmed_signatures": total,
                "files": {name: {"sha256": digest} for name, digest in hashes.items()},
            }
            archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
            archive.writestr("SHA256SUMS", "".join(f"{h}  {n}\n" for n, h in hashes.items()))
    package.seek(0)
    return HandInPackage(
        file=package, filename=f"{petition.slug}-hand-in-{frozen_at:%Y-%m-%d}.zip", total=total
    )


def _pairs(by_country: list[dict]) -> Iterator[tuple[str, int]]:
    for row in by_country:
        yield row["country"], row["total"]


def _country_csv(by_country: list[dict]) -> Iterator[str]:
    writer = csv.writer(_Line(), lineterminator="\r\n")
    yield BOM + writer.writerow(["country_code", "country_name", "confirmed_signatures"])
    for code, total in _pairs(by_country):
        yield writer.writerow([code, neutralise(str(countries.name(code))), str(total)])
