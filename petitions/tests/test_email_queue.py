"""The email outbox: due with the signature, sent by the worker, retried, never twice, and
never stopped by one bad message."""

import datetime as dt
import smtplib
from io import StringIO
from unittest import mock

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import OperationalError
from django.template import TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone

from petitions import emails
from petitions.models import Signature

pytestmark = pytest.mark.django_db

SEND = "django.core.mail.EmailMessage.send"
ADDRESS = "ada@example.org"


@pytest.fixture
def worker_queue(settings):
    """As in production: signing leaves the email for the worker."""
    settings.EMAIL_QUEUE = "worker"


def sign(client, petition, sign_data, **fields):
    url = reverse("petitions:sign", kwargs={"slug": petition.slug})
    assert client.post(url, sign_data(**fields)).status_code == 302
    return Signature.objects.with_email(fields.get("email", "ada@example.org")).get()


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
    assert signature.email_set_aside_at is not None
    assert signature.email_problem == "OSError"
    assert f"Signature email {signature.pk} given up after 12 attempts: OSError" in caplog.text


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


@pytest.mark.parametrize(
    "error,logged",
    [
        (OperationalError("server closed the connection"), "the database is unavailable"),
        # Anything send_one could not pin on one message (it sets those aside itself).
        (RuntimeError("unforeseen"), "Email worker: unexpected RuntimeError; carrying on"),
    ],
)
def test_the_worker_waits_out_an_error_and_carries_on(caplog, monkeypatch, error, logged):
    outcomes = iter([error, "sent", "sent", None])

    def send_one(connection=None):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(emails, "send_one", send_one)
    monkeypatch.setattr(emails.time, "sleep", lambda seconds: None)
    assert emails.run_worker(once=True) == 2
    assert logged in caplog.text


def set_aside(signature: Signature) -> Signature:
    signature.refresh_from_db()
    assert signature.email_due is False
    assert signature.email_sent_at is None
    assert signature.email_set_aside_at is not None
    return signature


def refusal(exception: type, code: int, text: bytes) -> Exception:
    """An SMTP error as smtplib raises it, its text echoing the address as servers do."""
    if exception is smtplib.SMTPRecipientsRefused:
        return exception({ADDRESS: (code, text)})
    if exception is smtplib.SMTPSenderRefused:
        return exception(code, text, ADDRESS)
    return exception(code, text)


@pytest.mark.parametrize(
    "exception,code,text,problem",
    [
        (
            smtplib.SMTPRecipientsRefused,
            550,
            b"5.1.1 <ada@example.org>: Recipient address rejected: User unknown",
            "SMTPRecipientsRefused 550 5.1.1",
        ),
        (smtplib.SMTPDataError, 554, b"5.7.1 ada@example.org: spam", "SMTPDataError 554 5.7.1"),
        (
            smtplib.SMTPSenderRefused,
            552,
            b"message for ada@example.org too big",
            "SMTPSenderRefused 552",
        ),
        (
            smtplib.SMTPResponseException,
            521,
            b"ada@example.org does not accept mail",
            "SMTPResponseException 521",
        ),
    ],
)
def test_it_sets_aside_what_the_server_refuses_for_good_without_keeping_the_address(
    client, petition, sign_data, worker_queue, caplog, exception, code, text, problem
):
    signature = sign(client, petition, sign_data)
    with mock.patch(SEND, side_effect=refusal(exception, code, text)):
        assert emails.send_one() == "set aside"
    signature = set_aside(signature)
    assert signature.email_problem == problem
    assert signature.email_attempts == 1
    assert f"Signature email {signature.pk} set aside: {problem}" in caplog.text
    assert ADDRESS not in caplog.text
    assert emails.send_one() is None


@pytest.mark.parametrize(
    "error",
    [
        refusal(smtplib.SMTPRecipientsRefused, 450, b"4.2.0 ada@example.org: greylisted"),
        refusal(smtplib.SMTPDataError, 451, b"4.3.0 try again later"),
        smtplib.SMTPRecipientsRefused({ADDRESS: (550, b"5.1.1"), "b@example.org": (450, b"")}),
        # Refusals of the session, not of this message: every message would meet them.
        refusal(smtplib.SMTPAuthenticationError, 535, b"5.7.8 bad credentials"),
        refusal(smtplib.SMTPConnectError, 554, b"no service"),
        refusal(smtplib.SMTPHeloError, 501, b"5.5.4 invalid domain name"),
        smtplib.SMTPServerDisconnected("gone"),
        TimeoutError("timed out"),
    ],
)
def test_it_retries_what_may_pass(client, petition, sign_data, worker_queue, caplog, error):
    signature = sign(client, petition, sign_data)
    with mock.patch(SEND, side_effect=error):
        assert emails.send_one() == "retry later"
    signature.refresh_from_db()
    assert (signature.email_due, signature.email_attempts) == (True, 1)
    assert (signature.email_set_aside_at, signature.email_problem) == (None, "")
    assert ADDRESS not in caplog.text


def test_it_sets_aside_a_message_that_cannot_be_built(
    client, petition, sign_data, worker_queue, caplog
):
    signature = sign(client, petition, sign_data)
    with mock.patch.object(emails, "render_to_string", side_effect=TemplateSyntaxError("bad tag")):
        assert emails.send_one() == "set aside"
    assert set_aside(signature).email_problem == "TemplateSyntaxError"
    assert f"Signature email {signature.pk} set aside: TemplateSyntaxError" in caplog.text
    assert mail.outbox == []


def test_it_sets_aside_a_row_it_cannot_read(petition, make_signature, worker_queue, caplog):
    signature = make_signature(petition, email_due=True, email_requested_at=timezone.now())
    with mock.patch.object(Signature, "from_db", side_effect=ValueError("corrupt")):
        assert emails.send_one() == "set aside"
    assert set_aside(signature).email_problem == "ValueError"


def never_waits(seconds):
    raise AssertionError("the worker waited: a bad message was not set aside")


def test_the_worker_goes_on_with_the_next_message_after_a_bad_one(
    petition, make_signature, worker_queue, monkeypatch
):
    monkeypatch.setattr(emails.time, "sleep", never_waits)
    now = timezone.now()
    bad, *good = [
        make_signature(
            petition,
            email=f"s{n}@example.org",
            email_due=True,
            email_requested_at=now + dt.timedelta(seconds=n),
        )
        for n in range(3)
    ]
    send = mail.EmailMessage.send

    def send_unless_bad(message, *args, **kwargs):
        if message.to == [bad.email]:
            raise RuntimeError("something unforeseen")
        return send(message, *args, **kwargs)

    with mock.patch(SEND, autospec=True, side_effect=send_unless_bad):
        assert emails.run_worker(once=True) == 2
    assert set_aside(bad).email_problem == "RuntimeError"
    assert sorted(m.to[0] for m in mail.outbox) == [s.email for s in good]


def test_a_message_sent_later_is_no_longer_set_aside(
    client, petition, sign_data, worker_queue, settings
):
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    signature = sign(client, petition, sign_data)
    with mock.patch(SEND, side_effect=refusal(smtplib.SMTPDataError, 554, b"5.7.1 no")):
        emails.send_one()
    set_aside(signature)
    sign(client, petition, sign_data)  # the signer asks again
    assert emails.send_one() == "sent"
    signature.refresh_from_db()
    assert (signature.email_set_aside_at, signature.email_problem) == (None, "")
    assert signature.email_sent_at is not None


class RaisingBackend(BaseEmailBackend):
    """A mail backend that fails as the test says."""

    error: BaseException = RuntimeError("unforeseen")

    def send_messages(self, messages):
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("unforeseen"),
        ValueError("Invalid address ada@example.org"),
        refusal(smtplib.SMTPRecipientsRefused, 550, b"5.1.1 ada@example.org unknown"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
)
def test_a_sending_error_while_signing_still_says_check_your_inbox(
    client, petition, sign_data, settings, monkeypatch, error
):
    settings.EMAIL_QUEUE = "immediate"
    settings.EMAIL_BACKEND = f"{__name__}.RaisingBackend"
    monkeypatch.setattr(RaisingBackend, "error", error)
    url = reverse("petitions:sign", kwargs={"slug": petition.slug})
    response = client.post(url, sign_data(), follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].endswith("/check-your-inbox/")
    assert "Check your inbox" in response.content.decode()
    signature = Signature.objects.with_email(ADDRESS).get()
    assert signature.email_sent_at is None
    assert signature.email_attempts == 1


def test_message_ids_reveal_no_signature_number(petition, make_signature):
    now = timezone.now()
    first, second = (
        make_signature(petition, pk=pk, email_requested_at=now) for pk in (48151623, 48151624)
    )
    ids = [emails.message_id(first), emails.message_id(second)]
    assert ids[0] != ids[1]
    for signature, message_id in zip((first, second), ids, strict=True):
        assert str(signature.pk) not in message_id
        assert message_id.endswith("@campaign.example>")
    assert emails.message_id(first) == ids[0]  # the same for every delivery of one email


def test_a_retried_email_keeps_its_message_id(client, petition, sign_data, worker_queue):
    signature = sign(client, petition, sign_data)
    sent_ids = []
    send = mail.EmailMessage.send

    def fail_once(message, *args, **kwargs):
        sent_ids.append(message.extra_headers["Message-ID"])
        if len(sent_ids) == 1:
            raise smtplib.SMTPServerDisconnected("down")
        return send(message, *args, **kwargs)

    with mock.patch(SEND, autospec=True, side_effect=fail_once):
        assert emails.send_one() == "retry later"
        Signature.objects.filter(pk=signature.pk).update(email_retry_at=timezone.now())
        assert emails.send_one() == "sent"
    assert sent_ids[0] == sent_ids[1] == mail.outbox[0].extra_headers["Message-ID"]
