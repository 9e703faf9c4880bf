"""The hand-in document: the PDF the addressees receive, A4, in the language staff choose.

A cover letter, the call's text, the total and the counts by country, the signers' names, and
the SHA-256 of the hand-in's public manifest (what lets every signer check their receipt). It is
rendered from templates/petitions/hand_in.html by WeasyPrint, which lays out HTML and CSS
itself (no browser; the site's Content-Security-Policy plays no part) and needs the system's
Pango (Debian: libpango-1.0-0, libpangoft2-1.0-0) and fonts (fonts-dejavu-core).

The PDF is tagged (PDF/UA-1: a structure tree, the document's language and title), so that its
text can be selected, searched and read aloud by screen readers.

Laying out names costs WeasyPrint time that grows faster than their number (bench/HAND_IN.md),
so the document lists at most MAX_NAMES of them and says that the complete list is the package's
signatures.csv.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django_countries import countries

from petitions.models import Petition

# About a hundred pages, which WeasyPrint renders in 8 to 15 seconds on two shared cores, so
# that a hand-in stays within a web request's time; 100,000 names took four to five minutes and
# over 500 MiB (bench/HAND_IN.md).
MAX_NAMES = 10_000
# Names are set as short paragraphs: WeasyPrint takes time quadratic in a paragraph's length to
# break it across pages, and a list item per name (tagged one by one) took twice as long.
NAMES_PER_PARAGRAPH = 40
# Between the parts of one name, and before the dot after it, so that lines break only between
# names.
_NO_BREAK = "\u00a0"


@dataclass
class CountryNames:
    code: str
    name: str
    paragraphs: list[list[str]] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        """Each paragraph as set: names separated by a dot that stays on the line before."""
        return [f"{_NO_BREAK}· ".join(names) for names in self.paragraphs]

    def add(self, name: str) -> None:
        if not self.paragraphs or len(self.paragraphs[-1]) >= NAMES_PER_PARAGRAPH:
            self.paragraphs.append([])
        self.paragraphs[-1].append(name)


@dataclass(frozen=True)
class NameList:
    countries: list[CountryNames]
    named: int  # signatures with a name to list, listed here or not
    shown: int  # of which the document lists

    @property
    def truncated(self) -> bool:
        return self.shown < self.named


def full_name(first: str, last: str) -> str:
    """A name as listed: its parts held together on one line."""
    parts = " ".join(part for part in ((first or "").strip(), (last or "").strip()) if part)
    return _NO_BREAK.join(parts.split())


def name_list(rows: Iterable[tuple[str, str, str]], *, named: int) -> NameList:
    """The names to list, from (country, first name, last name) rows in the order to list them,
    a country's together; `named`: how many signatures may be named in all (the rows may stop
    short of them, at MAX_NAMES). A row without a name is not listed, nor counted as named."""
    groups: list[CountryNames] = []
    shown = 0
    for country, first, last in rows:
        name = full_name(first, last)
        if not name:
            named -= 1
            continue
        if not groups or groups[-1].code != country:
            groups.append(CountryNames(code=country, name=str(countries.name(country))))
        groups[-1].add(name)
        shown += 1
    return NameList(countries=groups, named=named, shown=shown)


def _absolute(viewname: str, slug: str) -> str:
    return settings.SITE_URL + reverse(viewname, kwargs={"slug": slug})


def render_hand_in_pdf(
    petition: Petition,
    *,
    language: str,
    frozen_at: dt.datetime,
    total: int,
    by_country: list[tuple[str, int]],
    names: Iterable[tuple[str, str, str]],
    named: int,
    manifest_sha256: str,
) -> bytes:
    """The hand-in document as PDF bytes, in `language`. `by_country`: exact (code, confirmed
    signatures) pairs, largest first; `names`: (country, first name, last name) rows of the
    signatures that may be named (neither hidden nor erased), at most MAX_NAMES, a country's
    together in by_country's order; `named`: how many signatures may be named in all."""
    from PIL import ImageFile
    from weasyprint import HTML  # a heavy import, needed only by a hand-in
    from weasyprint.urls import URLFetcher

    # Importing WeasyPrint tells Pillow, for the whole process, to accept truncated images; the
    # checks of uploaded portraits and logos (campaign.lib.images) must keep refusing them, and
    # this document loads no image.
    ImageFile.LOAD_TRUNCATED_IMAGES = False

    with translation.override(language):
        listed = name_list(names, named=named)
        html = render_to_string(
            "petitions/hand_in.html",
            {
                "language": language,
                "petition": petition,
                "frozen_at": frozen_at,
                "total": total,
                "by_country": [(code, countries.name(code), n) for code, n in by_country],
                "names": listed,
                "nameless": total - listed.named,
                "manifest_sha256": manifest_sha256,
                "check_url": _absolute("petitions:check_receipt", petition.slug),
                "manifest_url": _absolute("petitions:hand_in_manifest", petition.slug),
            },
        )
    # Nothing is fetched, neither from the network nor from this machine's files: the document
    # needs nothing outside itself, and the petition's text (Markdown) could name anything.
    fetcher = URLFetcher(allowed_protocols={"data"})
    document = HTML(string=html, base_url=settings.SITE_URL, url_fetcher=fetcher).render(
        pdf_tags=True
    )
    return document.write_pdf(pdf_variant="pdf/ua-1", pdf_tags=True)
