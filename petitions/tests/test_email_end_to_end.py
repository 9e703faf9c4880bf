"""The whole confirmation journey through a real SMTP server started by the test, and what
the outbox does with what that server refuses."""

import email
import re
import socket
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse
from django.utils import timezone

from petitions import emails
from petitions.models import Signature
from petitions.tests.helpers import links_in, path_of

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[str] = []
        self.unknown: set[str] = set()  # refused, the reply repeating the address as servers do

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.unknown:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        self.recipients.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(message)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_inbox(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield inbox
    controller.stop()


def test_it_confirms_a_signature_through_the_link_in_a_real_email(
    client, petition, sign_data, smtp_inbox
):
    response = client.post(
        reverse("petitions:sign", kwargs={"slug": petition.slug}),
        sign_data(first_name="Zoë", email="Zoe@Example.org"),
    )
    assert response.status_code == 302

    [message] = smtp_inbox.messages
    assert message["To"] == "zoe@example.org"
    assert "Please confirm your signature" in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert body.startswith("Hello,\r\n")
    assert "Zoë" not in body
    links = links_in(body)

    confirm_path = path_of(links["confirm"])
    page = client.get(confirm_path)
    assert page.status_code == 200
    assert Signature.objects.get().status == Signature.Status.PENDING

    # The token as the page's button posts it (the page is filled in per link, not rendered).
    token = re.search(r'name="t" value="([^"]+)"', page.content.decode()).group(1)
    confirmed = client.post(
        reverse("petitions:confirm", kwargs={"slug": petition.slug}), {"t": token}, follow=True
    )
    assert confirmed.status_code == 200
    assert "Thank you: your signature is counted" in confirmed.content.decode()
    assert Signature.objects.get().status == Signature.Status.CONFIRMED
    assert petition.confirmed_count == 1

    withdraw_page = client.get(path_of(links["withdraw"]))
    assert withdraw_page.status_code == 200
    assert "Withdraw my signature" in withdraw_page.content.decode()


def never_waits(seconds):
    raise AssertionError("the worker waited: a bad message was not set aside")


def body_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def sign(client, petition, sign_data, **fields):
    response = client.post(
        reverse("petitions:sign", kwargs={"slug": petition.slug}), sign_data(**fields)
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/check-your-inbox/")


def test_it_puts_nothing_the_signer_typed_in_the_email(
    client, petition, sign_data, smtp_inbox, settings
):
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    typed = {"first_name": "Visit https://evil.example now", "last_name": "Call +1 555 0100"}
    sign(client, petition, sign_data, **typed)
    Signature.objects.update(status=Signature.Status.CONFIRMED, confirmed_at=timezone.now())
    sign(client, petition, sign_data, **typed)  # the "already counted" email
    assert len(smtp_inbox.messages) == 2
    for message in smtp_inbox.messages:
        for text in (message["Subject"], body_of(message)):
            assert "evil.example" not in text
            assert "555" not in text
            assert all(value not in text for value in typed.values())


def test_it_sends_to_an_international_domain_in_its_ascii_form(
    client, petition, sign_data, smtp_inbox
):
    sign(client, petition, sign_data, email="Zoe@Bücher.Example")
    assert Signature.objects.get().email == "zoe@xn--bcher-kva.example"
    assert smtp_inbox.recipients == ["zoe@xn--bcher-kva.example"]
    assert smtp_inbox.messages[0]["To"] == "zoe@xn--bcher-kva.example"


def test_it_sets_aside_an_address_the_server_does_not_know_without_keeping_it(
    client, petition, sign_data, smtp_inbox, caplog
):
    smtp_inbox.unknown.add("nobody@example.org")
    sign(client, petition, sign_data, email="nobody@example.org")
    signature = Signature.objects.get()
    assert (signature.email_due, signature.email_sent_at) == (False, None)
    assert signature.email_set_aside_at is not None
    assert signature.email_problem == "SMTPRecipientsRefused 550 5.1.1"
    logged = [r.getMessage() for r in caplog.records if r.name == emails.__name__]
    assert logged == [f"Signature email {signature.pk} set aside: SMTPRecipientsRefused 550 5.1.1"]
    assert smtp_inbox.messages == []


def test_the_worker_sets_aside_an_address_the_mail_library_cannot_encode_and_goes_on(
    petition, make_signature, smtp_inbox, settings, caplog, monkeypatch
):
    # Stored before addresses were checked at the form; the mail library refuses it with a
    # message that repeats it.
    settings.EMAIL_QUEUE = "worker"
    monkeypatch.setattr(emails.time, "sleep", never_waits)
    now = timezone.now()
    unusable, fine = (
        make_signature(petition, email=address, email_due=True, email_requested_at=now)
        for address in ("ada@exa mple.org", "fine@example.org")
    )
    assert emails.run_worker(once=True) == 1
    unusable.refresh_from_db()
    assert (unusable.email_due, unusable.email_problem) == (False, "ValueError")
    assert smtp_inbox.recipients == ["fine@example.org"]
    logged = [r.getMessage() for r in caplog.records if r.name == emails.__name__]
    assert logged == [f"Signature email {unusable.pk} set aside: ValueError"]
