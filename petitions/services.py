"""Write paths for signatures and petitions, and what a signer's link can do. Each that changes
the count keeps the tally and the rollups exact inside its own transaction (_count)."""

import datetime as dt
import enum
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections, router, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.db.models.sql import Query, UpdateQuery
from django.utils import timezone

from campaign.lib.compiled import Compiled, Slot, sql_of
from petitions import emails, exports, spool
from petitions.addresses import normalise_address
from petitions.models import (
    ROLLUPS,
    ExportRecord,
    HandedInReceipt,
    Petition,
    Signature,
    SignatureQuerySet,
    SignatureTally,
    add_to_counts,
    address_once_confirmed,
    forget_stats,
)
from petitions.tokens import SignatureRef, format_receipt


def _count(signature: Signature, *, delta: int) -> None:
    """Add a confirmed signature to the counts (delta=1) or take it out (delta=-1): the tally
    the public count reads and the rollups the dashboards read. Call inside the transaction that
    changes the signature, with the signature as it was counted (its confirmation time set)."""
    if delta > 0:
        tally = {"petition_id": signature.petition_id, "country": signature.country}
        rollups = [(rollup, rollup.key_of(signature)) for rollup in ROLLUPS]
        add_to_counts([(SignatureTally, tally), *rollups], delta=delta)
    else:
        SignatureTally.add(
            petition_id=signature.petition_id, country=signature.country, delta=delta
        )
        for rollup in ROLLUPS:
            rollup.count_signature(signature, delta=delta)
    _count_changed(signature.petition_id)


def _count_changed(petition_id: int) -> None:
    """Drop the cached count: now, for the rest of this transaction, and again on commit, so
    that no reader caches the old figure in between."""
    forget = functools.partial(forget_stats, petition_id)
    forget()
    transaction.on_commit(forget)


class PetitionClosed(Exception):
    """The petition takes no signatures now (not yet open, closed, or unpublished)."""


class Outcome(enum.Enum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    NOT_FOUND = "not_found"


class ConfirmationState(enum.Enum):
    """What a confirmation link can do with its signature."""

    PENDING = "pending"  # it can confirm it
    ALREADY_CONFIRMED = "already_confirmed"
    NOT_FOUND = "not_found"  # not this petition's, withdrawn, erased or fraudulent
    CLOSED = "closed"  # pending, but the petition takes no signatures now


class WithdrawalState(enum.Enum):
    """What a withdrawal link can do with its signature."""

    DELETE = "delete"  # take it out of the count and delete it
    ERASE = "erase"  # the count is frozen (closed): erase the details, keep it counted
    NOT_FOUND = "not_found"  # not this petition's, withdrawn or erased already


def _email_cutoff(now: dt.datetime) -> dt.datetime:
    """An email last asked for at or before this moment may be asked for again."""
    return now - dt.timedelta(seconds=settings.SIGNATURE_EMAIL_INTERVAL)


def _may_email_again(*, cutoff: dt.datetime | None) -> Q:
    """Which signers may be sent an email now: never a fraudulent signature, and (unless staff
    force it, cutoff=None) at most one email per SIGNATURE_EMAIL_INTERVAL, however often it is
    asked for (see _email_cutoff)."""
    may = ~Q(status=Signature.Status.FRAUDULENT)
    if cutoff is None:
        return may
    return may & (Q(email_requested_at__isnull=True) | Q(email_requested_at__lte=cutoff))


# A moment no signature's email was asked for at, standing for the cutoff in the compiled rule.
_ANY_CUTOFF = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _may_email_again_where(using: str, *, cutoff: dt.datetime) -> tuple[str, Sequence]:
    """_may_email_again as an SQL condition. (Compiling a Q by hand is not in Django's
    documented API; Django does it so for a CheckConstraint.)"""
    connection = connections[using]
    query = Query(Signature)
    where = query.build_where(_may_email_again(cutoff=cutoff))
    return where.as_sql(query.get_compiler(connection=connection), connection)


# Compiled once (campaign.lib.compiled): compiling the Q took about half a millisecond, a fifth
# of a signing's time, and only the cutoff changes.
_MAY_EMAIL_AGAIN = Compiled(
    _may_email_again_where,
    cutoff=Slot(Signature._meta.get_field("email_requested_at"), _ANY_CUTOFF),
)


def _may_email_again_now(now: dt.datetime) -> tuple[str, list]:
    """The rule as SQL and its parameters for a signing at `now`, about the row already there."""
    return _MAY_EMAIL_AGAIN.sql(router.db_for_write(Signature), cutoff=_email_cutoff(now))


def _update_query(signatures: SignatureQuerySet, **values) -> UpdateQuery:
    """signatures.update(**values) as a query, not yet run."""
    # Not in Django's documented API: an UpdateQuery, as QuerySet.update builds it.
    query = signatures.query.chain(UpdateQuery)
    query.add_update_values(values)
    return query


def _returning(alias: str, statement: str, params: Sequence, returning: tuple[str, ...]):
    """Run an UPDATE, returning these columns (SQL) of the rows it changed. PostgreSQL and
    SQLite (3.35 or later) both run UPDATE ... RETURNING."""
    with connections[alias].cursor() as cursor:
        cursor.execute(f"{statement} RETURNING {', '.join(returning)}", params)
        return cursor.fetchall()


def _update_returning(
    signatures: SignatureQuerySet, returning: tuple[str, ...], **values
) -> list[tuple]:
    """signatures.update(**values) that returns these columns (SQL) of the rows it changed,
    where Django's returns only how many."""
    alias = router.db_for_write(signatures.model)
    try:
        statement, params = sql_of(_update_query(signatures, **values), alias)
    except EmptyResultSet:  # a filter no row can match (an id out of range), as update() does
        return []
    return _returning(alias, statement, params, returning)


def _update_returning_ids(signatures: SignatureQuerySet, **values) -> list[int]:
    """signatures.update(**values) that returns the ids of the rows it changed."""
    connection = connections[router.db_for_write(signatures.model)]
    pk = connection.ops.quote_name(signatures.model._meta.pk.column)
    return [row[0] for row in _update_returning(signatures, (pk,), **values)]


def _request_email(
    signatures: SignatureQuerySet,
    *,
    force: bool = False,
    address: str | None = None,
    kind: str | None = None,
) -> int:
    """Put these signers' emails in the outbox, as _may_email_again allows; return how many.
    One conditional UPDATE decides, so two requests at once make one email, and it commits with
    the caller's transaction, if there is one (see petitions.emails). `address`: the address
    the signatures were found by, stored (sealed) with the request, for a signature that has
    forgotten its own since it was confirmed (the worker forgets it again after sending).
    `kind`: the email asked for (Signature.EmailKind); by default the signature's own, or
    the copy of the signer's data if one is due, which carries what the other would."""
    now = timezone.now()
    stored = {} if address is None else {"email": address}
    if kind is not None:
        stored["email_kind"] = kind
    requested = _update_returning_ids(
        signatures.filter(_may_email_again(cutoff=None if force else _email_cutoff(now))),
        email_due=True,
        email_requested_at=now,
        email_attempts=0,
        email_retry_at=None,
        **stored,
    )
    for signature_id in requested:
        emails.email_requested(signature_id)
    return len(requested)


def _commit_without_waiting_for_the_disk() -> None:
    """Let the current transaction's commit return before PostgreSQL has flushed it to disk.
    The database stays consistent; only a crash in the moment after could lose the transaction.
    For writes that some requests make and others not, when the answer's time must not tell
    which: waiting for the flush takes milliseconds, many times the rest of such a write."""
    connection = transaction.get_connection(router.db_for_write(Signature))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def sign_petition(
    *,
    petition: Petition,
    first_name: str,
    last_name: str,
    email: str,
    country: str,
    wants_updates: bool = False,
    hide_name: bool = False,
    without_name: bool = False,
    source: str = Signature.Source.OTHER,
    source_story: str = "",
    partner_id: int | None = None,
    updates_wording_id: int | None = None,
    partner_updates: bool = False,
    partner_updates_wording_id: int | None = None,
    utm_source: str = "",
    utm_medium: str = "",
    utm_campaign: str = "",
    language: str = "en",
    signed_at: dt.datetime | None = None,
) -> int:
    """Record a signature, or find the one this email already gave; either way, email the
    signer (at most once per SIGNATURE_EMAIL_INTERVAL), and return the signature's id. The
    caller learns nothing it could show about whether the email had signed.

    It is one statement whatever the address (Signature.objects.insert_or_ask_again), which
    writes a row either way and also queues the email (email_due): no transaction, no second
    read, the cheapest write a peak can meet, and the same work for an address that has signed
    and one that has not, so that the answer's time does not tell them apart (bench/TIMING.md).
    Of concurrent signings with one address, one stores the row and the others update it; a
    second signing never changes the first one's details: only its owner, through the link in
    the email, can act on it.

    `without_name`: no name is stored at all, whatever was typed, and the signature is listed
    without one wherever names are listed (hide_name), as for signers who asked to be left out
    of the hand-in.

    `signed_at`: when a signing taken while the database was away was made (petitions.spool
    drains it), by default now. The email is asked for as of then, so that the same spooled
    signing written twice (a drain killed between the insert and the entry's removal) asks
    for no second email: the row already holds that request, not older than the interval.
    """
    if not petition.is_open:
        raise PetitionClosed
    now = signed_at or timezone.now()
    email = email.strip().lower()
    if without_name:
        first_name = last_name = ""
        hide_name = True
    new_signature = Signature(
        petition=petition,
        email=email,
        first_name=first_name,
        last_name=last_name,
        country=country,
        wants_updates=wants_updates,
        hide_name=hide_name,
        source=source,
        source_story=source_story,
        partner_id=partner_id,
        updates_wording_id=updates_wording_id,
        partner_updates=partner_updates,
        partner_updates_wording_id=partner_updates_wording_id,
        utm_source=utm_source,
        utm_medium=utm_medium,
        utm_campaign=utm_campaign,
        language=language,
        created_at=now,
        email_due=True,
        email_requested_at=now,
    )
    signature_id, email_due = Signature.objects.insert_or_ask_again(
        new_signature, ask_again=_may_email_again_now(now)
    )
    if email_due:
        emails.email_requested(signature_id)
    return signature_id


def _signatures_of(petition: Petition | None) -> SignatureQuerySet:
    """Where a link looks for its signature: a link opened on a petition's page names both."""
    signatures = Signature.objects.all()
    return signatures if petition is None else signatures.filter(petition=petition)


def _named(signature_id: SignatureRef) -> Q:
    """The signature a link names by its public id; staff code, tests and links emailed before
    public ids existed name it by its id."""
    if isinstance(signature_id, uuid.UUID):
        return Q(public_id=signature_id)
    return Q(pk=signature_id)


def _signature_of_link(
    signature_id: SignatureRef, petition: Petition | None, *related: str
) -> Signature | None:
    signatures = _signatures_of(petition).select_related("petition", *related)
    return signatures.filter(_named(signature_id)).first()


# A confirmation link's two statements, compiled once per database (campaign.lib.compiled):
# every signer opens the link and presses its button, and the ORM took longer to build each
# statement than PostgreSQL to answer it. The samples stand for values no signature, petition
# or moment of the site's has.
_SAMPLE_PUBLIC_ID = uuid.UUID("5a3b1e00-0000-4000-8000-00000000c0de")
_SAMPLE_ID = -8_675_309
_SAMPLE_PETITION_ID = -4_242_421
_SAMPLE_NOW = dt.datetime(2001, 2, 3, 4, 5, 6, 789_012, tzinfo=dt.UTC)


class _LinkStatements(NamedTuple):
    state: Compiled  # _link_state's read
    confirm: Compiled  # _confirm's UPDATE


@functools.cache
def _link_statements(by_public_id: bool, of_petition: bool) -> _LinkStatements:
    """The link-state read and the confirming UPDATE for links that name their signature
    by public id (or by id) and, or not, their petition."""
    meta = Signature._meta
    named = (
        Slot(meta.get_field("public_id"), _SAMPLE_PUBLIC_ID)
        if by_public_id
        else Slot(meta.pk, _SAMPLE_ID)
    )
    slots = {"signature": named, "now": Slot(Petition._meta.get_field("closes_at"), _SAMPLE_NOW)}
    if of_petition:
        slots["petition"] = Slot(meta.get_field("petition"), _SAMPLE_PETITION_ID)

    def of_link(signature, petition=None):
        return _signatures_of(None if petition is None else Petition(pk=petition)).filter(
            _named(signature)
        )

    def state(using, *, now, **link):
        petition_open = Exists(Petition.objects.open(now).filter(pk=OuterRef("petition_id")))
        columns = {"petition_open": petition_open, "via": F("partner__slug")}
        return sql_of(of_link(**link).values(*_LINK_STATE, **columns).order_by()[:1], using)

    def confirm(using, *, now, **link):
        pending = of_link(**link).filter(
            status=Signature.Status.PENDING,
            erased_at__isnull=True,
            petition__in=Petition.objects.open(now),
        )
        update = _update_query(
            pending,
            status=Signature.Status.CONFIRMED,
            confirmed_at=now,
            email=address_once_confirmed(),
        )
        return sql_of(update, using)

    return _LinkStatements(Compiled(state, **slots), Compiled(confirm, **slots))


def _link_values(
    signature_id: SignatureRef, petition: Petition | None, now: dt.datetime
) -> tuple[_LinkStatements, dict]:
    """The statements for this link, and the values for their slots."""
    statements = _link_statements(isinstance(signature_id, uuid.UUID), petition is not None)
    values = {"signature": signature_id, "now": now}
    if petition is not None:
        values["petition"] = petition.pk
    return statements, values


# What _link_state reads of a signature, before whether its petition is open and the partner.
_LINK_STATE = ("status", "erased_at")


def _link_state(signature_id: SignatureRef, petition: Petition | None) -> dict | None:
    """What a confirmation link's state depends on (see _confirmation_state), with the slug of
    the partner whose link brought the signer, in one query that builds no model instance.
    The values are the database's own (SQLite gives 0 or 1 for whether the petition is open):
    read them as true or false, as _confirmation_state does."""
    alias = router.db_for_read(Signature)
    statements, values = _link_values(signature_id, petition, timezone.now())
    try:
        statement, params = statements.state.sql(alias, **values)
    except EmptyResultSet:  # an id no row can have
        return None
    with connections[alias].cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    names = (*_LINK_STATE, "petition_open", "via")
    return None if row is None else dict(zip(names, row, strict=True))


def _confirmation_state(link: dict | None) -> ConfirmationState:
    if link is None or link["erased_at"]:
        return ConfirmationState.NOT_FOUND
    if link["status"] == Signature.Status.CONFIRMED:
        return ConfirmationState.ALREADY_CONFIRMED
    if link["status"] != Signature.Status.PENDING:
        return ConfirmationState.NOT_FOUND
    if not link["petition_open"]:
        return ConfirmationState.CLOSED
    return ConfirmationState.PENDING


def confirmation_state(
    *, signature_id: SignatureRef, petition: Petition | None = None
) -> ConfirmationState:
    """What confirming this signature would do, changing nothing (a link opened, not used)."""
    return _confirmation_state(_link_state(signature_id, petition))


def confirm_signature(*, signature_id: SignatureRef, petition: Petition | None = None) -> Outcome:
    """Count a pending signature (of this petition, when given: a link names both)."""
    return _confirm(signature_id, petition)[0]


def confirm_link(*, signature_id: SignatureRef, petition: Petition) -> tuple[Outcome, str]:
    """confirm_signature for a confirmation link, with the slug of the partner whose link
    brought the signer ("" for none), read with the signature, so that the thank-you page's
    share links credit that partner too."""
    return _confirm(signature_id, petition)


# What confirming returns of the row it confirms: what the counts file it under (see _count).
_COUNTED = ("id", "petition", "country", "partner", "source", "source_story")


@functools.cache
def _confirmed_returning(alias: str) -> tuple[str, ...]:
    """The RETURNING list of a confirmation: the _COUNTED columns, then the partner's slug (a
    subquery: an UPDATE cannot join)."""
    quote = connections[alias].ops.quote_name
    meta = Signature._meta
    table = quote(meta.db_table)
    partner = meta.get_field("partner")
    partners = partner.related_model._meta
    slug = "(SELECT {slug} FROM {partners} WHERE {partners}.{pk} = {table}.{partner})".format(
        slug=quote(partners.get_field("slug").column),
        partners=quote(partners.db_table),
        pk=quote(partners.pk.column),
        table=table,
        partner=quote(partner.column),
    )
    return (*(f"{table}.{quote(meta.get_field(name).column)}" for name in _COUNTED), slug)


def _confirm(signature_id: SignatureRef, petition: Petition | None) -> tuple[Outcome, str]:
    """Confirm and count in as few statements as a peak allows. One conditional UPDATE ...
    RETURNING both decides (pending, not erased, its petition open now: the same rules as
    _confirmation_state, read in the database) and returns what the counts file the signature
    under; it forgets the address in the same statement, unless the signer asked for updates.
    Of two confirmations racing, exactly one changes the row: the other waits for its lock,
    then finds it no longer pending. Only a confirmation that changes nothing reads why."""
    alias = router.db_for_write(Signature)
    while True:
        with transaction.atomic(using=alias):
            now = timezone.now()
            statements, values = _link_values(signature_id, petition, now)
            try:
                statement, params = statements.confirm.sql(alias, **values)
            except EmptyResultSet:  # an id no row can have: _link_state finds none
                rows = []
            else:
                rows = _returning(alias, statement, params, _confirmed_returning(alias))
            if rows:
                *counted, via = rows[0]
                fields = (Signature._meta.get_field(name).attname for name in _COUNTED)
                counts = dict(zip(fields, counted, strict=True))
                _count(Signature(**counts, confirmed_at=now), delta=1)
                return Outcome.CONFIRMED, via or ""
        link = _link_state(signature_id, petition)
        state = _confirmation_state(link)
        if state is ConfirmationState.CLOSED:
            raise PetitionClosed
        if state is ConfirmationState.NOT_FOUND:
            return Outcome.NOT_FOUND, ""
        if state is ConfirmationState.ALREADY_CONFIRMED:
            return Outcome.ALREADY_CONFIRMED, link["via"] or ""
        # Pending and open after all: the petition opened between the two statements. Again.


def _erased() -> dict:
    """What an erased signature keeps of its signer: nothing. Country, partner, page, status
    and dates stay, for the counts and the audit trail. (The story it was signed from goes; the
    rollups keep it in their figures, which name no signer: see petitions.models.)"""
    return {
        "first_name": "",
        "last_name": "",
        "email": None,
        # The receipt's code goes; its hash stays (it names nobody, and may be handed in).
        "receipt": "",
        # The hash too: nothing links the row to the address any more.
        "email_hash": None,
        "wants_updates": False,
        "updates_wording": None,
        "partner_updates": False,
        "partner_updates_wording": None,
        "hide_name": True,
        "source_story": "",
        "utm_source": "",
        "utm_medium": "",
        "utm_campaign": "",
        "erased_at": timezone.now(),
        # The outbox: nothing more is sent (a copy of the data asked for neither), and no trace
        # of what failed is kept.
        "email_due": False,
        "email_kind": Signature.EmailKind.SIGNATURE,
        "email_problem": "",
        "email_set_aside_at": None,
    }


def erase_personal_data(signature: Signature) -> None:
    Signature.objects.filter(pk=signature.pk).update(**_erased())


def _withdrawal_state(signature: Signature | None) -> WithdrawalState:
    if signature is None or signature.erased_at:
        return WithdrawalState.NOT_FOUND
    if signature.status == Signature.Status.CONFIRMED and not signature.petition.is_open:
        return WithdrawalState.ERASE
    return WithdrawalState.DELETE


def withdrawal_state(
    *, signature_id: SignatureRef, petition: Petition | None = None
) -> WithdrawalState:
    """What withdrawing this signature would do, changing nothing (a link opened, not used)."""
    return _withdrawal_state(_signature_of_link(signature_id, petition))


def withdraw_signature(*, signature_id: SignatureRef, petition: Petition | None = None) -> bool:
    """Delete the signer's personal data and take the signature out of the count; False when
    there is nothing to withdraw.

    Once the petition has closed its count is frozen: the personal data is erased all the
    same, and the anonymous signature stays in the count.
    """
    with transaction.atomic():
        # Locked (with its petition, as before) until the transaction ends.
        signature = (
            _signatures_of(petition)
            .select_for_update()
            .select_related("petition")
            .filter(_named(signature_id), erased_at__isnull=True)
            .first()
        )
        state = _withdrawal_state(signature)
        if state is WithdrawalState.NOT_FOUND:
            return False
        if state is WithdrawalState.ERASE:
            erase_personal_data(signature)
            return True
        if signature.status == Signature.Status.CONFIRMED:
            _count(signature, delta=-1)
        signature.delete()
    return True


def request_new_link(
    *, petition: Petition, email: str = "", signature_id: SignatureRef | None = None
) -> None:
    """Send a fresh email to a signer who lost or outlived their link: to the signature behind
    an expired link, or to the address typed in, if it has signed.

    Nobody can learn this way whether an address has signed: not from the answer (the caller
    shows the same page), nor from its time. Whatever the address, it is one conditional UPDATE
    (this petition, this address, not erased, not fraudulent, pending only while the petition
    is open, no email in the last SIGNATURE_EMAIL_INTERVAL), and its commit does not wait for
    the disk: only the UPDATE that finds a signer writes, and waiting for that write to reach
    the disk took milliseconds, plain to anyone timing the answers (bench/TIMING.md). The price:
    should PostgreSQL crash in the moment after, the request may be lost; the signer asks again.
    """
    signatures = Signature.objects.filter(petition=petition, erased_at__isnull=True)
    address = None
    if signature_id is not None:
        signatures = signatures.filter(_named(signature_id))
    else:
        # Found by its hash; the address typed goes with the request, so that a confirmed
        # signature that forgot its own can still be written to.
        address = email.strip().lower()
        signatures = signatures.with_email(address)
    if not petition.is_open:
        # Pending signatures can no longer be confirmed; counted ones still hear they are.
        signatures = signatures.filter(status=Signature.Status.CONFIRMED)
    with transaction.atomic():
        _commit_without_waiting_for_the_disk()
        _request_email(signatures, address=address)


@dataclass(frozen=True)
class Recount:
    petition: Petition
    before: int  # the tally's total
    after: int
    # Each rollup's total before, in the order of ROLLUPS (all are `after` once rebuilt).
    rollups_before: tuple[int, ...] = ()

    @property
    def was_correct(self) -> bool:
        return self.before == self.after and all(n == self.after for n in self.rollups_before)


def recount_signatures(petition: Petition) -> Recount:
    """Rebuild the tally and the rollups from the signatures themselves.

    The petition's tally rows are locked first, so confirmations that are under way either
    finish before the count (and are counted) or wait and add themselves after it. (Each
    confirmation changes the tally before the rollup, so none is then between the two.)
    """
    with transaction.atomic():
        Petition.objects.select_for_update().filter(pk=petition.pk).first()
        tallies = SignatureTally.objects.select_for_update().filter(petition=petition)
        before = sum(t.count for t in tallies)
        rollups_before = []
        for rollup in ROLLUPS:
            rows = rollup.objects.filter(petition=petition)
            rollups_before.append(rows.aggregate(total=Sum("count"))["total"] or 0)
            rollup.objects.refill(petition_id=petition.pk)
        counts = list(
            Signature.objects.confirmed()
            .filter(petition=petition)
            .values("country")
            .annotate(total=Count("id"))
            .order_by()
        )
        tallies.delete()
        SignatureTally.objects.bulk_create(
            SignatureTally(petition=petition, country=row["country"], shard=0, count=row["total"])
            for row in counts
        )
        after = sum(row["total"] for row in counts)
        _count_changed(petition.pk)
    return Recount(
        petition=petition, before=before, after=after, rollups_before=tuple(rollups_before)
    )


def count_is_exact(petition: Petition) -> bool:
    """Whether the tally equals the confirmed signatures, read without a lock: one statement,
    so one snapshot of both (each confirmation changes them in one transaction). For the nightly
    check, which must not hold up confirmations as recount_signatures does (for about half a
    minute with a million signatures): a mismatch is logged, and staff recount."""
    tally = (
        SignatureTally.objects.filter(petition=OuterRef("pk"))
        .values("petition")
        .annotate(total=Sum("count"))
        .values("total")
    )
    confirmed = (
        Signature.objects.confirmed()
        .filter(petition=OuterRef("pk"))
        .values("petition")
        .annotate(total=Count("pk"))
        .values("total")
    )
    tallied, counted = (
        Petition.objects.filter(pk=petition.pk)
        .annotate(tallied=Coalesce(Subquery(tally), 0), counted=Coalesce(Subquery(confirmed), 0))
        .values_list("tallied", "counted")
        .get()
    )
    return tallied == counted


def hand_in(*, petition: Petition, user=None, language: str = "en") -> exports.HandInPackage:
    """Write the package handed to governments and freeze the petition's count at the figure
    in it, with its moment: both in one database snapshot, so they cannot differ. The printable
    summary is in `language` (English unless staff choose another)."""
    frozen_at = timezone.now()
    record = exports.start_record(
        kind=ExportRecord.Kind.HAND_IN,
        user=user,
        petition=petition,
        filters={"petition": petition.slug},
    )
    with exports.snapshot():
        package = exports.write_hand_in(petition, frozen_at=frozen_at, language=language)
        Petition.objects.filter(pk=petition.pk).update(
            handed_in_count=package.total,
            handed_in_at=frozen_at,
            handed_in_manifest=package.public.manifest,
            handed_in_manifest_sha256=package.public.manifest_sha256,
            handed_in_countries=package.public.countries,
        )
        # A petition handed in again publishes the new hand-in's receipts only.
        HandedInReceipt.objects.filter(petition=petition).delete()
        _copy_receipts_handed_in(petition)
    exports.finish_record(record, rows=package.total)
    return package


def _copy_receipts_handed_in(petition: Petition) -> None:
    """Copy the receipt hashes of the petition's confirmed signatures to HandedInReceipt, in
    one INSERT ... SELECT: a million rows never pass through Python. In the hand-in's snapshot,
    so that they are those of its receipts.txt. (Django has no INSERT ... SELECT: the statement
    is built from the models' tables and columns.)"""
    connection = connections[router.db_for_write(HandedInReceipt)]
    quote = connection.ops.quote_name
    target, source = HandedInReceipt._meta, Signature._meta
    statement = (
        "INSERT INTO {target} ({petition}, {receipt}) "
        "SELECT {source_petition}, {source_receipt} FROM {source} "
        "WHERE {source_petition} = %s AND {status} = %s".format(
            target=quote(target.db_table),
            petition=quote(target.get_field("petition").column),
            receipt=quote(target.get_field("receipt_hash").column),
            source=quote(source.db_table),
            source_petition=quote(source.get_field("petition").column),
            source_receipt=quote(source.get_field("receipt_hash").column),
            status=quote(source.get_field("status").column),
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [petition.pk, Signature.Status.CONFIRMED])


# Moderation and data protection ----------------------------------------------------------


def mark_fraudulent(signatures) -> int:
    """Take signatures out of the count and the exports; the rows stay for audit."""
    changed = 0
    with transaction.atomic():
        for signature in signatures.select_for_update().exclude(status=Signature.Status.FRAUDULENT):
            if signature.status == Signature.Status.CONFIRMED:
                _count(signature, delta=-1)
            Signature.objects.filter(pk=signature.pk).update(status=Signature.Status.FRAUDULENT)
            changed += 1
    return changed


def erase_signatures(signatures) -> int:
    """Remove everything that identifies these signers.

    Unconfirmed signatures are deleted outright. Confirmed (and fraudulent) ones keep only
    their country, status and dates, so the counts and the audit trail stay right.
    """
    with transaction.atomic():
        pending = signatures.filter(status=Signature.Status.PENDING)
        deleted, _by_model = pending.delete()
        erased = signatures.exclude(status=Signature.Status.PENDING).filter(erased_at__isnull=True)
        anonymised = erased.update(**_erased())
    return deleted + anonymised


def resend_confirmations(signatures) -> int:
    """Email a new confirmation link to the pending signatures given, and no others."""
    sent = 0
    with transaction.atomic():
        for signature in signatures.filter(
            status=Signature.Status.PENDING, erased_at__isnull=True
        ).select_related("petition"):
            if signature.petition.is_open:
                # Staff asked: no interval.
                sent += _request_email(Signature.objects.filter(pk=signature.pk), force=True)
    return sent


def purge_unconfirmed(*, older_than: dt.timedelta) -> int:
    cutoff = timezone.now() - older_than
    deleted, _by_model = Signature.objects.pending().filter(created_at__lt=cutoff).delete()
    # Signings still in the spool that long are unconfirmed signatures too.
    return deleted + spool.purge(older_than=older_than)


def anonymise_closed(*, after: dt.timedelta) -> dict[str, int]:
    """Erase the signers' data of every petition closed for longer than `after`."""
    cutoff = timezone.now() - after
    result = {}
    for petition in Petition.objects.filter(closes_at__lt=cutoff):
        signatures = Signature.objects.filter(petition=petition).filter(
            Q(erased_at__isnull=True) | Q(status=Signature.Status.PENDING)
        )
        result[petition.slug] = erase_signatures(signatures) + spool.forget_petition(petition.pk)
    return result


def erase_signer(email: str) -> int:
    """Erase one person across all petitions (a request to be forgotten). The address is
    normalised as the form stores it (lower case, domain in ASCII), so it is found however
    it is written; ValidationError if it cannot be an address the form accepted."""
    address = normalise_address(email)
    # The spool first: once its entries are gone no drain can write them, and whatever a
    # drain wrote before is in the database, erased next.
    spooled = spool.erase(address)
    return spooled + erase_signatures(Signature.objects.with_email(address))


# A signer's own data ---------------------------------------------------------------------------
#
# Every email has a link (petitions.tokens.data_token) with which its signer, without an
# account, asks for a copy of everything the site holds about them, emailed to their address,
# or for its erasure. "Them" is the person: every signature with their address (of_signer).


class OwnDataState(enum.Enum):
    """What a link to a signer's own data finds."""

    HOLDS_ADDRESS = "holds_address"  # the copy goes to the address the signature holds
    NEEDS_ADDRESS = "needs_address"  # forgotten once confirmed: the signer types it again
    NOT_FOUND = "not_found"  # not this petition's, withdrawn or erased


def own_data_state(*, signature_id: SignatureRef, petition: Petition) -> OwnDataState:
    """What the link can do, changing nothing (a link opened, not used)."""
    row = (
        _signatures_of(petition)
        .filter(_named(signature_id), erased_at__isnull=True)
        .values_list("pk", "email")
        .first()
    )
    if row is None:
        return OwnDataState.NOT_FOUND
    return OwnDataState.HOLDS_ADDRESS if row[1] else OwnDataState.NEEDS_ADDRESS


def request_data_copy(*, signature_id: SignatureRef, petition: Petition, email: str = "") -> None:
    """Put in the signature's outbox the copy of its signer's data (petitions.own_data), at most
    one email per SIGNATURE_EMAIL_INTERVAL as for every email to a signer, never to a fraudulent
    signature.

    Without `email`, to the address the signature holds. With one (normalised, as the form
    gives it), only to a signature that has forgotten its own (confirm and forget) and only if
    it is that address: its keyed hash must be the signature's. It is then stored, sealed,
    until the email has gone out or been given up (petitions.emails forgets it again). Whether
    it was is one conditional UPDATE, its commit not waiting for the disk, and the caller shows
    the same page either way, as for request_new_link: the link's holder learns nothing of
    whether an address they type is the signer's.

    A confirmation email still due is not lost: the copy takes its place in the outbox and
    carries its link (petitions.emails)."""
    signatures = _signatures_of(petition).filter(_named(signature_id), erased_at__isnull=True)
    address = None
    if email:
        address = email
        signatures = signatures.filter(email__isnull=True).with_email(address)
    else:
        signatures = signatures.filter(email__isnull=False)
    with transaction.atomic():
        _commit_without_waiting_for_the_disk()
        _request_email(signatures, address=address, kind=Signature.EmailKind.DATA_COPY)


def erase_own_data(*, signature_id: SignatureRef, petition: Petition) -> int:
    """Erase everything held about the signer of this signature, on every petition, as
    erase_signer does for staff: pending signatures deleted, counted ones kept in the count
    without anything about them. Return how many signatures that was (0: nothing to erase)."""
    with transaction.atomic():
        signature = (
            _signatures_of(petition)
            .select_for_update()
            .filter(_named(signature_id), erased_at__isnull=True)
            .first()
        )
        if signature is None:
            return 0
        # The spool first, as erase_signer does: a signing kept while the database was away.
        spooled = spool.erase_hash(signature.email_hash) if signature.email_hash else 0
        return spooled + erase_signatures(Signature.objects.of_signer(signature))


def petition_of_link(*, signature_id: SignatureRef) -> str:
    """The slug of the petition this signature is for ("" if there is none): discreet emails'
    links name no petition, and are sent on to the petition's own link page."""
    return (
        Signature.objects.filter(_named(signature_id))
        .values_list("petition__slug", flat=True)
        .first()
        or ""
    )


def receipt_of_link(*, signature_id: SignatureRef, petition: Petition) -> tuple[str, str]:
    """For the thank-you page: the receipt of the confirmed signature a confirmation link names,
    as its signer is shown it ("" unless it is confirmed and not erased), and the slug of the
    partner whose link brought the signer ("" for none), in one query."""
    row = (
        _signatures_of(petition)
        .filter(_named(signature_id), status=Signature.Status.CONFIRMED, erased_at__isnull=True)
        .values_list("receipt", "partner__slug")
        .first()
    )
    if row is None:
        return "", ""
    receipt, via = row
    return (format_receipt(receipt) if receipt else ""), via or ""
