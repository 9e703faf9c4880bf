"""Keep less and seal the rest (README, Personal data, "Sealed and hashed"): names and addresses
sealed with a key kept out of the database, addresses found by their keyed hash, an address
forgotten once its signature is confirmed (unless the signer asked for updates), and signing
without a name. A dump of the database, and the statements a signing sends, show no signer."""

import csv
import io
import json
import os
import re
import subprocess
import zipfile

import pytest
from django.core import mail
from django.core.exceptions import FieldError
from django.db import connection
from django.db.migrations.exceptions import IrreversibleError
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaign.lib.sealed import UnsealError, as_stored, sealed_context, stored_token, unseal
from petitions import emails, exports, services
from petitions.forms import SignatureForm
from petitions.models import Signature, address_hash
from petitions.tokens import confirm_token, withdraw_token

FIRST, LAST, EMAIL = "Wilhelmina", "Quarrendon-Szabó", "w.quarrendon@example.org"
KEPT_FIRST, KEPT_LAST, KEPT_EMAIL = "Bartholomew", "Okonkwo-Vale", "b.okonkwo@example.net"
# Typed by a signer who then ticked "Sign without my name": never stored.
TYPED_FIRST, TYPED_LAST, NAMELESS_EMAIL = "Ignatius", "Typedname", "nameless.signer@example.com"
MARKERS = [
    FIRST, LAST, EMAIL, "quarrendon", KEPT_FIRST, KEPT_LAST, KEPT_EMAIL, "okonkwo",
    TYPED_FIRST, TYPED_LAST, NAMELESS_EMAIL, "nameless.signer",
]  # fmt: skip
MIGRATION = ("petitions", "0022_sealed_signer_data")


def sign_url(petition) -> str:
    return reverse("petitions:sign", kwargs={"slug": petition.slug})


def confirm(client, signature: Signature) -> None:
    url = reverse("petitions:confirm", kwargs={"slug": signature.petition.slug})
    assert client.post(url, {"t": confirm_token(signature.public_id)}).status_code == 302


def found_in(text: str) -> list[str]:
    """The markers in a text, in any letter case."""
    text = text.lower()
    return [marker for marker in MARKERS if marker.lower() in text]


def stored(signature: Signature) -> dict:
    """The sealed columns of a signature's row as the database holds them (unopened)."""
    names = ("first_name", "last_name", "email", "email_hash")
    row = (
        Signature.objects.filter(pk=signature.pk)
        .values_list(*(stored_token(name) for name in names))
        .get()
    )
    return dict(zip(("first_name", "last_name", "email", "hash"), row, strict=True))


def input_tag(html: str, name: str) -> str:
    return re.search(rf'<input[^>]* name="{name}"[^>]*>', html).group()


def database_dump() -> str:
    """The whole database as a backup would hold it: SQLite's own dump, or pg_dump's, of the
    database the tests run on."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return "\n".join(connection.connection.iterdump())
    assert connection.vendor == "postgresql", connection.vendor
    database = connection.settings_dict
    environment = {**os.environ, "PGDATABASE": database["NAME"]}
    for variable, key in (
        ("PGHOST", "HOST"),
        ("PGPORT", "PORT"),
        ("PGUSER", "USER"),
        ("PGPASSWORD", "PASSWORD"),
    ):
        if database.get(key):
            environment[variable] = str(database[key])
    result = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges"],
        env=environment,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# Nothing of a signer in a copy of the database, or in what is sent to it ---------------------


@pytest.mark.django_db(transaction=True)  # committed, so that pg_dump's own connection sees it
def test_a_database_dump_names_no_signer_after_signing_confirming_and_exporting(
    client, superuser_client, petition, sign_data
):
    signings = [
        sign_data(first_name=FIRST, last_name=LAST, email=EMAIL),
        sign_data(first_name=KEPT_FIRST, last_name=KEPT_LAST, email=KEPT_EMAIL, wants_updates="on"),
        sign_data(
            first_name=TYPED_FIRST, last_name=TYPED_LAST, email=NAMELESS_EMAIL, without_name="on"
        ),
    ]
    for data in signings:
        assert client.post(sign_url(petition), data).status_code == 302
    for signature in Signature.objects.all():
        confirm(client, signature)
    forgotten, kept, nameless = (
        Signature.objects.with_email(email).get() for email in (EMAIL, KEPT_EMAIL, NAMELESS_EMAIL)
    )
    assert (forgotten.email, kept.email, nameless.email) == (None, KEPT_EMAIL, None)
    # Staff look, search and export: the export opens the seals (the forgotten address stays
    # empty), and what they did is recorded.
    changelist = reverse("admin:petitions_signature_changelist")
    assert superuser_client.get(changelist, {"q": KEPT_EMAIL}).status_code == 200
    export = superuser_client.get(reverse("admin:petitions_signature_export"))
    rows = {
        row["last_name"]: row
        for row in csv.DictReader(
            io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))
        )
    }
    assert rows[LAST]["email"] == "" and rows[LAST]["first_name"] == FIRST
    assert rows[KEPT_LAST]["email"] == KEPT_EMAIL
    services.hand_in(petition=petition)

    dump = database_dump()
    assert found_in(dump) == []
    # The dump does hold the signatures: sealed, and each address's keyed hash.
    for signature in (forgotten, kept, nameless):
        row = stored(signature)
        assert row["hash"] in dump
        assert all(row[name] in dump for name in ("first_name", "last_name") if row[name])
    assert stored(kept)["email"] in dump
    assert stored(nameless)["first_name"] == stored(nameless)["last_name"] == ""


def test_signing_and_confirming_send_the_database_neither_name_nor_address(
    client, petition, sign_data
):
    with CaptureQueriesContext(connection) as signing:
        response = client.post(
            sign_url(petition),
            sign_data(first_name=FIRST, last_name=LAST, email=EMAIL.upper(), wants_updates="on"),
        )
    assert response.status_code == 302
    signature = Signature.objects.with_email(EMAIL).get()
    with CaptureQueriesContext(connection) as confirming:
        confirm(client, signature)
    statements = " ".join(query["sql"] for query in [*signing, *confirming])
    assert address_hash(EMAIL) in statements  # the INSERT, with its values, was read
    assert found_in(statements) == []
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [EMAIL]  # the email opened the seal


# Found by the keyed hash only -------------------------------------------------------------


@pytest.mark.django_db
def test_a_sealed_column_cannot_be_searched_and_a_hash_finds_the_address(petition, make_signature):
    signature = make_signature(petition, email=EMAIL)
    with pytest.raises(FieldError, match="Signature.email is sealed"):
        Signature.objects.filter(email=EMAIL).exists()
    with pytest.raises(FieldError, match="Signature.last_name is sealed"):
        Signature.objects.filter(last_name__icontains="q").exists()
    for written in (EMAIL, " W.Quarrendon@EXAMPLE.org "):
        assert list(Signature.objects.with_email(written)) == [signature]
    assert not Signature.objects.with_email("someone.else@example.org").exists()
    assert stored(signature)["hash"] == address_hash(EMAIL)
    assert unseal(stored(signature)["email"], sealed_context(Signature, "email")) == EMAIL


@pytest.mark.django_db
def test_an_address_moved_into_the_name_column_is_refused_not_shown(petition, make_signature):
    signature = make_signature(petition, email=EMAIL, first_name=FIRST)
    # Someone who can write to the database but has no key puts the sealed address where the
    # public list shows a name.
    Signature.objects.filter(pk=signature.pk).update(
        first_name=as_stored(stored(signature)["email"])
    )
    with pytest.raises(UnsealError):
        Signature.objects.get(pk=signature.pk)
    with pytest.raises(UnsealError):
        list(exports.export_rows(Signature.objects.all()))


@pytest.mark.django_db
def test_names_and_addresses_sealed_before_the_current_format_still_read(
    settings, petition, make_signature
):
    from cryptography.fernet import Fernet

    signature = make_signature(petition, email=EMAIL, first_name=FIRST, last_name=LAST)
    fernet = Fernet(settings.SIGNER_DATA_KEY[0])
    Signature.objects.filter(pk=signature.pk).update(
        **{
            name: as_stored(fernet.encrypt(value.encode()).decode())
            for name, value in (("first_name", FIRST), ("last_name", LAST), ("email", EMAIL))
        }
    )
    assert stored(signature)["email"].startswith("gAAAAA")
    signature = Signature.objects.get(pk=signature.pk)
    assert (signature.first_name, signature.last_name, signature.email) == (FIRST, LAST, EMAIL)
    [row] = exports.export_rows(Signature.objects.all())
    assert row[:3] == (FIRST, LAST, EMAIL)


# Confirm and forget ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "consent, keeps",
    [
        ({}, False),
        ({"wants_updates": True}, True),
        ({"partner_updates": True}, True),
    ],
)
def test_confirming_forgets_the_address_unless_the_signer_asked_for_updates(
    petition, make_signature, consent, keeps
):
    signature = make_signature(petition, email=EMAIL, **consent)
    assert signature.email == EMAIL
    services.confirm_signature(signature_id=signature.pk)
    signature.refresh_from_db()
    assert signature.status == Signature.Status.CONFIRMED
    assert (signature.email == EMAIL) is keeps
    assert (stored(signature)["email"] is None) is not keeps
    assert signature.email_hash == address_hash(EMAIL)  # it still cannot sign twice


@pytest.mark.django_db
def test_a_forgotten_address_cannot_sign_twice_and_hears_it_is_counted(
    client, petition, sign_data, settings
):
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    client.post(sign_url(petition), sign_data(first_name=FIRST, last_name=LAST, email=EMAIL))
    confirm(client, Signature.objects.get())
    assert Signature.objects.get().email is None
    mail.outbox.clear()
    again = sign_data(first_name="Mallory", last_name="Other", email="W.Quarrendon@Example.ORG")
    assert client.post(sign_url(petition), again).status_code == 302
    signature = Signature.objects.get()
    assert [message.to for message in mail.outbox] == [[EMAIL]]
    assert mail.outbox[0].subject.startswith("Your signature is already counted")
    # Sent: forgotten again, and the first signing's details unchanged.
    assert signature.email is None and stored(signature)["email"] is None
    assert (signature.first_name, signature.last_name) == (FIRST, LAST)


@pytest.mark.django_db
def test_a_new_link_asked_for_by_address_reaches_a_signer_whose_address_was_forgotten(
    client, petition, make_signature
):
    signature = make_signature(petition, email=EMAIL, confirmed=True)
    assert signature.email is None
    url = reverse("petitions:new_link", kwargs={"slug": petition.slug})
    assert client.post(url, {"email": "W.Quarrendon@example.org"}).status_code == 302
    assert [message.to for message in mail.outbox] == [[EMAIL]]
    signature.refresh_from_db()
    assert signature.email is None


@pytest.mark.django_db
def test_the_withdrawal_link_works_once_the_address_is_forgotten(client, petition, make_signature):
    signature = make_signature(petition, email=EMAIL, confirmed=True)
    assert signature.email is None
    url = reverse("petitions:withdraw", kwargs={"slug": petition.slug})
    client.post(url, {"t": withdraw_token(signature.public_id)})
    assert not Signature.objects.filter(pk=signature.pk).exists()
    assert petition.confirmed_count == 0


@pytest.mark.django_db
def test_the_worker_quietly_drops_an_email_with_no_address_to_write_to(
    petition, make_signature, settings
):
    settings.EMAIL_QUEUE = "worker"
    signature = make_signature(petition, confirmed=True)
    Signature.objects.filter(pk=signature.pk).update(email_due=True)
    assert emails.send_one() == "dropped"
    assert mail.outbox == []
    assert not Signature.objects.get(pk=signature.pk).email_due


@pytest.mark.django_db
def test_the_worker_forgets_an_address_again_once_it_has_written_to_it(
    petition, make_signature, settings
):
    settings.EMAIL_QUEUE = "worker"
    forgetting = make_signature(petition, confirmed=True)
    keeping = make_signature(petition, confirmed=True, wants_updates=True)
    pending = make_signature(petition)
    Signature.objects.update(email_due=True, email_requested_at=timezone.now())
    # As a second signing leaves it: the address typed stored again, to write to.
    Signature.objects.filter(pk=forgetting.pk).update(email="a@example.org")
    assert [emails.send_one() for _ in range(3)] == ["sent"] * 3
    for signature in (forgetting, keeping, pending):
        signature.refresh_from_db()
    assert forgetting.email is None
    assert keeping.email and pending.email


@pytest.mark.django_db
def test_a_data_officer_sees_the_address_or_why_there_is_none(
    superuser_client, petition, make_signature
):
    forgotten = make_signature(petition, confirmed=True)
    kept = make_signature(petition, confirmed=True, email=KEPT_EMAIL, wants_updates=True)
    pages = {
        signature: superuser_client.get(
            reverse("admin:petitions_signature_change", args=[signature.pk])
        ).content.decode()
        for signature in (forgotten, kept)
    }
    assert "Not kept: forgotten once confirmed" in pages[forgotten]
    assert KEPT_EMAIL in pages[kept] and "Not kept" not in pages[kept]


@pytest.mark.django_db
def test_the_export_has_no_address_for_signers_who_asked_for_no_updates(petition, make_signature):
    make_signature(petition, confirmed=True, last_name="Forgotten")
    make_signature(petition, confirmed=True, last_name="Kept", email=KEPT_EMAIL, wants_updates=True)
    text = "".join(exports.iter_csv(Signature.objects.all()))
    rows = {row["last_name"]: row for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert rows["Forgotten"]["email"] == "" and rows["Kept"]["email"] == KEPT_EMAIL


# Signing without a name --------------------------------------------------------------------


@pytest.mark.django_db
def test_signing_without_a_name_stores_none_even_if_one_was_typed(client, petition, sign_data):
    data = sign_data(first_name=TYPED_FIRST, last_name=TYPED_LAST, without_name="on")
    assert client.post(sign_url(petition), data).status_code == 302
    signature = Signature.objects.get()
    assert (signature.first_name, signature.last_name, signature.hide_name) == ("", "", True)
    assert (stored(signature)["first_name"], stored(signature)["last_name"]) == ("", "")


@pytest.mark.django_db
def test_the_form_drops_a_name_typed_with_the_box_ticked(sign_data):
    form = SignatureForm(sign_data(first_name=TYPED_FIRST, last_name=TYPED_LAST, without_name="on"))
    assert form.is_valid(), form.errors
    fields = form.signature_fields()
    assert (fields["first_name"], fields["last_name"], fields["without_name"]) == ("", "", True)


@pytest.mark.django_db
def test_without_a_name_the_name_fields_are_not_asked_for(client, petition, sign_data):
    nameless = sign_data(first_name="", last_name="", without_name="on")
    assert client.post(sign_url(petition), nameless).status_code == 302
    named = sign_data(first_name="", last_name="", email="other@example.org")
    response = client.post(sign_url(petition), named)
    assert response.status_code == 400
    assert "Enter your first name." in response.content.decode()
    assert Signature.objects.count() == 1


@pytest.mark.django_db
def test_the_form_offers_it_before_the_names_and_the_server_decides_what_is_required(
    client, petition, sign_data
):
    html = client.get(petition.get_absolute_url()).content.decode()
    assert "Sign without my name: only my email address and country are kept" in html
    assert html.index('name="without_name"') < html.index('name="first_name"')
    assert " required" in input_tag(html, "first_name")
    # Sent back with another mistake: the names, left empty, are shown as optional.
    response = client.post(
        sign_url(petition), sign_data(first_name="", last_name="", email="x", without_name="on")
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert " required" not in input_tag(html, "first_name")
    assert " required" not in input_tag(html, "last_name")
    assert "Enter your first name." not in html
    assert html.count('<span class="field__optional">') >= 2


@pytest.mark.django_db
def test_the_hand_in_counts_the_signatures_without_a_name_and_lists_no_name_for_them(
    petition, make_signature
):
    services.sign_petition(
        petition=petition,
        first_name=TYPED_FIRST,
        last_name=TYPED_LAST,
        email=NAMELESS_EMAIL,
        country="NL",
        without_name=True,
    )
    services.confirm_signature(signature_id=Signature.objects.with_email(NAMELESS_EMAIL).get().pk)
    make_signature(petition, confirmed=True, first_name="Hidden", hide_name=True)
    make_signature(petition, confirmed=True, first_name="Shown", last_name="Named")
    make_signature(petition, first_name="Pending", hide_name=True)  # not handed in
    package = services.hand_in(petition=petition)
    archive = zipfile.ZipFile(package.file)
    assert json.loads(archive.read("manifest.json"))["signatures_without_name"] == 2
    assert "2 of them are listed without a name" in archive.read("summary.html").decode()
    text = archive.read("signatures.csv").decode("utf-8-sig")
    names = sorted(
        (row["first_name"], row["last_name"]) for row in csv.DictReader(io.StringIO(text))
    )
    assert names == [("", ""), ("", ""), ("Shown", "Named")]


# The migration -----------------------------------------------------------------------------


def old_signatures(migrator, *, forgettable: bool = True):
    """The database just before the migration, with signatures stored in clear: one counted
    without consent to updates (unless not `forgettable`), one counted with it, one pending.
    Returns their ids."""
    apps = migrator.migrate(migrator.before(MIGRATION))
    petition = migrator.petition(apps)
    Old = apps.get_model("petitions", "Signature")
    common = {"petition": petition, "country": "NL"}
    counted = {"status": "confirmed", "confirmed_at": petition.opens_at}
    return [
        *(
            [Old.objects.create(**common, **counted, first_name=FIRST, last_name=LAST, email=EMAIL)]
            if forgettable
            else []
        ),
        Old.objects.create(
            **common, **counted, first_name=KEPT_FIRST, last_name=KEPT_LAST, email=KEPT_EMAIL,
            wants_updates=True,
        ),
        Old.objects.create(**common, first_name="", last_name="", email=NAMELESS_EMAIL),
    ]  # fmt: skip


def raw_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT first_name, last_name, email FROM petitions_signature ORDER BY id")
        return cursor.fetchall()


def test_the_migration_seals_what_was_stored_in_clear_and_forgets_as_confirming_would(migrator):
    old = old_signatures(migrator)
    Migrated = migrator.migrate([MIGRATION]).get_model("petitions", "Signature")
    assert found_in(repr(raw_rows())) == []
    migrated = [Migrated.objects.get(pk=signature.pk) for signature in old]
    assert [(s.first_name, s.last_name, s.email) for s in migrated] == [
        (FIRST, LAST, None),
        (KEPT_FIRST, KEPT_LAST, KEPT_EMAIL),
        ("", "", NAMELESS_EMAIL),
    ]
    assert [s.email_hash for s in migrated] == [
        address_hash(address) for address in (EMAIL, KEPT_EMAIL, NAMELESS_EMAIL)
    ]
    assert raw_rows()[2][:2] == ("", "")  # nothing stays nothing
    # Going back cannot bring the forgotten address back, and says so.
    with pytest.raises(IrreversibleError, match="1 confirmed signatures keep only"):
        migrator.migrate(migrator.before(MIGRATION))


def test_going_back_puts_the_names_and_addresses_back_in_clear_when_none_was_forgotten(
    migrator,
):
    old_signatures(migrator, forgettable=False)
    migrator.migrate([MIGRATION])
    assert found_in(repr(raw_rows())) == []
    migrator.migrate(migrator.before(MIGRATION))
    assert raw_rows() == [
        (KEPT_FIRST, KEPT_LAST, KEPT_EMAIL),
        ("", "", NAMELESS_EMAIL),
    ]
