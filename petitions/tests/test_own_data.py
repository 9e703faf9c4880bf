"""A signer's own data: from any email's link, without an account, a copy of everything the site
holds about them (emailed to their address, through the outbox) or its erasure, on every
petition they signed; with the same care as the confirmation link (opening it changes nothing,
broken links explain themselves, requests are limited)."""

import datetime as dt
import re
import smtplib
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from campaign.lib.sealed import stored_token
from campaign.tests.test_valid_html import assert_valid
from petitions import emails, services
from petitions.models import ConsentWording, HighRiskCountry, Signature
from petitions.tests.helpers import links_in, path_of
from petitions.tokens import confirm_token, data_token, format_receipt, withdraw_token

pytestmark = pytest.mark.django_db

ADA = "ada@example.org"
SEND = "django.core.mail.EmailMessage.send"


def url(name: str, petition) -> str:
    return reverse(f"petitions:{name}", kwargs={"slug": petition.slug})


def data_link(body: str) -> str:
    [link] = [u for u in re.findall(r"https?://\S+", body) if "/your-data/" in u or "/data/" in u]
    return path_of(link)


def ask_copy(client, signature, **data):
    return client.post(
        url("own_data_copy", signature.petition), {"t": data_token(signature.public_id), **data}
    )


def ask_erasure(client, signature):
    return client.post(
        url("own_data_erase", signature.petition), {"t": data_token(signature.public_id)}
    )


def row(signature) -> dict:
    return Signature.objects.filter(pk=signature.pk).values().get()


@pytest.fixture
def worker(settings):
    """Emails wait in the outbox until the worker sends them."""
    settings.EMAIL_QUEUE = "worker"


@pytest.fixture
def ada(make_petition, make_signature, zmina):
    """One person, Ada, who signed two petitions: counted on the first (and asked for updates,
    so the address is kept), pending on the second."""
    wording = ConsentWording.objects.id_for("en", "Keep me posted about the campaign")
    first = make_signature(
        make_petition(title="Free the defenders"),
        confirmed=True,
        email=ADA,
        first_name="Ada",
        last_name="Lovelace",
        wants_updates=True,
        updates_wording_id=wording,
        partner=zmina,
        utm_source="newsletter",
        utm_campaign="spring",
        language="en",
    )
    second = make_signature(
        make_petition(title="Protect journalists"), email=ADA, first_name="", last_name=""
    )
    return first, second


@pytest.fixture
def someone_else(ada, make_signature):
    """Another person, on Ada's first petition."""
    return make_signature(
        ada[0].petition, confirmed=True, email="grace@example.org", first_name="Grace"
    )


def test_opening_the_page_changes_nothing(client, ada):
    first, second = ada
    before = [row(first), row(second)]
    response = client.get(url("own_data", first.petition), {"t": data_token(first.public_id)})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Email me a copy of what you hold about me" in page
    assert "Erase everything you hold about me" in page
    assert 'name="email"' not in page  # the address is held: nothing to type
    assert "no-cache" in response["Cache-Control"]
    assert [row(first), row(second)] == before
    assert mail.outbox == []


def test_its_buttons_take_no_get(client, ada):
    first, _second = ada
    for name in ("own_data_copy", "own_data_erase"):
        response = client.get(url(name, first.petition), {"t": data_token(first.public_id)})
        assert response.status_code == 405
    assert Signature.objects.filter(erased_at__isnull=True).count() == 2


def test_it_emails_a_copy_of_all_the_persons_signatures_and_no_one_elses(client, ada, someone_else):
    first, second = ada
    response = ask_copy(client, first)
    assert response.status_code == 200
    assert "Your copy is on its way" in response.content.decode()
    [message] = mail.outbox
    assert message.to == [ADA]
    assert message.subject == "A copy of your data: #BringHumanRightsHome"
    body = message.body
    for expected in (
        "Petition: Free the defenders",
        "Petition: Protect journalists",
        "Name: “Ada Lovelace”",
        "Name: no name",
        "Country: Netherlands",
        "Language: English",
        "Status: confirmed",
        "Status: waiting for confirmation",
        "Emails from the campaign: yes, given on",
        "“Keep me posted about the campaign”",
        "Emails from the partner organisation: no",
        "Partner organisation whose link you followed: ZMINA",
        "Campaign parameters of the link you followed: source “newsletter”, campaign “spring”",
        f"Receipt: {format_receipt(first.receipt)}",
        f"Receipt: {format_receipt(second.receipt)}",
        "Email address: kept, sealed, because you agreed to receive emails",
        "Email address: kept, sealed, until you confirm",
        f"Signed: {first.created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC",
    ):
        assert expected in body, expected
    assert body.index("Free the defenders") < body.index("Protect journalists")  # oldest first
    assert "Grace" not in body and "grace@" not in body
    assert format_receipt(someone_else.receipt) not in body
    # The copy names the same link again, to erase or to ask once more.
    assert data_link(body).startswith(url("own_data", first.petition) + "?t=")
    first.refresh_from_db()
    assert not first.email_due and first.email_kind == Signature.EmailKind.SIGNATURE
    assert first.email == ADA  # kept: the signer asked for updates


def test_it_sends_at_most_one_email_a_minute(client, ada):
    first, _second = ada
    assert ask_copy(client, first).status_code == 200
    assert ask_copy(client, first).status_code == 200
    assert len(mail.outbox) == 1
    Signature.objects.filter(pk=first.pk).update(
        email_requested_at=timezone.now() - dt.timedelta(minutes=2)
    )
    ask_copy(client, first)
    assert len(mail.outbox) == 2


def test_it_asks_for_a_forgotten_address_and_sends_only_to_the_signers_own(
    client, petition, make_signature, someone_else
):
    signature = make_signature(petition, confirmed=True, email=ADA)
    assert signature.email is None  # confirm and forget
    page = client.get(url("own_data", petition), {"t": data_token(signature.public_id)})
    assert 'name="email"' in page.content.decode()

    wrong = ask_copy(client, signature, email="grace@example.org")
    right = ask_copy(client, signature, email="  ADA@Example.ORG ")
    assert wrong.status_code == right.status_code == 200
    # The same page whether or not the address is the signer's: the link's holder learns nothing.
    assert wrong.content == right.content
    assert "If the address you typed is the one you signed with" in right.content.decode()
    [message] = mail.outbox
    assert message.to == [ADA]
    assert "Email address: not kept" in message.body
    signature.refresh_from_db()
    assert signature.email is None  # forgotten again once the email went
    assert Signature.objects.get(pk=someone_else.pk).email_requested_at is None


def test_a_typed_address_is_kept_sealed_only_until_the_copy_goes(
    client, petition, make_signature, worker
):
    signature = make_signature(petition, confirmed=True, email=ADA)
    ask_copy(client, signature, email=ADA)
    waiting = (
        Signature.objects.filter(pk=signature.pk)
        .values_list(stored_token("email"), flat=True)
        .get()
    )
    assert waiting and ADA not in waiting  # stored, sealed, while the email is due
    assert emails.send_one() == "sent"
    [message] = mail.outbox
    assert message.to == [ADA]
    assert row(signature)["email"] is None


def test_a_typed_address_is_forgotten_when_the_copy_is_given_up(
    client, petition, make_signature, worker
):
    signature = make_signature(petition, confirmed=True, email=ADA)
    ask_copy(client, signature, email=ADA)
    Signature.objects.filter(pk=signature.pk).update(email_attempts=emails.MAX_ATTEMPTS - 1)
    with mock.patch(SEND, side_effect=smtplib.SMTPServerDisconnected()):
        assert emails.send_one() == "given up"
    assert row(signature)["email"] is None
    assert row(signature)["email_kind"] == Signature.EmailKind.SIGNATURE


def test_a_badly_typed_address_is_shown_again(client, petition, make_signature):
    signature = make_signature(petition, confirmed=True, email=ADA)
    response = ask_copy(client, signature, email="not an address")
    assert response.status_code == 400
    assert "Please check the form" in response.content.decode()
    assert mail.outbox == []


def test_a_typed_address_never_replaces_one_the_signature_holds(client, ada):
    first, _second = ada
    ask_copy(client, first, email="mallory@example.org")
    assert [message.to for message in mail.outbox] == [[ADA]]


@pytest.mark.parametrize("how", ["all emails", "a high-risk country"])
def test_the_copy_is_discreet_when_the_signers_emails_are(client, ada, settings, how):
    first, second = ada
    if how == "all emails":
        settings.DISCREET_EMAILS = True
    else:  # the other signature's country: the copy names that petition too
        HighRiskCountry.objects.mark(country="BY", username="staff")
        Signature.objects.filter(pk=second.pk).update(country="BY")
    ask_copy(client, first)
    [message] = mail.outbox
    assert message.from_email == settings.DISCREET_EMAIL_FROM
    assert message.subject == "The copy you asked for"
    for telling in ("#BringHumanRightsHome", "Free the defenders", "petition", "signature"):
        assert telling.lower() not in message.subject.lower()
    assert "#BringHumanRightsHome" not in message.body
    assert "Form: Free the defenders" in message.body  # what they asked for, all the same
    assert path_of(links_in(message.body)["privacy"]) == reverse("pages:privacy")
    response = client.get(data_link(message.body))
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == url("own_data", first.petition)


def test_it_erases_everything_about_the_person_on_every_petition(client, ada, someone_else):
    first, second = ada
    response = ask_erasure(client, second)  # from the pending signature's email
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your data has been erased" in page
    assert "2 signatures" in page
    assert not Signature.objects.filter(pk=second.pk).exists()  # pending: deleted
    erased = row(first)
    assert erased["erased_at"] is not None
    assert erased["first_name"] == erased["last_name"] == erased["receipt"] == ""
    assert erased["email"] is None and erased["email_hash"] is None
    assert not erased["wants_updates"] and erased["utm_source"] == ""
    assert first.petition.confirmed_count == 2  # still counted, with Grace's
    kept = Signature.objects.get(pk=someone_else.pk)
    assert kept.erased_at is None and kept.first_name == "Grace"
    # Every link of the erased signature now finds nothing.
    again = client.get(url("own_data", first.petition), {"t": data_token(first.public_id)})
    assert again.status_code == 404
    assert "We hold nothing for this link" in again.content.decode()
    assert ask_erasure(client, first).status_code == 404
    assert ask_copy(client, first).status_code == 404
    withdraw = client.get(url("withdraw", first.petition), {"t": withdraw_token(first.public_id)})
    assert withdraw.status_code == 404


def test_erasure_also_cancels_a_copy_waiting_in_the_outbox(client, ada, worker):
    first, _second = ada
    ask_copy(client, first)
    assert row(first)["email_due"] and row(first)["email_kind"] == Signature.EmailKind.DATA_COPY
    ask_erasure(client, first)
    assert not row(first)["email_due"]
    assert row(first)["email_kind"] == Signature.EmailKind.SIGNATURE
    call_command("send_emails", "--once")
    assert mail.outbox == []


def test_an_erased_signature_names_no_one(make_petition, make_signature):
    """The NULL hash of an erased signature must not match every other erased one."""
    petition = make_petition()
    one, other = make_signature(petition, confirmed=True), make_signature(petition, confirmed=True)
    services.erase_signatures(Signature.objects.filter(pk__in=[one.pk, other.pk]))
    one.refresh_from_db()
    assert list(Signature.objects.of_signer(one)) == []


@pytest.mark.parametrize("name", ["own_data", "own_data_copy", "own_data_erase"])
def test_a_broken_link_explains_itself(client, ada, name):
    first, _second = ada
    method = client.get if name == "own_data" else client.post
    for token in ("", "tampered", data_token(first.public_id)[:-2], withdraw_token(first.public_id),
                  confirm_token(first.public_id)):  # fmt: skip
        response = method(url(name, first.petition), {"t": token})
        assert response.status_code == 400, token
        assert "This link does not work" in response.content.decode()
    assert Signature.objects.filter(erased_at__isnull=True).count() == 2
    assert mail.outbox == []


def test_a_link_works_only_on_its_own_petitions_page(client, ada):
    first, second = ada
    token = data_token(first.public_id)
    assert client.get(url("own_data", second.petition), {"t": token}).status_code == 404
    response = client.post(url("own_data_erase", second.petition), {"t": token})
    assert response.status_code == 404
    assert Signature.objects.filter(erased_at__isnull=True).count() == 2


def test_the_link_works_months_later(client, ada):
    first, _second = ada
    token = data_token(first.public_id)
    later = timezone.now() + dt.timedelta(days=400)
    with mock.patch("django.core.signing.time.time", return_value=later.timestamp()):
        response = client.get(url("own_data", first.petition), {"t": token})
    assert response.status_code == 200


def test_it_limits_the_requests(client, ada, settings):
    settings.RATE_LIMIT_LINKS = "2/m"
    first, _second = ada
    assert ask_copy(client, first).status_code == 200
    assert ask_copy(client, first).status_code == 200
    assert ask_erasure(client, first).status_code == 429
    assert Signature.objects.filter(erased_at__isnull=True).count() == 2


@pytest.mark.parametrize("discreet", [False, True])
@pytest.mark.parametrize("confirmed", [False, True])
def test_every_email_carries_the_link(client, petition, sign_data, settings, discreet, confirmed):
    settings.DISCREET_EMAILS = discreet
    sign = url("sign", petition)
    client.post(sign, sign_data())
    signature = Signature.objects.get()
    if confirmed:
        services.confirm_signature(signature_id=signature.pk)
        Signature.objects.update(email_requested_at=None)
        mail.outbox.clear()
        client.post(sign, sign_data())  # the "already counted" email
    [message] = mail.outbox
    assert "Your data: ask for a copy of it or for its erasure:" in message.body
    link = data_link(message.body)
    assert link.startswith("/link/data/?t=" if discreet else url("own_data", petition) + "?t=")
    response = client.get(link, follow=True)
    assert response.status_code == 200
    assert "Erase everything you hold about me" in response.content.decode()


def test_a_copy_asked_for_while_the_confirmation_waits_carries_its_link(
    client, petition, make_signature, worker
):
    signature = make_signature(petition, email=ADA)  # pending
    # The confirmation email is due, its first try failed and it waits to be tried again.
    Signature.objects.filter(pk=signature.pk).update(
        email_due=True,
        email_requested_at=timezone.now() - dt.timedelta(minutes=5),
        email_retry_at=timezone.now() - dt.timedelta(seconds=1),
    )
    ask_copy(client, signature)
    assert emails.send_one() == "sent"
    assert emails.send_one() is None  # one email: the copy took the confirmation's place
    [message] = mail.outbox
    assert message.subject == "A copy of your data: #BringHumanRightsHome"
    confirm = links_in(message.body)["confirm"]
    token = parse_qs(urlsplit(confirm).query)["t"][0]
    assert client.post(url("confirm", petition), {"t": token}).status_code == 302
    assert Signature.objects.get(pk=signature.pk).status == Signature.Status.CONFIRMED


def test_a_copy_asked_for_just_after_signing_leaves_the_confirmation_due(
    client, petition, sign_data, worker
):
    client.post(url("sign", petition), sign_data(email=ADA))
    signature = Signature.objects.get()
    response = ask_copy(client, signature)
    assert response.status_code == 200
    assert row(signature)["email_kind"] == Signature.EmailKind.SIGNATURE
    emails.send_one()
    [message] = mail.outbox
    assert message.subject.startswith("Please confirm your signature")


def test_a_second_signing_keeps_a_copy_that_is_due(client, ada, sign_data, worker):
    first, _second = ada
    ask_copy(client, first)
    Signature.objects.filter(pk=first.pk).update(
        email_requested_at=timezone.now() - dt.timedelta(minutes=5)
    )
    client.post(url("sign", first.petition), sign_data(email=ADA))
    assert row(first)["email_kind"] == Signature.EmailKind.DATA_COPY
    emails.send_one()
    assert mail.outbox[0].subject == "A copy of your data: #BringHumanRightsHome"


def test_what_a_signer_typed_is_quoted_on_one_line(client, petition, make_signature):
    signature = make_signature(
        petition,
        email=ADA,
        first_name="Ada\r\n\r\nYour account is blocked: https://evil.example",
        last_name="\u202eecalevol",
    )
    ask_copy(client, signature)
    [message] = mail.outbox
    assert "Name: “Ada Your account is blocked: https://evil.example ecalevol”" in message.body
    assert "\u202e" not in message.body
    assert not any(line.startswith("Your account") for line in message.body.splitlines())


def test_its_pages_are_well_formed_html5(client, ada, petition, make_signature):
    first, _second = ada
    forgot = make_signature(petition, confirmed=True, email="forgot@example.org")
    pages = {
        "holds the address": client.get(
            url("own_data", first.petition), {"t": data_token(first.public_id)}
        ),
        "asks for it": client.get(url("own_data", petition), {"t": data_token(forgot.public_id)}),
        "address mistyped": ask_copy(client, forgot, email="bad"),
        "copy": ask_copy(client, first),
        "erased": ask_erasure(client, first),
        "nothing": ask_erasure(client, first),
    }
    for where, response in pages.items():
        assert_valid(response.content.decode(), where)
