"""Discreet emails, for people whose mail may be read by others: a plain sender and subject,
plain text naming neither the campaign nor the petition, and links that work all the same."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.urls import reverse

from petitions.models import HighRiskCountry, Signature
from petitions.tests.helpers import links_in, path_of
from petitions.tokens import LinkState, read_confirm_token

pytestmark = pytest.mark.django_db


def sign(client, petition, data) -> mail.EmailMessage:
    mail.outbox.clear()
    url = reverse("petitions:sign", kwargs={"slug": petition.slug})
    assert client.post(url, data).status_code == 302
    [message] = mail.outbox
    return message


def assert_discreet(message: mail.EmailMessage, petition) -> None:
    assert message.from_email == "Confirmation <petition@localhost>"
    assert message.content_subtype == "plain"
    assert not getattr(message, "alternatives", None) and not message.attachments
    assert "List-Unsubscribe" not in message.extra_headers
    # The sender's address is DEFAULT_FROM_EMAIL's (DISCREET_EMAIL_FROM may name another).
    everything = f"{message.subject}\n{message.body}"
    for telling in ("#BringHumanRightsHome", "BringHumanRights", petition.title, petition.slug,
                    "petition", "signature", "human rights"):  # fmt: skip
        assert telling.lower() not in everything.lower(), telling
    assert "form" in message.body and " on campaign.example" in message.body  # the site only
    assert not re.search(r"<img|https?://\S+\.(png|gif|jpe?g)", message.body)


@pytest.fixture
def discreet(settings):
    settings.DISCREET_EMAILS = True


def test_it_sends_a_neutral_confirmation_email_and_its_link_confirms(
    client, petition, sign_data, discreet
):
    message = sign(client, petition, sign_data())
    assert message.subject == "Your confirmation link"
    assert_discreet(message, petition)
    links = links_in(message.body)
    assert path_of(links["confirm"]).startswith("/link/confirm/?t=")
    assert path_of(links["withdraw"]).startswith("/link/withdraw/?t=")
    # The link leads on to the petition's own page, which confirms only when the button is pressed.
    response = client.get(path_of(links["confirm"]))
    signature = Signature.objects.get()
    confirm = reverse("petitions:confirm", kwargs={"slug": petition.slug})
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == confirm
    [token] = parse_qs(urlsplit(response["Location"]).query)["t"]
    assert read_confirm_token(token) == (LinkState.VALID, signature.public_id)
    assert client.get(response["Location"]).status_code == 200
    signature.refresh_from_db()
    assert signature.status == Signature.Status.PENDING
    assert client.post(confirm, {"t": token}).status_code == 302
    signature.refresh_from_db()
    assert signature.status == Signature.Status.CONFIRMED


def test_its_withdrawal_link_withdraws(client, petition, sign_data, discreet):
    message = sign(client, petition, sign_data())
    response = client.get(path_of(links_in(message.body)["withdraw"]))
    assert response.status_code == 302
    withdraw = reverse("petitions:withdraw", kwargs={"slug": petition.slug})
    assert response["Location"].startswith(f"{withdraw}?t=")
    [token] = parse_qs(urlsplit(response["Location"]).query)["t"]
    assert client.post(withdraw, {"t": token}).status_code == 200
    assert not Signature.objects.exists()


def test_the_already_counted_email_is_neutral_too(client, petition, sign_data, discreet):
    message = sign(client, petition, sign_data())
    client.post(reverse("petitions:confirm", kwargs={"slug": petition.slug}),
                {"t": path_of(links_in(message.body)["confirm"]).split("?t=", 1)[1]})  # fmt: skip
    Signature.objects.update(email_requested_at=None)  # no wait for the next email
    again = sign(client, petition, sign_data(email="ADA@example.org"))
    assert again.subject == "Already confirmed"
    assert_discreet(again, petition)
    assert "confirm" not in links_in(again.body)
    assert "withdraw" in links_in(again.body)


def test_signers_from_a_high_risk_country_always_get_it(client, petition, sign_data):
    HighRiskCountry.objects.mark(country="BY", username="staff")
    message = sign(client, petition, sign_data(country="BY"))
    assert message.subject == "Your confirmation link"
    assert_discreet(message, petition)


def test_others_get_the_campaigns_email_by_default(client, petition, sign_data):
    HighRiskCountry.objects.mark(country="BY", username="staff")
    message = sign(client, petition, sign_data(country="NL"))
    assert petition.title in message.subject
    assert message.from_email == "#BringHumanRightsHome <petition@localhost>"
    assert "#BringHumanRightsHome" in message.body


def test_a_link_naming_no_signature_leads_to_the_page_that_explains(client, petition):
    response = client.get(reverse("petitions:discreet_confirm"), {"t": "tampered"}, follow=True)
    assert response.status_code == 400
    assert response.redirect_chain[0][0].startswith(
        reverse("petitions:confirm", kwargs={"slug": petition.slug})
    )


def test_its_links_change_nothing_and_take_no_post(client, petition, sign_data, discreet):
    message = sign(client, petition, sign_data())
    assert client.post(path_of(links_in(message.body)["confirm"])).status_code == 405
    assert client.post(path_of(links_in(message.body)["withdraw"])).status_code == 405
    assert Signature.objects.get().status == Signature.Status.PENDING


def test_its_links_lead_to_the_petition_signed_not_the_newest(
    client, petition, make_petition, sign_data, discreet
):
    message = sign(client, petition, sign_data())
    make_petition()  # now the featured one
    for kind in ("confirm", "withdraw"):
        response = client.get(path_of(links_in(message.body)[kind]))
        assert urlsplit(response["Location"]).path == reverse(
            f"petitions:{kind}", kwargs={"slug": petition.slug}
        )
