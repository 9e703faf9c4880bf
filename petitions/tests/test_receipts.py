"""Receipts: every signer gets a random code on confirming, and after the hand-in can check that
their signature was among those handed in, from the public files or on the check page."""

import hashlib
import re
import zipfile

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from petitions import services
from petitions.models import HandedInReceipt, Signature
from petitions.tests.helpers import links_in, path_of
from petitions.tokens import (
    RECEIPT_ALPHABET,
    confirm_token,
    format_receipt,
    is_receipt,
    new_receipt,
    normalise_receipt,
    receipt_hash,
)

pytestmark = pytest.mark.django_db

SHOWN = re.compile(r"\b[2-9A-HJ-NP-Z]{4}(?:-[2-9A-HJ-NP-Z]{4}){3}\b")


def _url(name: str, petition) -> str:
    return reverse(f"petitions:{name}", kwargs={"slug": petition.slug})


def _sign(client, petition, sign_data, **fields) -> Signature:
    data = sign_data(**fields)
    response = client.post(_url("sign", petition), data)
    assert response.status_code == 302
    return Signature.objects.with_email(data["email"]).get(petition=petition)


def _confirm(client, petition, signature):
    return client.post(_url("confirm", petition), {"t": confirm_token(signature.public_id)})


def _hand_in(petition):
    package = services.hand_in(petition=petition)
    petition.refresh_from_db()
    return zipfile.ZipFile(package.file)


def _body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


# The code -----------------------------------------------------------------------------------


def test_a_receipt_is_80_random_bits_shown_in_groups_and_read_however_it_is_typed():
    assert len(RECEIPT_ALPHABET) == 32 and not set("01IO") & set(RECEIPT_ALPHABET)
    codes = {new_receipt() for _ in range(1000)}
    assert len(codes) == 1000  # no repeats: 2**80 possible codes
    # Every character is drawn, in every place: 1,000 draws of 32 equally likely ones each.
    assert all(set(place) == set(RECEIPT_ALPHABET) for place in zip(*codes, strict=True))
    code = codes.pop()
    assert len(code) == 16 and is_receipt(code)
    shown = format_receipt(code)
    assert SHOWN.fullmatch(shown) and shown.replace("-", "") == code
    # Read back in lower case, with spaces or other dashes, as people copy it.
    typed = " " + shown.lower().replace("-", " \u2013 ") + "\t"
    assert normalise_receipt(typed) == code
    # What is published: the SHA-256 of the normalised code, anyone can compute it.
    assert receipt_hash(typed) == hashlib.sha256(code.encode()).hexdigest()
    assert not is_receipt(code[:-1]) and not is_receipt(code[:-1] + "O")


def test_a_receipt_is_drawn_at_random_not_from_the_signer(
    client, make_petition, petition, sign_data
):
    other = make_petition(slug="other")
    first = _sign(client, petition, sign_data)
    second = _sign(client, other, sign_data)
    # The same person on two petitions: two unrelated codes.
    assert first.receipt and second.receipt and first.receipt != second.receipt
    assert first.receipt_hash != second.receipt_hash
    assert first.receipt_hash == receipt_hash(first.receipt)
    assert first.receipt_hash != first.email_hash
    # Sealed in the database like the names: the column holds neither the code nor its hash.
    stored = Signature.objects.filter(pk=first.pk).values_list("receipt", flat=True)
    from campaign.lib.sealed import stored_token

    token = Signature.objects.filter(pk=first.pk).values_list(stored_token("receipt"), flat=True)
    assert stored.get() == first.receipt and first.receipt not in token.get()


def test_signing_again_keeps_the_receipt(client, petition, sign_data, settings):
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    signature = _sign(client, petition, sign_data)
    again = _sign(client, petition, sign_data, first_name="Someone", last_name="Else")
    assert (again.pk, again.receipt, again.receipt_hash) == (
        signature.pk, signature.receipt, signature.receipt_hash
    )  # fmt: skip


# The thank-you page and the emails ----------------------------------------------------------


def test_the_thank_you_page_shows_the_receipt_of_the_confirmed_signature(
    client, petition, sign_data
):
    signature = _sign(client, petition, sign_data)
    response = _confirm(client, petition, signature)
    assert response.status_code == 302
    assert "t=" in response["Location"]
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert f'<code class="receipt__code">{format_receipt(signature.receipt)}</code>' in html
    assert '<meta name="robots" content="noindex">' in html
    assert "no-store" in page["Cache-Control"] or "no-cache" in page["Cache-Control"]
    assert _url("check_receipt", petition) in html


def test_the_thank_you_page_shows_no_receipt_without_a_valid_token_of_a_confirmed_signature(
    client, petition, make_petition, make_signature
):
    thanks = _url("thanks", petition)
    pending = make_signature(petition)
    confirmed = make_signature(petition, confirmed=True)
    elsewhere = make_signature(make_petition(slug="elsewhere"), confirmed=True)
    token = confirm_token(confirmed.public_id)
    for query in (
        {},
        {"t": confirm_token(pending.public_id)},  # not confirmed (yet)
        {"t": token[:-2] + "xx"},  # tampered with
        {"t": "nonsense"},
        {"t": confirm_token(elsewhere.public_id)},  # another petition's signature
    ):
        response = client.get(thanks, query)
        assert response.status_code == 200
        assert "receipt__code" not in response.content.decode()
        assert not SHOWN.search(response.content.decode())
    services.erase_personal_data(confirmed)
    assert "receipt__code" not in client.get(thanks, {"t": token}).content.decode()


def test_the_emails_carry_the_receipt(client, petition, sign_data, settings):
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    signature = _sign(client, petition, sign_data)
    shown = format_receipt(signature.receipt)
    confirm_email = mail.outbox[-1].body
    assert f"Once you confirm, this is your receipt: {shown}." in confirm_email
    assert path_of(links_in(confirm_email)["confirm"]).startswith(_url("confirm", petition))
    _confirm(client, petition, signature)
    _sign(client, petition, sign_data)
    counted_email = mail.outbox[-1].body
    assert "already confirmed" in counted_email
    assert f"Your receipt: {shown}." in counted_email
    # The discreet variant, which names neither the campaign nor the petition, carries it too.
    settings.DISCREET_EMAILS = True
    _sign(client, petition, sign_data)
    assert f"Your receipt: {shown}." in mail.outbox[-1].body


# The hand-in's public part ------------------------------------------------------------------


@pytest.fixture
def handed_in(petition, make_signature):
    """Four confirmed signatures (one erased since), one pending, one withdrawn: handed in."""
    signatures = [make_signature(petition, confirmed=True, country=c) for c in ["NL", "NL", "BE"]]
    erased = make_signature(petition, confirmed=True, country="BE")
    services.erase_personal_data(erased)
    pending = make_signature(petition)
    withdrawn = make_signature(petition, confirmed=True)
    services.withdraw_signature(signature_id=withdrawn.pk)
    archive = _hand_in(petition)
    return {
        "petition": petition,
        "included": [*signatures, erased],
        "pending": pending,
        "withdrawn": withdrawn,
        "archive": archive,
    }


def test_the_public_files_list_the_receipts_handed_in_with_a_manifest(client, handed_in):
    petition, archive = handed_in["petition"], handed_in["archive"]
    included = sorted(signature.receipt_hash for signature in handed_in["included"])
    files = {}
    for name, view in (
        ("receipts.txt", "hand_in_receipts"),
        ("counts.csv", "hand_in_counts"),
        ("MANIFEST.sha256", "hand_in_manifest"),
    ):
        response = client.get(_url(view, petition))
        assert response.status_code == 200
        assert "public" in response["Cache-Control"]
        assert response["ETag"] == f'"{petition.handed_in_manifest_sha256}"'
        files[name] = _body(response)
        # The very files of the package's public part.
        assert files[name] == archive.read(f"public/{name}")
    assert files["receipts.txt"].decode().splitlines() == included
    assert handed_in["pending"].receipt_hash not in files["receipts.txt"].decode()
    assert handed_in["withdrawn"].receipt_hash not in files["receipts.txt"].decode()
    # Exact total; by country as the public breakdown shows them (too few here to name any).
    assert files["counts.csv"].decode() == "country_code,confirmed_signatures\nTOTAL,4\n"
    # The manifest, as sha256sum writes it, holds the two files' hashes...
    assert files["MANIFEST.sha256"].decode() == (
        f"{hashlib.sha256(files['receipts.txt']).hexdigest()}  receipts.txt\n"
        f"{hashlib.sha256(files['counts.csv']).hexdigest()}  counts.csv\n"
    )
    # ...and its own hash is the one stored, shown on the petition page and in the document.
    digest = hashlib.sha256(files["MANIFEST.sha256"]).hexdigest()
    assert digest == petition.handed_in_manifest_sha256
    assert archive.read("hand-in.pdf")
    page = client.get(_url("detail", petition)).content.decode()
    assert "Handed in on" in page
    shown = "<wbr>".join(digest[n : n + 16] for n in range(0, 64, 16))
    assert f"Manifest SHA-256: <code>{shown}</code>" in page
    assert _url("check_receipt", petition) in page and _url("hand_in_receipts", petition) in page


def test_the_public_counts_are_rounded_and_grouped_like_the_public_breakdown(
    client, petition, make_signature, settings
):
    settings.BREAKDOWN_ROUNDING, settings.BREAKDOWN_MIN_COUNT = 2, 3
    for country in ["NL"] * 5 + ["BE"] * 2 + ["DE"] * 2:
        make_signature(petition, confirmed=True, country=country)
    _hand_in(petition)
    counts = client.get(_url("hand_in_counts", petition)).content.decode()
    # NL's 5 rounded down to 4; BE and DE under the minimum, together as OTHER.
    assert counts == "country_code,confirmed_signatures\nTOTAL,9\nNL,4\nOTHER,4\n"


def test_there_are_no_public_files_before_the_hand_in(client, petition, make_signature):
    make_signature(petition, confirmed=True)
    for view in ("hand_in_receipts", "hand_in_counts", "hand_in_manifest"):
        assert client.get(_url(view, petition)).status_code == 404
    assert "Handed in on" not in client.get(_url("detail", petition)).content.decode()


def test_a_new_hand_in_replaces_the_receipts_handed_in(petition, make_signature):
    first = make_signature(petition, confirmed=True)
    _hand_in(petition)
    second = make_signature(petition, confirmed=True)
    old_digest = petition.handed_in_manifest_sha256
    _hand_in(petition)
    assert set(HandedInReceipt.objects.values_list("receipt_hash", flat=True)) == {
        first.receipt_hash, second.receipt_hash
    }  # fmt: skip
    assert petition.handed_in_manifest_sha256 != old_digest


# The check page -----------------------------------------------------------------------------


def _check(client, petition, code: str):
    response = client.post(_url("check_receipt", petition), {"receipt": code})
    assert response.status_code == 200
    return response.content.decode()


def test_the_check_page_says_the_petition_is_not_handed_in_yet(client, petition, make_signature):
    signature = make_signature(petition, confirmed=True)
    for response in (
        client.get(_url("check_receipt", petition)),
        client.post(_url("check_receipt", petition), {"receipt": signature.receipt}),
    ):
        html = response.content.decode()
        assert response.status_code == 200
        assert "This petition has not been handed in yet." in html
        assert "This receipt is" not in html


def test_the_check_page_finds_a_receipt_handed_in_however_it_is_typed(client, handed_in):
    petition = handed_in["petition"]
    page = client.get(_url("check_receipt", petition))
    assert page.status_code == 200 and 'name="receipt"' in page.content.decode()
    assert "no-cache" in page["Cache-Control"]
    code = handed_in["included"][0].receipt
    for typed in (code, format_receipt(code), format_receipt(code).lower().replace("-", " ")):
        html = _check(client, petition, typed)
        assert "This receipt is among the 4 signatures handed in on" in html
    # An erased signature's code is gone from the site, but its signer still has it.
    erased = handed_in["included"][-1]
    erased.refresh_from_db()
    assert erased.receipt == "" and erased.receipt_hash
    assert HandedInReceipt.objects.filter(receipt_hash=erased.receipt_hash).exists()


def test_the_check_page_says_the_same_for_unknown_and_malformed_codes(
    client, handed_in, django_assert_num_queries
):
    petition = handed_in["petition"]
    answers = []
    for code in (
        new_receipt(),  # a receipt's form, never drawn
        handed_in["pending"].receipt,  # not confirmed: not handed in
        handed_in["withdrawn"].receipt,  # withdrawn before the hand-in
        "not a code",
        "",
        "X" * 5000,
        "\x00<script>",
    ):
        # The same work for each: the petition and one look-up of the code's hash.
        with django_assert_num_queries(2):
            html = _check(client, petition, code)
        assert "This receipt is not in the hand-in." in html
        # Nothing of what was typed comes back.
        answers.append(re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html))
    assert len(set(answers)) == 1


def test_a_signature_withdrawn_after_the_hand_in_stays_handed_in(client, handed_in):
    petition, signature = handed_in["petition"], handed_in["included"][0]
    code = signature.receipt
    services.withdraw_signature(signature_id=signature.pk)
    assert "This receipt is among the 4 signatures" in _check(client, petition, code)


def test_the_check_page_needs_the_forms_csrf_token(handed_in):
    client = Client(enforce_csrf_checks=True)
    petition = handed_in["petition"]
    response = client.post(_url("check_receipt", petition), {"receipt": "K7QF-9M2D-XR4T-P8WZ"})
    assert response.status_code == 403


def test_the_check_page_is_rate_limited(client, handed_in, settings):
    settings.RATE_LIMIT_LINKS = "2/m"
    petition = handed_in["petition"]
    code = handed_in["included"][0].receipt
    _check(client, petition, code)
    _check(client, petition, code)
    response = client.post(_url("check_receipt", petition), {"receipt": code})
    assert response.status_code == 429
    assert "This receipt is" not in response.content.decode()


# Erasure, and signatures from before receipts -----------------------------------------------


def test_erasure_drops_the_code_and_keeps_its_hash(petition, make_signature):
    signature = make_signature(petition, confirmed=True)
    digest = signature.receipt_hash
    services.erase_signatures(Signature.objects.filter(pk=signature.pk))
    signature.refresh_from_db()
    assert (signature.receipt, signature.receipt_hash) == ("", digest)
    archive = _hand_in(petition)
    assert archive.read("public/receipts.txt").decode() == digest + "\n"


def test_the_migration_gives_signatures_already_there_a_receipt(migrator):
    from campaign.lib.sealed import sealed_context, stored_token, unseal

    before = migrator.migrate([("petitions", "0022_sealed_signer_data")])
    petition = migrator.petition(before)
    Old = before.get_model("petitions", "Signature")
    kept = Old.objects.create(petition_id=petition.pk, email_hash="a" * 64, country="NL")
    erased = Old.objects.create(petition_id=petition.pk, country="NL", erased_at=petition.opens_at)
    after = migrator.migrate([("petitions", "0023_receipts")])
    rows = {
        row["pk"]: row
        for row in after.get_model("petitions", "Signature").objects.values(
            "pk", "receipt", "receipt_hash"
        )
    }
    code = rows[kept.pk]["receipt"]  # opened by the sealed field, as the model reads it
    assert (
        unseal(
            after.get_model("petitions", "Signature")
            .objects.filter(pk=kept.pk)
            .values_list(stored_token("receipt"), flat=True)
            .get(),
            sealed_context(Signature, "receipt"),
        )
        == code
    )
    assert is_receipt(code) and rows[kept.pk]["receipt_hash"] == receipt_hash(code)
    assert rows[erased.pk]["receipt"] == "" and len(rows[erased.pk]["receipt_hash"]) == 64
    assert rows[kept.pk]["receipt_hash"] != rows[erased.pk]["receipt_hash"]
