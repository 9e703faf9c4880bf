"""The hand-in document: a tagged A4 PDF with the cover letter, the call, the counts, the names
and the manifest's hash, in the language staff choose. Read back as text with pypdf."""

import hashlib
import io
import zipfile

import pytest
from django.utils import timezone
from pypdf import PdfReader

from petitions import exports, handin_pdf, services

pytestmark = pytest.mark.django_db

A4 = (595.28, 841.89)  # points


def _pdf(package: exports.HandInPackage) -> bytes:
    return zipfile.ZipFile(package.file).read("hand-in.pdf")


def _text(pdf: bytes) -> str:
    """The document's text, whitespace made single spaces (lines wrap anywhere)."""
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.fixture
def signed(petition, make_signature):
    make_signature(petition, confirmed=True, country="NL", first_name="Ada", last_name="Named")
    make_signature(petition, confirmed=True, country="NL", first_name="Grace", last_name="Listed")
    make_signature(petition, confirmed=True, country="BE", first_name="Hedy", last_name="Belgian")
    make_signature(
        petition, confirmed=True, country="NL", first_name="Hidden", last_name="Person",
        hide_name=True,
    )  # fmt: skip
    # Signed without a name (the form's choice stores none and hides the signature).
    make_signature(petition, confirmed=True, country="BE", first_name="", last_name="",
                   hide_name=True)  # fmt: skip
    erased = make_signature(
        petition, confirmed=True, country="NL", first_name="Erased", last_name="Signer"
    )
    services.erase_personal_data(erased)
    make_signature(petition, country="NL", first_name="Pending", last_name="Signer")
    return petition


def test_it_hands_in_a_document_with_the_letter_the_call_the_counts_and_the_names(
    signed, django_user_model
):
    user = django_user_model.objects.create_user("lead", password="x", is_staff=True)
    package = services.hand_in(petition=signed, user=user)
    archive = zipfile.ZipFile(package.file)
    pdf = archive.read("hand-in.pdf")
    # Listed in the package's own manifests, like every file in it.
    assert f"{hashlib.sha256(pdf).hexdigest()}  hand-in.pdf" in archive.read("SHA256SUMS").decode()
    text = _text(pdf)

    # The cover letter, to the petition's addressees.
    assert "To: governments at the UN" in text
    assert "Dear governments at the UN," in text
    assert "hands you the petition “Protect defenders”, with 6 confirmed signatures" in text
    # The call's text.
    assert "Defenders need protection." in text
    assert "Protect them." in text and "Stop attacking them." in text
    # The total and the counts by country, exact (the public breakdown's rounding is not here).
    assert "6 confirmed signatures, as of" in text
    assert "Netherlands 4" in text and "Belgium 2" in text and "Total 6" in text
    # The names, by country: none of a hidden, name-less, erased or pending signature.
    assert "Ada Named · Grace Listed" in text
    assert "Hedy Belgian" in text
    for absent in ("Hidden", "Person", "Erased", "Pending"):
        assert absent not in text
    assert "3 signers are listed by name" in text
    assert "3 signatures are counted without a name" in text
    # The hash of the public manifest, as stored on the petition and shown on its page.
    signed.refresh_from_db()
    digest = signed.handed_in_manifest_sha256
    assert len(digest) == 64
    assert digest == package.public.manifest_sha256
    assert digest in "".join(text.split())
    assert f"/petitions/{signed.slug}/hand-in/MANIFEST.sha256" in "".join(text.split())


def test_it_is_a_tagged_a4_pdf_with_its_language_and_title(signed):
    pdf = _pdf(exports.write_hand_in(signed, frozen_at=timezone.now()))
    reader = PdfReader(io.BytesIO(pdf))
    for page in reader.pages:
        box = page.mediabox
        assert (round(float(box.width), 2), round(float(box.height), 2)) == A4
    catalog = reader.trailer["/Root"]
    # Tagged for screen readers: marked content with a structure tree, and its language.
    assert catalog["/MarkInfo"]["/Marked"].value is True
    assert "/StructTreeRoot" in catalog
    assert catalog["/Lang"] == "en"
    assert catalog["/ViewerPreferences"]["/DisplayDocTitle"].value is True
    assert reader.metadata.title == "Protect defenders: signatures handed in"
    # Its text can be selected and extracted.
    assert "Ada Named" in _text(pdf)


def test_it_writes_the_document_in_the_language_staff_choose(signed, make_signature):
    signed.title_ru = "Защитите правозащитников"
    signed.intro_ru = "Правозащитникам нужна защита."
    signed.demands_ru = "- Защитите их."
    signed.addressees_ru = "правительствам в ООН"
    signed.save()
    make_signature(signed, confirmed=True, country="RU", first_name="Анна", last_name="Иванова")
    pdf = _pdf(exports.write_hand_in(signed, frozen_at=timezone.now(), language="ru"))
    assert PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/Lang"] == "ru"
    text = _text(pdf)
    # The call as translated, and the interface in Russian where it is translated.
    assert "Защитите правозащитников" in text
    assert "Правозащитникам нужна защита." in text and "Защитите их." in text
    assert "правительствам в ООН" in text
    assert "Подписи по странам" in text and "Призыв" in text
    # Country names in Russian, names as written.
    assert "Нидерланды 4" in text and "Бельгия 2" in text and "Россия 1" in text
    assert "Анна Иванова" in text
    assert "Defenders need protection." not in text


def test_it_shows_the_call_as_written_where_it_is_not_translated(signed):
    text = _text(_pdf(exports.write_hand_in(signed, frozen_at=timezone.now(), language="ru")))
    assert "Defenders need protection." in text  # the English original
    assert "Нидерланды 4" in text


def test_it_lists_names_up_to_its_limit_and_points_to_the_full_list(signed, monkeypatch):
    monkeypatch.setattr(handin_pdf, "MAX_NAMES", 2)
    text = _text(_pdf(exports.write_hand_in(signed, frozen_at=timezone.now())))
    assert "This document lists the first 2 names" in text
    assert "the complete list is the file signatures.csv of the hand-in package" in text
    # Netherlands first (the most signatures), in the order they signed.
    assert "Ada Named · Grace Listed" in text
    assert "Hedy Belgian" not in text
    # Still counted as named, not as without a name.
    assert "3 signers are listed by name" in text
    assert "3 signatures are counted without a name" in text


def test_it_groups_names_by_country_in_short_paragraphs():
    rows = [("NL", "Ada", "Named"), ("NL", " ", ""), ("NL", "Grace", ""), ("BE", "Hedy", "B")]
    listed = handin_pdf.name_list(rows, named=4)
    assert [group.code for group in listed.countries] == ["NL", "BE"]
    # A name's parts, and the dot after it, stay on one line.
    assert listed.countries[0].paragraphs == [["Ada\u00a0Named", "Grace"]]
    assert listed.countries[0].texts == ["Ada\u00a0Named\u00a0· Grace"]
    # A row without a name after all is neither listed nor counted as named.
    assert (listed.named, listed.shown, listed.truncated) == (3, 3, False)
    many = handin_pdf.name_list(
        (("NL", f"N{n}", "") for n in range(handin_pdf.NAMES_PER_PARAGRAPH + 1)), named=100
    )
    assert [len(p) for p in many.countries[0].paragraphs] == [handin_pdf.NAMES_PER_PARAGRAPH, 1]
    assert many.truncated
