"""The whole confirmation journey through a real SMTP server started by the test."""

import email
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse

from petitions.models import Signature
from petitions.tests.helpers import links_in, path_of

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

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
    assert "Hello Zoë," in body
    links = links_in(body)

    confirm_path = path_of(links["confirm"])
    page = client.get(confirm_path)
    assert page.status_code == 200
    assert Signature.objects.get().status == Signature.Status.PENDING

    token = page.context["token"]
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
