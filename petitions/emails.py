"""The signers' emails: the outbox is the signature row itself.

Signing sets `email_due` in the same transaction that saves the signature, so an email is never
asked for without its signature, nor a signature saved without its email. The worker
(`manage.py send_emails`) takes one due signature at a time with SELECT ... FOR UPDATE SKIP
LOCKED, sends, and marks it sent in that same short transaction:

- several workers never take the same email;
- a worker killed mid-send rolls back, the row stays due, and another worker (or the same one,
  restarted) sends it: nothing is lost and nothing stays stuck as "running";
- a failed send is retried with doubling delays, from a minute to about a day;
- one bad message never stops the others: a message that cannot be built, that the mail
  server refuses for good (a 5xx reply), or that failed every attempt is set aside (no longer
  due, `email_set_aside_at` and `email_problem` say when and why) and the next one goes out;
- a second signing while an email is due asks for no second one.

The problem recorded and logged is the exception's type and the SMTP codes, never the server's
text: it often repeats the address.

An email can still go out twice only if a worker dies after the mail server accepted it and
before its transaction commits: a window of milliseconds, inherent to any email queue.
"""

import datetime as dt
import logging
import re
import smtplib
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac

from petitions import own_data, spool
from petitions.models import HighRiskCountry, Signature, address_after_email
from petitions.tokens import confirm_token, data_token, format_receipt, withdraw_token

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
# An enhanced status code (RFC 3463) in the server's reply, such as 5.1.1: the only part of its
# text that is kept.
_ENHANCED_STATUS = re.compile(rb"\b[245]\.\d{1,3}\.\d{1,3}\b")
# Refusals of the connection or the session, not of one message: waited out, never set aside.
_SESSION_ERRORS = (
    smtplib.SMTPConnectError,
    smtplib.SMTPHeloError,
    smtplib.SMTPAuthenticationError,
)


def _absolute(viewname: str, slug: str, token: str) -> str:
    return f"{settings.SITE_URL}{reverse(viewname, kwargs={'slug': slug})}?t={token}"


def _discreet_link(viewname: str, token: str) -> str:
    """A link that names no petition (its address would: /petitions/<slug>/confirm/); it leads
    to the petition's own link page (petitions.views.discreet_confirm, discreet_withdraw,
    discreet_own_data)."""
    return f"{settings.SITE_URL}{reverse(viewname)}?t={token}"


def is_discreet(signature: Signature) -> bool:
    """Whether this signer's emails are the discreet ones: for everyone with DISCREET_EMAILS,
    and always for a signer from a high-risk country, whose mail may be read by others."""
    return _discreet_for({signature.country})


def _discreet_for(countries: set[str]) -> bool:
    """Whether an email about signatures from these countries is a discreet one."""
    return settings.DISCREET_EMAILS or not HighRiskCountry.objects.codes().isdisjoint(countries)


def _discreet_email(signature: Signature, kind: str) -> tuple[str, str]:
    """Subject and body saying nothing of the campaign or the petition: a plain sender and
    subject, the site's domain, the links. Plain text, like every email here: no images, and
    nothing that tells anyone the email was opened."""
    confirm = confirm_token(signature.public_id)
    withdraw = withdraw_token(signature.public_id)
    context = {
        "domain": urlsplit(settings.SITE_URL).hostname or settings.SITE_URL,
        "confirm_url": _discreet_link("petitions:discreet_confirm", confirm),
        "withdraw_url": _discreet_link("petitions:discreet_withdraw", withdraw),
        "data_url": _discreet_link("petitions:discreet_own_data", data_token(signature.public_id)),
        "privacy_url": f"{settings.SITE_URL}{reverse('pages:privacy')}",
        "confirm_days": settings.SIGNATURE_CONFIRM_MAX_AGE // 86400,
        "receipt": _receipt(signature),
    }
    subject = render_to_string(f"petitions/email/discreet_{kind}_subject.txt", context)
    body = render_to_string(f"petitions/email/discreet_{kind}_body.txt", context)
    return subject, body


def _receipt(signature: Signature) -> str:
    """The signer's receipt as they are shown it (drawn by the site, never typed by them)."""
    return format_receipt(signature.receipt) if signature.receipt else ""


def message_id(signature: Signature) -> str:
    """The same for every delivery of one requested email: should a send be repeated (a
    worker killed after the mail server took the message), mail programs show it once.

    A keyed hash of the signature and the request: a recipient (or anyone their mail passes)
    learns neither the signature's number nor how many signed before them."""
    requested = int(signature.email_requested_at.timestamp() * 1_000_000)
    digest = salted_hmac(
        "petitions.emails.message_id", f"{signature.pk}:{requested}", algorithm="sha256"
    ).hexdigest()
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<{digest[:32]}@{domain}>"


def _campaign_email(signature: Signature, kind: str) -> tuple[str, str]:
    """Subject and body in the campaign's own voice, naming the petition."""
    petition = signature.petition
    context = {
        "petition": petition,
        "confirm_url": _absolute(
            "petitions:confirm", petition.slug, confirm_token(signature.public_id)
        ),
        "withdraw_url": _absolute(
            "petitions:withdraw", petition.slug, withdraw_token(signature.public_id)
        ),
        "data_url": _absolute("petitions:own_data", petition.slug, data_token(signature.public_id)),
        "confirm_days": settings.SIGNATURE_CONFIRM_MAX_AGE // 86400,
        "SITE_URL": settings.SITE_URL,
        "receipt": _receipt(signature),
    }
    subject = render_to_string(f"petitions/email/{kind}_subject.txt", context)
    body = render_to_string(f"petitions/email/{kind}_body.txt", context)
    return subject, body


def _data_copy_email(signature: Signature) -> tuple[str, str, bool]:
    """Subject, body and discreetness of the copy of a signer's data they asked for: every
    signature of theirs (petitions.own_data). Discreet if the email of any of them would be, as
    the copy names them all. A pending signature's copy also carries its confirmation link
    while it can be confirmed, since the copy may have taken the place of the confirmation
    email in the outbox."""
    held = own_data.held_about(signature)
    discreet = _discreet_for({signature.country, *(item.country for item in held)})
    petition = signature.petition
    confirm_url = ""
    if signature.status == Signature.Status.PENDING and petition.is_open:
        token = confirm_token(signature.public_id)
        confirm_url = (
            _discreet_link("petitions:discreet_confirm", token)
            if discreet
            else _absolute("petitions:confirm", petition.slug, token)
        )
    data = data_token(signature.public_id)
    context = {
        "discreet": discreet,
        "held": held,
        "petition": petition,
        "confirm_url": confirm_url,
        "confirm_days": settings.SIGNATURE_CONFIRM_MAX_AGE // 86400,
        "data_url": _discreet_link("petitions:discreet_own_data", data)
        if discreet
        else _absolute("petitions:own_data", petition.slug, data),
        "domain": urlsplit(settings.SITE_URL).hostname or settings.SITE_URL,
        "privacy_url": f"{settings.SITE_URL}{reverse('pages:privacy')}",
    }
    prefix = "discreet_" if discreet else ""
    subject = render_to_string(f"petitions/email/{prefix}data_copy_subject.txt", context)
    body = render_to_string(f"petitions/email/{prefix}data_copy_body.txt", context)
    return subject, body, discreet


def build_signature_email(signature: Signature, connection=None) -> EmailMessage:
    """The email due for this signer: for the signature's current state, confirm or already
    counted, the discreet one (see is_discreet) or the campaign's; or the copy of their data
    they asked for.

    Nothing the signer typed goes into the first two (the templates are not even given the
    signature): a "first name" can be a sentence with a link, which would read as the
    campaign's own. The copy shows it, quoted, as the signer's own data (petitions.own_data)."""
    with translation.override(signature.language):
        if signature.email_kind == Signature.EmailKind.DATA_COPY:
            subject, body, discreet = _data_copy_email(signature)
        else:
            kind = "confirm" if signature.status == Signature.Status.PENDING else "counted"
            discreet = is_discreet(signature)
            if discreet:
                subject, body = _discreet_email(signature, kind)
            else:
                subject, body = _campaign_email(signature, kind)
    return EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        # A plain name, not the campaign's (None: DEFAULT_FROM_EMAIL).
        from_email=settings.DISCREET_EMAIL_FROM if discreet else None,
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
    """Send the next due email (or this signature's, if due); return what happened ("sent",
    "retry later", "set aside", "given up", "dropped"), or None when nothing is due.
    `connection`: a mail connection to reuse (the worker's). Raises only DatabaseError."""
    with transaction.atomic():
        due = due_emails().select_for_update(skip_locked=True, of=("self",))
        if signature_id is not None:
            due = due.filter(pk=signature_id)
        due = due.order_by("email_requested_at")
        try:
            signature = due.select_related("petition").first()
        except DatabaseError:
            raise
        except Exception as exc:
            # A row that cannot even be read: set it aside by its id, or it would block the rest.
            broken = due.values_list("pk", flat=True).first()
            if broken is None:
                raise
            return _set_aside(broken, exc)
        if signature is None:
            return None
        # Dropped quietly: erased, fraudulent, or no address to write to (forgotten once the
        # signature was confirmed: confirm and forget, petitions.models.KEEPS_ADDRESS).
        if (
            signature.erased_at
            or signature.status == Signature.Status.FRAUDULENT
            or not signature.email
        ):
            Signature.objects.filter(pk=signature.pk).update(
                email_due=False, email_kind=Signature.EmailKind.SIGNATURE
            )
            return "dropped"
        try:
            build_signature_email(signature, connection).send()
        except DatabaseError:
            raise  # not this message's fault: the worker waits for the database
        except (smtplib.SMTPException, OSError) as exc:
            if _refused_for_good(exc):
                return _set_aside(signature.pk, exc)
            return _failed(signature, exc)
        except Exception as exc:
            # It cannot be built (a template error, an address the mail library cannot encode),
            # or something unforeseen: it must not stop the messages after it.
            return _set_aside(signature.pk, exc)
        Signature.objects.filter(pk=signature.pk).update(
            email_due=False,
            email_sent_at=timezone.now(),
            email_attempts=0,
            email_retry_at=None,
            email_set_aside_at=None,
            email_problem="",
            email=address_after_email(),
            email_kind=Signature.EmailKind.SIGNATURE,
        )
        return "sent"


def _smtp_replies(exc: Exception) -> list[tuple[int, bytes]]:
    """The (code, text) of each refusal the server gave, if it gave any."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
    elif isinstance(exc, smtplib.SMTPResponseException):
        replies = [(exc.smtp_code, exc.smtp_error)]
    else:
        return []
    return [
        (int(code), text.encode("utf-8", "replace") if isinstance(text, str) else bytes(text))
        for code, text in replies
    ]


def _refused_for_good(exc: Exception) -> bool:
    """A 5xx reply to this message: sending it again would be refused again."""
    replies = _smtp_replies(exc)
    return (
        not isinstance(exc, _SESSION_ERRORS)
        and bool(replies)
        and all(code >= 500 for code, _text in replies)
    )


def problem(exc: Exception) -> str:
    """What went wrong, for staff and the log: the exception's type, the SMTP codes and the
    enhanced status codes, e.g. "SMTPRecipientsRefused 550 5.1.1". Never the server's text or
    the exception's message: they often contain the address."""
    parts = [type(exc).__name__]
    for code, text in _smtp_replies(exc):
        status = _ENHANCED_STATUS.search(text)
        parts.append(f"{code} {status.group().decode()}" if status else str(code))
    return " ".join(dict.fromkeys(parts))[:200]


def _set_aside(signature_id: int, exc: Exception, attempts: int | None = None) -> str:
    reason = problem(exc)
    if attempts is None:
        logger.error("Signature email %s set aside: %s", signature_id, reason)
    else:
        logger.error(
            "Signature email %s given up after %s attempts: %s", signature_id, attempts, reason
        )
    Signature.objects.filter(pk=signature_id).update(
        email_due=False,
        email_attempts=F("email_attempts") + 1 if attempts is None else attempts,
        email_retry_at=None,
        email_set_aside_at=timezone.now(),
        email_problem=reason,
        email=address_after_email(),
        email_kind=Signature.EmailKind.SIGNATURE,
    )
    return "set aside" if attempts is None else "given up"


def _failed(signature: Signature, exc: Exception) -> str:
    """A failure that may pass (a 4xx reply, a connection refused or cut, a timeout): try again
    later, until MAX_ATTEMPTS."""
    attempts = signature.email_attempts + 1
    if attempts >= MAX_ATTEMPTS:
        return _set_aside(signature.pk, exc, attempts=attempts)
    delay = settings.EMAIL_RETRY_SECONDS * 2 ** (attempts - 1)
    logger.warning(
        "Signature email %s not sent (%s); attempt %s again in %ss",
        signature.pk,
        problem(exc),
        attempts + 1,
        delay,
    )
    Signature.objects.filter(pk=signature.pk).update(
        email_attempts=attempts, email_retry_at=timezone.now() + dt.timedelta(seconds=delay)
    )
    return "retry later"


def email_requested(signature_id: int) -> None:
    """Called in the signing transaction once the signature's email is due. In development
    and tests (EMAIL_QUEUE=immediate) it is sent there and then; failures stay in the outbox
    or are set aside, never raised to the signer's request."""
    if settings.EMAIL_QUEUE == "immediate":
        send_one(signature_id)


def run_worker(*, interval: float = 1.0, once: bool = False, stop=lambda: False) -> int:
    """Send due emails until stopped; with once=True, until none is due. Returns how many.

    If the database goes away the worker waits and carries on where it was when it returns,
    saying so once a minute rather than on every try. Nothing else stops it: send_one sets a
    message aside whatever goes wrong with it, and anything it could not pin on one message is
    logged (its type only) and waited out like a database error. Before each email it writes
    the signings spooled while the database was away, if any (petitions.spool.drain), whose
    emails are then due like any other.
    """
    sent = 0
    last_warning = 0.0
    connection = get_connection()  # one SMTP session for many emails, reopened when it fails
    while not stop():
        try:
            # Signings taken while the database was away go in first (petitions.spool).
            spool.drain()
            outcome = send_one(connection=connection)
        except DatabaseError as exc:
            if time.monotonic() - last_warning > 60:
                last_warning = time.monotonic()
                logger.warning("Email worker: the database is unavailable (%s)", exc.__class__)
            close_old_connections()
            time.sleep(interval)
            continue
        except Exception as exc:
            logger.error("Email worker: unexpected %s; carrying on", type(exc).__name__)
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
