"""The export's writer (the database writing the cells it can, the sealed ones opened a column at
a time) against a plain one: csv.writer over the
signatures as the model reads them. Byte for byte, on the rows most likely to differ."""

import csv
import datetime as dt
import io

import pytest
from cryptography.fernet import Fernet
from django.utils import translation
from django_countries import countries

from campaign.lib.sealed import as_stored
from petitions import exports
from petitions.models import ConsentWording, Signature
from petitions.services import erase_signer

pytestmark = pytest.mark.django_db

TRICKY = [
    '=HYPERLINK("http://evil.example","click")',
    "+31 6 1234",
    "-minus",
    "@at",
    "\ttab",
    "\rreturn",
    'Quote "in" it',
    "comma, here",
    "line\nbreak",
    "crlf\r\nbreak",
    "Zoë Ünïcode 漢字 🙂",
    "'already quoted",
    " leading space",
    "",
]


def reference(queryset, header, row) -> str:
    """The CSV as csv.writer writes it, row by row from the model's instances."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    names = {code: str(name) for code, name in countries}
    for signature in queryset.order_by("pk"):
        writer.writerow(row(signature, names))
    return "\ufeff" + out.getvalue()


def moment(value) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else ""


def signatures_row(signature, names) -> list[str]:
    hidden = signature.hide_name
    code = str(signature.country.code or "")
    source = signature.source
    if source == Signature.Source.STORY and signature.source_story:
        source = f"story:{signature.source_story}"
    return [
        exports.neutralise("" if hidden else signature.first_name),
        exports.neutralise("" if hidden else signature.last_name),
        exports.neutralise(signature.email or ""),
        code,
        exports.neutralise(names.get(code, "")),
        moment(signature.confirmed_at),
        "yes" if signature.wants_updates else "no",
        exports.neutralise(source),
    ]


def hand_in_row(signature, names) -> list[str]:
    first, last, _email, code, name, confirmed, _consent, _source = signatures_row(signature, names)
    return [first, last, code, name, confirmed]


def partner_row(signature, names) -> list[str]:
    hidden = signature.hide_name
    code = str(signature.country.code or "")
    wording = signature.partner_updates_wording
    cells = [
        "" if hidden else signature.first_name,
        "" if hidden else signature.last_name,
        signature.email or "",
        code,
        exports.neutralise(names.get(code, "")),
        signature.language,
        str(wording.pk) if wording else "",
        wording.text if wording else "",
        moment(signature.created_at),
        moment(signature.confirmed_at),
    ]
    return [exports.neutralise(cell) for cell in cells]


@pytest.fixture
def tricky(settings, petition, make_signature):
    """Signatures with every kind of value the writer treats apart."""
    made = []
    for n, text in enumerate(TRICKY):
        made.append(
            make_signature(
                petition,
                confirmed=n % 4 != 3,
                first_name=text,
                last_name=TRICKY[-1 - n],
                email=f"signer.{n}@example.org",
                wants_updates=n % 2 == 0,
                hide_name=n % 5 == 4,
                country=["NL", "BQ", "TR", "KR"][n % 4],  # BQ: a name with a comma
            )
        )
    Signature.objects.filter(pk=made[1].pk).update(source="story", source_story="a-story")
    Signature.objects.filter(pk=made[2].pk).update(source="story", source_story='=b,"c"')
    Signature.objects.filter(pk=made[4].pk).update(
        confirmed_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    )
    Signature.objects.filter(pk=made[5].pk).update(
        confirmed_at=dt.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=dt.UTC)
    )
    # Sealed as before the current format (Fernet), as values still are until re-sealed.
    fernet = Fernet(settings.SIGNER_DATA_KEY[0])
    Signature.objects.filter(pk=made[6].pk).update(
        first_name=as_stored(fernet.encrypt(b'Old, "Fernet"').decode()),
        last_name=as_stored(fernet.encrypt(b"=old").decode()),
    )
    erase_signer(made[7].email)
    return made


def test_the_export_writes_what_csv_writer_writes(tricky):
    queryset = Signature.objects.all()
    expected = reference(queryset, exports.HEADER, signatures_row)
    assert "".join(exports.iter_csv(queryset)) == expected
    assert '\'=HYPERLINK(""http://evil.example"",""click"")' in expected  # the rows are tricky
    assert '"Bonaire, Sint Eustatius and Saba"' in expected
    assert "2026-01-02T03:04:05Z" in expected and "2026-01-02T03:04:05.120000Z" in expected


def test_every_chunk_is_written_the_same(tricky, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 2)
    queryset = Signature.objects.all()
    chunks = list(exports.iter_csv(queryset))
    assert "".join(chunks) == reference(queryset, exports.HEADER, signatures_row)
    assert len(chunks) == 1 + (len(TRICKY) + 1) // 2


def test_the_hand_in_and_the_partner_list_write_what_csv_writer_writes(tricky, dignity, petition):
    queryset = Signature.objects.confirmed()
    expected = reference(queryset, exports.HAND_IN.header, hand_in_row)
    assert "".join(exports.iter_csv(queryset, layout=exports.HAND_IN)) == expected

    wording = ConsentWording.objects.get(
        pk=ConsentWording.objects.id_for("en", '=Yes, "send"\nme news')
    )
    Signature.objects.update(partner=dignity, partner_updates=True)
    Signature.objects.filter(pk__in=[s.pk for s in tricky[::2]]).update(
        partner_updates_wording=wording
    )
    plain = ConsentWording.objects.get(pk=ConsentWording.objects.id_for("en", "Only\na line"))
    Signature.objects.filter(pk__in=[s.pk for s in tricky[1::4]]).update(
        partner_updates_wording=plain
    )
    expected = reference(queryset, exports.PARTNER_HEADER, partner_row)
    assert "".join(exports.iter_csv(queryset, layout=exports.PARTNER)) == expected


def test_country_names_are_in_the_readers_language(petition, make_signature):
    make_signature(petition, confirmed=True, country="DE")
    with translation.override("nl"):
        text = "".join(exports.iter_csv(Signature.objects.all()))
    assert ",DE,Duitsland," in text
