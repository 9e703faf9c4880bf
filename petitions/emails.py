"""The signers' emails: the outbox is the signature row itself.

Signing sets `email_due` in the same transaction that saves the signature, so an email is never
asked for without its signature, nor a signature saved without its email. The worker
(`manage.py send_emails`) takes one due signature at a time with SELECT ... FOR UPDATE SKIP
LOCKED, sends, and marks it sent in that same short transaction:

- several workers never take the same email;
- a worker killed mid-send rolls back, the row stays due, and another worker (or the same one,
  restarted) sends it: nothing is lost and nothing stays stuck as "running";
- a failed send is retried with doubling delays, from a minute to about a day, then given up
  and logged;
- a second signing while an email is due asks for no second one.

An email can still go out twice only if a worker dies after the mail server accepted it and
before its transaction commits: a window of milliseconds, inherent to any email queue.
"""

import datetime as dt
import logging
import smtplib
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from petitions.models import Signature
from petitions.tokens import confirm_token, withdraw_token

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12


def _absolute(viewname: str, slug: str, token: str) -> str:
    return f"{settings.SITE_URL}{reverse(viewname, kwargs={'slug': slug})}?t={token}"


def message_id(signature: Signature) -> str:
    """The same for every delivery of one requested email: should a send be repeated (a
    worker killed after the mail server took the message), mail programs show it once."""
    requested = int(signature.email_requested_at.timestamp() * 1_000_000)
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<signature-{signature.pk}-{requested}@{domain}>"


def build_signature_email(signature: Signature, connection=None) -> EmailMessage:
    """The email for this signer's current state: confirm, or already counted."""
    petition = signature.petition
    with translation.override(signature.language):
        context = {
            "signature": signature,
            "petition": petition,
            "confirm_url": _absolute(
                "petitions:confirm", petition.slug, confirm_token(signature.pk)
            ),
            "withdraw_url": _absolute(
                "petitions:withdraw", petition.slug, withdraw_token(signature.pk)
            ),
            "confirm_days": settings.SIGNATURE_CONFIRM_MAX_AGE // 86400,
            "SITE_URL": settings.SITE_URL,
        }
        kind = "confirm" if signature.status == Signature.Status.PENDING else "counted"
        subject = render_to_string(f"petitions/email/{kind}_subject.txt", context)
        body = render_to_string(f"petitions/email/{kind}_body.txt", context)
    return EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        to=[signature.email],
        headers={"Auto-Submitted": "auto-generated", "Message-ID": message_id(signature)},
        connection=connection,
    )


def due_emails():
    now = timezone.now()
    return Signature.objects.filter(email_due=True).filter(
        Q(email_retry_at__isnull=True) | Q(email_retry_at__lte=now)
    )


def send_one(signature_id: int | None = None, connection=None) -> str | None:
    """Send the next due email (or this signature's, if due); return what happened, or None
    when nothing is due. `connection`: an open mail connection to reuse (the worker's)."""
    with transaction.atomic():
        due = due_emails().select_for_update(skip_locked=True, of=("self",))
        if signature_id is not None:
            due = due.filter(pk=signature_id)
        signature = due.select_related("petition").order_by("email_requested_at").first()
        if signature is None:
            return None
        if signature.erased_at or signature.status == Signature.Status.FRAUDULENT:
            Signature.objects.filter(pk=signature.pk).update(email_due=False)
            return "dropped"
        try:
            build_signature_email(signature, connection).send()
        except (smtplib.SMTPException, OSError) as exc:
            return _failed(signature, exc)
        Signature.objects.filter(pk=signature.pk).update(
            email_due=False, email_sent_at=timezone.now(), email_attempts=0, email_retry_at=None
        )
        return "sent"


def _failed(signature: Signature, exc: Exception) -> str:
    attempts = signature.email_attempts + 1
    if attempts >= MAX_ATTEMPTS:
        logger.error(
            "Signature email %s given up after %s attempts: %s",
            signature.pk,
            attempts,
            type(exc).__name__,
        )
        Signature.objects.filter(pk=signature.pk).update(email_due=False, email_attempts=attempts)
        return "given up"
    delay = settings.EMAIL_RETRY_SECONDS * 2 ** (attempts - 1)
    logger.warning(
        "Signature email %s not sent (%s); attempt %s again in %ss",
        signature.pk,
        type(exc).__name__,
        attempts + 1,
        delay,
    )
    Signature.objects.filter(pk=signature.pk).update(
        email_attempts=attempts, email_retry_at=timezone.now() + dt.timedelta(seconds=delay)
    )
    return "retry later"


def email_requested(signature_id: int) -> None:
    """Called in the signing transaction once the signature's email is due. In development
    and tests (EMAIL_QUEUE=immediate) it is sent there and then; failures stay in the outbox."""
    if settings.EMAIL_QUEUE == "immediate":
        send_one(signature_id)


def run_worker(*, interval: float = 1.0, once: bool = False, stop=lambda: False) -> int:
    """Send due emails until stopped; with once=True, until none is due. Returns how many.

    If the database goes away the worker waits and carries on where it was when it returns,
    saying so once a minute rather than on every try.
    """
    sent = 0
    last_warning = 0.0
    connection = get_connection()  # one SMTP session for many emails, reopened when it fails
    while not stop():
        try:
            outcome = send_one(connection=connection)
        except DatabaseError as exc:
            if time.monotonic() - last_warning > 60:
                last_warning = time.monotonic()
                logger.warning("Email worker: the database is unavailable (%s)", exc.__class__)
            close_old_connections()
            time.sleep(interval)
            continue
        if outcome == "retry later":
            connection.close()  # a fresh connection for the next try
        if outcome is None:
            connection.close()
            if once:
                break
            # Idle: drop a connection that broke or aged (say the database restarted).
            close_old_connections()
            time.sleep(interval)
            continue
        sent += outcome == "sent"
    return sent
