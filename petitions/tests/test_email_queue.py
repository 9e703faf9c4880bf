"""The email outbox: due with the signature, sent by the worker, retried, never twice."""

import datetime as dt
import smtplib
from io import StringIO
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from petitions import emails
from petitions.models import Signature

pytestmark = pytest.mark.django_db

SEND = "django.core.mail.EmailMessage.send"


@pytest.fixture
def worker_queue(settings):
    """As in production: signing leaves the email for the worker."""
    settings.EMAIL_QUEUE = "worker"


def sign(client, petition, sign_data, **fields):
    url = reverse("petitions:sign", kwargs={"slug": petition.slug})
    assert client.post(url, sign_data(**fields)).status_code == 302
    return Signature.objects.get(email=fields.get("email", "ada@example.org"))


def test_it_saves_the_signature_with_its_email_due_and_sends_nothing_while_signing(
    client, petition, sign_data, worker_queue
):
    signature = sign(client, petition, sign_data)
    assert signature.email_due is True
    assert signature.email_sent_at is None
    assert mail.outbox == []
    assert emails.send_one() == "sent"
    signature.refresh_from_db()
    assert (signature.email_due, signature.email_sent_at is not None) == (False, True)
    [message] = mail.outbox
    assert message.to == ["ada@example.org"]
    assert message.extra_headers["Message-ID"] == emails.message_id(signature)
    assert message.extra_headers["Message-ID"].endswith("@campaign.example>")


def test_it_never_sends_the_same_email_twice(client, petition, sign_data, worker_queue):
    sign(client, petition, sign_data)
    assert emails.send_one() == "sent"
    assert emails.send_one() is None
    assert len(mail.outbox) == 1


def test_it_asks_for_one_email_however_often_the_form_is_sent(
    client, petition, sign_data, worker_queue, settings
):
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    for _ in range(3):
        sign(client, petition, sign_data)
    assert emails.run_worker(once=True) == 1
    assert len(mail.outbox) == 1


def test_it_retries_later_when_smtp_fails_and_sends_once_it_is_back(
    client, petition, sign_data, worker_queue
):
    signature = sign(client, petition, sign_data)
    with mock.patch(SEND, side_effect=smtplib.SMTPServerDisconnected("down")):
        assert emails.send_one() == "retry later"
    signature.refresh_from_db()
    assert signature.email_due is True
    assert signature.email_attempts == 1
    assert signature.email_retry_at > timezone.now() + dt.timedelta(seconds=50)
    assert emails.send_one() is None  # not before its time
    Signature.objects.filter(pk=signature.pk).update(email_retry_at=timezone.now())
    assert emails.send_one() == "sent"
    assert len(mail.outbox) == 1


def test_it_doubles_the_delay_and_gives_up_after_the_last_attempt(
    client, petition, sign_data, worker_queue, caplog
):
    signature = sign(client, petition, sign_data)
    delays = []
    with mock.patch(SEND, side_effect=OSError("connection refused")):
        for _ in range(emails.MAX_ATTEMPTS):
            outcome = emails.send_one()
            signature.refresh_from_db()
            if outcome == "retry later":
                delays.append(round((signature.email_retry_at - timezone.now()).total_seconds()))
                Signature.objects.filter(pk=signature.pk).update(email_retry_at=timezone.now())
    assert outcome == "given up"
    assert delays[:3] == [60, 120, 240]
    assert signature.email_due is False
    assert "given up after 12 attempts" in caplog.text


def test_it_drops_the_email_of_a_signature_erased_meanwhile(
    client, petition, sign_data, worker_queue
):
    signature = sign(client, petition, sign_data)
    Signature.objects.filter(pk=signature.pk).update(erased_at=timezone.now(), email=None)
    assert emails.send_one() == "dropped"
    assert mail.outbox == []


def test_it_waits_as_long_as_configured_before_retrying(
    client, petition, sign_data, worker_queue, settings
):
    settings.EMAIL_RETRY_SECONDS = 2
    signature = sign(client, petition, sign_data)
    with mock.patch(SEND, side_effect=OSError("refused")):
        emails.send_one()
    signature.refresh_from_db()
    assert 0 < (signature.email_retry_at - timezone.now()).total_seconds() <= 2


def test_it_loses_nothing_when_the_worker_dies_mid_send(client, petition, sign_data, worker_queue):
    sign(client, petition, sign_data)
    with mock.patch(SEND, side_effect=KeyboardInterrupt), pytest.raises(KeyboardInterrupt):
        emails.send_one()  # the process would die here; its transaction rolls back
    assert Signature.objects.get().email_due is True
    assert emails.send_one() == "sent"
    assert len(mail.outbox) == 1


def test_the_worker_command_sends_what_is_due_and_stops(client, petition, sign_data, worker_queue):
    for n in range(3):
        sign(client, petition, sign_data, email=f"s{n}@example.org")
    output = StringIO()
    call_command("send_emails", "--once", stdout=output)
    assert "3 emails sent." in output.getvalue()
    assert sorted(m.to[0] for m in mail.outbox) == [f"s{n}@example.org" for n in range(3)]


def test_the_worker_waits_for_the_database_and_carries_on(caplog, monkeypatch):
    from django.db import OperationalError

    outcomes = iter([OperationalError("server closed the connection"), "sent", "sent", None])

    def send_one(connection=None):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(emails, "send_one", send_one)
    monkeypatch.setattr(emails.time, "sleep", lambda seconds: None)
    assert emails.run_worker(once=True) == 2
    assert "the database is unavailable" in caplog.text
