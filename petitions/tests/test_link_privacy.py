"""What links and answers give away: links name no sequential id and outlive a key change;
signing and asking for a new link do the same work whether or not an address has signed (the
timings themselves are measured by bench/timing.py, never in tests)."""

import contextlib
import datetime as dt
import re
import uuid
from unittest import mock

import pytest
from django.core import mail, signing
from django.db import connection
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from petitions import services
from petitions.models import Signature
from petitions.tests.helpers import failing_statements, links_in
from petitions.tokens import (
    CONFIRM_SALT,
    WITHDRAW_SALT,
    LinkState,
    confirm_token,
    read_withdraw_token,
    withdraw_token,
)

pytestmark = pytest.mark.django_db

OUTBOX = {"email_due", "email_requested_at", "email_attempts", "email_retry_at"}


def url(name: str, petition) -> str:
    return reverse(f"petitions:{name}", kwargs={"slug": petition.slug})


@contextlib.contextmanager
def statements():
    """The SQL statements sent meanwhile, without their values (savepoint names made alike)."""
    sent: list[str] = []

    def record(execute, sql, params, many, context):
        sent.append(re.sub(r'"s\d+_x\d+"', '"savepoint"', sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sent


def test_it_names_the_signature_in_links_by_its_public_id(client, petition, sign_data):
    client.post(url("sign", petition), sign_data())
    signature = Signature.objects.get()
    links = links_in(mail.outbox[0].body)
    confirm = links["confirm"].split("?t=")[1]
    withdraw = links["withdraw"].split("?t=")[1]
    assert signing.loads(confirm, salt=CONFIRM_SALT) == signature.public_id.hex
    assert signing.loads(withdraw, salt=WITHDRAW_SALT) == signature.public_id.hex
    # And that is all they carry: no id counts up from one signature to the next. (The signed
    # payload is what comes before the first ":"; the rest is the time and the signature, which
    # differ when the test's clock has moved on a second since the email was written.)
    assert confirm.split(":")[0] == confirm_token(signature.public_id).split(":")[0]
    assert withdraw.split(":")[0] == withdraw_token(signature.public_id).split(":")[0]
    assert isinstance(signature.public_id, uuid.UUID) and signature.public_id.version == 4


def test_it_gives_each_signature_its_own_public_id(petition, make_signature):
    signatures = [make_signature(petition) for _ in range(3)]
    assert len({signature.public_id for signature in signatures}) == 3


def test_it_still_honours_a_withdrawal_link_emailed_before_public_ids(
    client, petition, make_signature
):
    signature = make_signature(petition, confirmed=True)
    older_link = signing.dumps(signature.pk, salt=WITHDRAW_SALT)
    assert client.get(url("withdraw", petition), {"t": older_link}).status_code == 200
    response = client.post(url("withdraw", petition), {"t": older_link})
    assert response.status_code == 200
    assert not Signature.objects.filter(pk=signature.pk).exists()


def test_it_keeps_a_withdrawal_link_working_after_400_days(client, petition, make_signature):
    signature = make_signature(petition, confirmed=True)
    token = withdraw_token(signature.public_id)
    later = timezone.now() + dt.timedelta(days=400)
    with mock.patch("django.core.signing.time.time", return_value=later.timestamp()):
        page = client.get(url("withdraw", petition), {"t": token})
        done = client.post(url("withdraw", petition), {"t": token})
    assert page.status_code == 200
    assert "Withdraw my signature" in page.content.decode()
    assert done.status_code == 200
    assert not Signature.objects.filter(pk=signature.pk).exists()
    assert petition.confirmed_count == 0


@pytest.mark.parametrize("how", ["anonymise", "erase"])
def test_it_ends_a_withdrawal_link_once_the_data_is_erased(
    client, make_petition, make_signature, how
):
    petition = make_petition()
    signature = make_signature(petition, confirmed=True, email="leaving@example.org")
    token = withdraw_token(signature.public_id)
    if how == "anonymise":  # closed long ago, then anonymised
        petition.closes_at = timezone.now() - dt.timedelta(days=200)
        petition.opens_at = petition.closes_at - dt.timedelta(days=30)
        petition.save()
        services.anonymise_closed(after=dt.timedelta(days=180))
    else:
        services.erase_signer("leaving@example.org")
    page = client.get(url("withdraw", petition), {"t": token})
    again = client.post(url("withdraw", petition), {"t": token})
    assert page.status_code == again.status_code == 404
    assert "There is nothing to withdraw" in page.content.decode()
    signature.refresh_from_db()
    assert signature.erased_at is not None
    assert signature.email is None
    assert petition.confirmed_count == 1


def test_it_reads_links_signed_with_the_previous_secret_key(
    client, petition, make_signature, settings
):
    settings.SECRET_KEY = "key A " + "a" * 50
    signature = make_signature(petition, confirmed=True)
    pending = make_signature(petition)
    withdraw_link = withdraw_token(signature.public_id)
    confirm_link = confirm_token(pending.public_id)

    settings.SECRET_KEY = "key B " + "b" * 50
    settings.SECRET_KEY_FALLBACKS = []
    assert read_withdraw_token(withdraw_link) == (LinkState.INVALID, None)
    assert client.get(url("withdraw", petition), {"t": withdraw_link}).status_code == 404
    refused = client.get(url("confirm", petition), {"t": confirm_link})
    assert refused.status_code == 400
    assert "This link does not work" in refused.content.decode()

    settings.SECRET_KEY_FALLBACKS = ["key A " + "a" * 50]
    assert read_withdraw_token(withdraw_link) == (LinkState.VALID, signature.public_id)
    confirmed = client.post(url("confirm", petition), {"t": confirm_link})
    withdrawn = client.post(url("withdraw", petition), {"t": withdraw_link})
    assert confirmed.status_code == 302
    assert withdrawn.status_code == 200
    assert "Your signature has been withdrawn" in withdrawn.content.decode()
    assert list(Signature.objects.values_list("pk", "status")) == [(pending.pk, "confirmed")]


def test_it_signs_with_the_same_statement_whether_or_not_the_address_has_signed(
    client, petition, sign_data, make_signature, settings
):
    settings.EMAIL_QUEUE = "worker"
    make_signature(petition, email="asked@example.org")
    recent = make_signature(petition, email="recent@example.org")
    Signature.objects.filter(pk=recent.pk).update(email_requested_at=timezone.now())
    make_signature(petition, email="fraud@example.org", status=Signature.Status.FRAUDULENT)
    sent = {}
    with failing_statements() as failed:
        for email in ("new@example.org", "asked@example.org", "recent@example.org"):
            with statements() as sent[email]:
                response = client.post(url("sign", petition), sign_data(email=email))
            assert response.status_code == 302
        with statements() as sent["fraud@example.org"]:
            client.post(url("sign", petition), sign_data(email="fraud@example.org"))
    assert failed == []
    assert len(sent["new@example.org"]) == 2  # the petition, the INSERT
    assert all(one == sent["new@example.org"] for one in sent.values())
    due = dict(Signature.objects.values_list("email", "email_due"))
    assert due == {
        "new@example.org": True,
        "asked@example.org": True,
        "recent@example.org": False,
        "fraud@example.org": False,
    }


def test_it_changes_nothing_of_the_first_signing_but_its_outbox(petition, make_signature, settings):
    settings.EMAIL_QUEUE = "worker"
    first = make_signature(petition, email="ada@example.org", wants_updates=True)
    before = model_to_dict(first, exclude=OUTBOX)
    signature_id = services.sign_petition(
        petition=petition,
        first_name="Mallory",
        last_name="Other",
        email="Ada@Example.org",
        country="BE",
        hide_name=True,
        source=Signature.Source.HOME,
        language="nl",
    )
    first.refresh_from_db()
    assert signature_id == first.pk
    assert model_to_dict(first, exclude=OUTBOX) == before
    assert first.email_due


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_it_writes_the_row_of_an_address_that_has_signed_even_when_no_email_is_due(
    petition, make_signature, settings
):
    """Writing for every signing is what makes an address that has signed cost what a new one
    costs (a new row is a write, and its commit waits for the disk)."""
    settings.EMAIL_QUEUE = "worker"
    recent = make_signature(petition, email="recent@example.org")
    Signature.objects.filter(pk=recent.pk).update(email_requested_at=timezone.now())
    fraud = make_signature(petition, email="fraud@example.org", status=Signature.Status.FRAUDULENT)

    def version(signature) -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT xmin::text FROM petitions_signature WHERE id = %s", [signature.pk]
            )
            return cursor.fetchone()[0]

    for signature in (recent, fraud):
        signature.refresh_from_db()
        before = version(signature)
        services.sign_petition(
            petition=petition, first_name="A", last_name="B", email=signature.email, country="NL"
        )
        assert version(signature) != before
        after = Signature.objects.get(pk=signature.pk)
        assert not after.email_due
        assert after.email_requested_at == signature.email_requested_at


@pytest.mark.parametrize("closed", [False, True])
def test_it_asks_for_a_new_link_with_the_same_statements_whatever_the_address(
    client, make_petition, make_signature, settings, closed
):
    settings.EMAIL_QUEUE = "worker"
    petition = make_petition()
    pending = make_signature(petition, email="pending@example.org")
    confirmed = make_signature(petition, email="confirmed@example.org", confirmed=True)
    recent = make_signature(petition, email="recent@example.org")
    make_signature(petition, email="fraud@example.org", status=Signature.Status.FRAUDULENT)
    erased = make_signature(petition, email="erased@example.org", confirmed=True)
    services.erase_personal_data(erased)
    moment = timezone.now() - dt.timedelta(seconds=5)
    Signature.objects.update(
        email_due=False, email_requested_at=timezone.now() - dt.timedelta(days=1)
    )
    Signature.objects.filter(pk=recent.pk).update(email_requested_at=moment)
    if closed:
        petition.closes_at = timezone.now() - dt.timedelta(seconds=1)
        petition.save()
    addresses = [
        "pending@example.org",
        "confirmed@example.org",
        "recent@example.org",
        "fraud@example.org",
        "erased@example.org",
        "stranger@example.org",
    ]
    sent = {}
    with failing_statements() as failed:
        for email in addresses:
            with statements() as sent[email]:
                response = client.post(url("new_link", petition), {"email": email})
            assert response.status_code == 302
            assert response["Location"] == url("check_inbox", petition)
    assert failed == []
    assert all(one == sent["stranger@example.org"] for one in sent.values())
    assert any(sql.startswith("UPDATE") for sql in sent["stranger@example.org"])
    # Pending signatures hear only while the petition is open; counted ones always.
    due = set(Signature.objects.filter(email_due=True).values_list("pk", flat=True))
    assert due == ({confirmed.pk} if closed else {pending.pk, confirmed.pk})


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_it_commits_a_new_link_request_without_waiting_for_the_disk(
    client, petition, make_signature, settings
):
    """Only the UPDATE that finds a signer writes; waiting for that write to reach the disk
    would tell by the answer's time that the address has signed."""
    settings.EMAIL_QUEUE = "worker"
    make_signature(petition, email="signer@example.org")
    in_effect = []

    def record(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith("UPDATE"):
            with context["connection"].cursor() as cursor:
                cursor.execute("SELECT current_setting('synchronous_commit')")
                in_effect.append(cursor.fetchone()[0])
        return result

    with connection.execute_wrapper(record):
        response = client.post(url("new_link", petition), {"email": "signer@example.org"})
    assert response.status_code == 302
    assert in_effect == ["off"]
    assert Signature.objects.get().email_due
    with connection.cursor() as cursor:  # for that transaction only
        cursor.execute("SELECT current_setting('synchronous_commit')")
        assert cursor.fetchone()[0] == "on"


def test_it_sends_the_new_link_to_the_signature_behind_an_expired_one(
    client, petition, make_signature, settings
):
    signature = make_signature(petition)
    other = make_signature(petition)
    token = confirm_token(signature.public_id)
    later = timezone.now() + dt.timedelta(seconds=settings.SIGNATURE_CONFIRM_MAX_AGE + 60)
    with mock.patch("django.core.signing.time.time", return_value=later.timestamp()):
        response = client.post(url("new_link", petition), {"t": token})
    assert response.status_code == 302
    assert [message.to for message in mail.outbox] == [[signature.email]]
    other.refresh_from_db()
    assert not other.email_due and other.email_sent_at is None


def test_it_asks_for_nothing_when_an_older_link_names_an_id_no_row_can_have(client, petition):
    token = signing.dumps(2**63, salt=CONFIRM_SALT)
    with failing_statements() as failed:
        response = client.post(url("new_link", petition), {"t": token})
    assert response.status_code == 302
    assert failed == []
    assert mail.outbox == []


def test_it_finds_no_signature_when_an_older_confirmation_link_names_an_id_no_row_can_have(
    client, petition
):
    token = signing.dumps(2**63, salt=CONFIRM_SALT)
    with failing_statements() as failed:
        opened = client.get(url("confirm", petition), {"t": token})
        pressed = client.post(url("confirm", petition), {"t": token})
        state = services.confirmation_state(signature_id=2**63, petition=petition)
        outcome = services.confirm_signature(signature_id=-(2**63) - 1)
    assert (opened.status_code, pressed.status_code) == (400, 400)
    assert state is services.ConfirmationState.NOT_FOUND
    assert outcome is services.Outcome.NOT_FOUND
    assert failed == []


@pytest.mark.django_db(transaction=True)
def test_it_gives_existing_signatures_public_ids_when_migrating(migrator):
    target = ("petitions", "0012_signature_public_id")
    before = migrator.before(target)
    apps = migrator.migrate(before)
    petition = migrator.petition(apps)
    OldSignature = apps.get_model("petitions", "Signature")
    for n in range(5):
        OldSignature.objects.create(petition=petition, email=f"s{n}@example.org", country="NL")
    Migrated = migrator.migrate([target]).get_model("petitions", "Signature")
    public_ids = list(Migrated.objects.values_list("public_id", flat=True))
    assert len(public_ids) == len(set(public_ids)) == 5
    assert all(isinstance(public_id, uuid.UUID) for public_id in public_ids)
    migrator.migrate(before)  # and back: the column goes, the rows stay
    assert OldSignature.objects.count() == 5
