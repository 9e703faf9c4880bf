import contextlib
import datetime as dt
import hashlib
import logging
import random
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django_countries import countries
from django_countries.fields import CountryField

from campaign.lib.fields import content_language_field
from campaign.lib.outage import DATABASE_UNAVAILABLE
from campaign.lib.pagecache import TimedCache
from campaign.lib.sealed import SealedTextField, lookup_hash
from campaign.lib.translated import TranslatedContent
from petitions.addresses import normalise_address
from petitions.regions import REGION_OF, is_region, region_name
from petitions.tokens import new_receipt, receipt_hash

logger = logging.getLogger(__name__)


# Each petition's figures as this process last read them, shown while the database is away.
_stats_while_down = TimedCache(seconds=24 * 3600)


def _stats_cache_key(petition_id: int) -> str:
    return f"petition:{petition_id}:stats"


def forget_stats(petition_id: int) -> None:
    with contextlib.suppress(Exception):
        cache.delete(_stats_cache_key(petition_id))


class PetitionQuerySet(models.QuerySet):
    def published(self):
        return self.filter(is_published=True)

    def open(self, now: dt.datetime | None = None):
        """Petitions that take signatures now (or at `now`): Petition.is_open in SQL, for a
        statement that must decide it in the database (a confirmation, exact at the closing
        moment however old the worker's copy of the petition)."""
        now = now or timezone.now()
        return self.published().filter(opens_at__lte=now, closes_at__gt=now)

    def featured(self) -> "Petition | None":
        """The petition the home and story pages invite people to sign: the newest open one."""
        now = timezone.now()
        published = self.published().order_by("-opens_at", "-id")
        return published.filter(opens_at__lte=now, closes_at__gt=now).first() or published.first()


@dataclass(frozen=True)
class CountryCount:
    # A country's code; a sub-region's M49 code ("151") for the high-risk countries of that
    # region counted together; "" for the countries counted together as "Other countries".
    code: str
    count: int

    @property
    def is_region(self) -> bool:
        return is_region(self.code)

    @property
    def name(self) -> str:
        # Resolved when shown, in the reader's language (the stats are cached for everyone).
        if not self.code:
            return str(_("Other countries"))
        return region_name(self.code) if self.is_region else countries.name(self.code)


@dataclass(frozen=True)
class PetitionStats:
    """What the public sees of a petition's signatures: the live count, and the breakdown by
    country as of its latest snapshot (see BreakdownSnapshot), never the live tally."""

    count: int
    goal: int
    petition_id: int
    # The latest snapshot when the count was read (in the same query), perhaps due for renewal.
    latest_breakdown: "BreakdownSnapshot | None" = None

    @cached_property
    def breakdown(self) -> "BreakdownSnapshot":
        """The snapshot to show, after taking a new one if the latest is due. Taken only here,
        where the breakdown is shown, so that pages showing only the count never take one.
        (Memoised per object: the cache keeps a copy made before this was read.)"""
        latest = self.latest_breakdown
        if latest is not None and not latest.is_due:
            return latest
        return BreakdownSnapshot.objects.take(petition_id=self.petition_id)

    @property
    def by_country(self) -> list[CountryCount]:
        return self.breakdown.by_country

    @property
    def toward_goal(self) -> int:
        """The count as far as the progress bar goes: never past the goal."""
        return min(self.count, self.goal)

    @property
    def percent(self) -> int:
        return self.toward_goal * 100 // self.goal


class Petition(TranslatedContent):
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    title = models.CharField(_("title"), max_length=200)
    intro = models.TextField(_("introduction"), help_text=_("Markdown."))
    demands = models.TextField(
        _("demands"), help_text=_("Markdown; a list, one demand per line starting with '- '.")
    )
    addressees = models.CharField(
        _("addressed to"), max_length=200, help_text=_("Whom the petition calls on.")
    )
    language = content_language_field(
        _(
            "The language the petition was written in. The English text is the one handed in, "
            "whatever the original."
        )
    )
    goal = models.PositiveIntegerField(_("signature goal"))
    opens_at = models.DateTimeField(_("opens"), default=timezone.now)
    closes_at = models.DateTimeField(_("closes"))
    is_published = models.BooleanField(_("published"), default=False)
    # Set by the hand-in: the count delivered, and when it was frozen.
    handed_in_count = models.PositiveIntegerField(_("count handed in"), null=True, blank=True)
    handed_in_at = models.DateTimeField(_("handed in"), null=True, blank=True)
    # And the hand-in's public part (petitions.exports): its manifest (sha256sum lines for the
    # receipts handed in and the counts), the manifest's SHA-256, written into the hand-in
    # document and shown on the petition's page, and the counts as published ([code, count]
    # rows, rounded and grouped like the public breakdown), from which counts.csv is rebuilt.
    handed_in_manifest = models.TextField(_("hand-in manifest"), blank=True, editable=False)
    handed_in_manifest_sha256 = models.CharField(
        _("hand-in manifest SHA-256"), max_length=64, blank=True, editable=False
    )
    handed_in_countries = models.JSONField(
        _("counts handed in, as published"), default=list, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = PetitionQuerySet.as_manager()

    class Meta:
        ordering = ["-opens_at", "-id"]
        verbose_name = _("petition")
        verbose_name_plural = _("petitions")
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")),
                name="petition_closes_after_opening",
                violation_error_message=_("The closing date must come after the opening date."),
            ),
            models.CheckConstraint(condition=Q(goal__gt=0), name="petition_goal_positive"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("petitions:detail", kwargs={"slug": self.slug})

    @property
    def has_opened(self) -> bool:
        return self.opens_at <= timezone.now()

    @property
    def has_closed(self) -> bool:
        return self.closes_at <= timezone.now()

    @property
    def is_open(self) -> bool:
        """Signatures are taken and confirmed only while this is true; otherwise the count
        is frozen."""
        return self.is_published and self.has_opened and not self.has_closed

    @property
    def intro_html(self) -> SafeString:
        return self.markdown("intro")

    @property
    def demands_html(self) -> SafeString:
        return self.markdown("demands")

    # Counting -------------------------------------------------------------------------------

    @property
    def _stats_cache_key(self) -> str:
        return _stats_cache_key(self.pk)

    def stats(self) -> PetitionStats:
        """Confirmed signatures, in total (live, from the tally, never a COUNT over the
        signatures) and by country (the latest snapshot), cached for a few seconds."""
        key = self._stats_cache_key
        try:
            cached = cache.get(key)
        except Exception:  # the cache being down must not take the page with it
            cached = None
        if cached is not None:
            _stats_while_down.set(self.pk, cached)
            return cached
        try:
            stats = SignatureTally.objects.stats_for(self)
        except DATABASE_UNAVAILABLE:
            # The figures this process last read, so that the page still shows while the
            # database is away (signings meanwhile wait in petitions.spool).
            stats = _stats_while_down.get(self.pk)
            if stats is None:
                raise
            return stats
        _stats_while_down.set(self.pk, stats)
        with contextlib.suppress(Exception):
            cache.set(key, stats, settings.PETITION_STATS_CACHE_SECONDS)
        return stats

    def forget_stats(self) -> None:
        forget_stats(self.pk)

    @property
    def confirmed_count(self) -> int:
        return self.stats().count


# Wording ids per process: the wordings are few and never deleted, so signing asks the
# database nothing more once a wording has been used.
_wording_ids = TimedCache(seconds=3600)


class ConsentWordingManager(models.Manager):
    def id_for(self, language: str, text: str) -> int:
        """The id of this wording, stored the first time it is used."""
        key = (language, text)
        wording_id = _wording_ids.get(key)
        if wording_id is None:
            digest = hashlib.sha256(f"{language}\n{text}".encode()).hexdigest()
            wording, _created = self.get_or_create(
                digest=digest, defaults={"language": language, "text": text}
            )
            wording_id = wording.pk
            _wording_ids.set(key, wording_id)
        return wording_id


class ConsentWording(models.Model):
    """The exact words of a consent as signers were shown them, in their language, stored once
    per text: the proof of what a signer agreed to. A changed wording is a new row."""

    language = models.CharField(_("language"), max_length=10)
    text = models.TextField(_("wording"))
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("first used"), auto_now_add=True)

    objects = ConsentWordingManager()

    class Meta:
        verbose_name = _("consent wording")
        verbose_name_plural = _("consent wordings")

    def __str__(self) -> str:
        return f"{self.text} ({self.language})"


def address_hash(address: str) -> str:
    """What a signature is found by: the keyed hash of its address as the signing form stores
    it (trimmed and lower-case; petitions.addresses), never the address, which is sealed."""
    return lookup_hash(address.strip().lower())


def _stored_forms(address: str) -> set[str]:
    """The address as the signing form stores it (its domain in ASCII), and as it stored
    addresses before that (trimmed and lower-cased only)."""
    forms = {address.strip().lower()}
    with contextlib.suppress(ValidationError):
        forms.add(normalise_address(address))
    return forms


class AddressHashField(models.CharField):
    """The address's keyed hash (address_hash), set whenever the row is written with an
    address: by save(), create(), bulk_create() and insert_or_ask_again alike (pre_save). An
    UPDATE that forgets the address leaves it, so that the address still cannot sign twice."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance, add):
        address = model_instance.email
        if address:
            setattr(model_instance, self.attname, address_hash(address))
        return super().pre_save(model_instance, add)


class ReceiptHashField(models.CharField):
    """The SHA-256 of the signature's receipt code (petitions.tokens.receipt_hash), set whenever
    the row is written with its code, as AddressHashField is. Erasure empties the code with an
    UPDATE and leaves the hash, which names nobody and stays in the hand-in."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance, add):
        code = model_instance.receipt
        if code:
            setattr(model_instance, self.attname, receipt_hash(code))
        return super().pre_save(model_instance, add)


class SignatureQuerySet(models.QuerySet):
    def with_email(self, address: str):
        """The signatures of this address, however it is written (upper case, a domain in
        Unicode or in its xn-- form): the one way to find signatures by address, by its keyed
        hash. Erased signatures have none, so they are never found."""
        return self.filter(email_hash__in=sorted(address_hash(f) for f in _stored_forms(address)))

    def of_signer(self, signature: "Signature"):
        """The signatures of the person behind this one, on every petition: those with its
        address's keyed hash and, where it still holds its address, with that address however
        else it was written (see with_email). None for an erased signature, which names nobody."""
        if signature.email_hash is None:
            return self.none()
        same = Q(email_hash=signature.email_hash)
        if signature.email:
            same |= Q(email_hash__in=[address_hash(f) for f in _stored_forms(signature.email)])
        return self.filter(same)

    def pending(self):
        return self.filter(status=Signature.Status.PENDING)

    def confirmed(self):
        return self.filter(status=Signature.Status.CONFIRMED)

    def public_counts_by_partner(self, partner_ids) -> dict[int, int]:
        """Confirmed signatures each partner brought, as the public may see them: rounded down
        like the count by country, and only from the same minimum (BREAKDOWN_ROUNDING and
        BREAKDOWN_MIN_COUNT), so that watching them singles out no signer."""
        step, floor = settings.BREAKDOWN_ROUNDING, settings.BREAKDOWN_MIN_COUNT
        counts = (
            self.confirmed()
            .filter(partner__in=partner_ids)
            .values_list("partner")
            .annotate(total=models.Count("id"))
            .order_by()
        )
        return {partner: total // step * step for partner, total in counts if total >= floor}

    def exportable(self):
        """Never fraudulent signatures: they are kept for audit, not handed in."""
        return self.exclude(status=Signature.Status.FRAUDULENT)

    def insert_or_ask_again(
        self, signature: "Signature", *, ask_again: tuple[str, list]
    ) -> tuple[int, bool]:
        """INSERT the signature; if its address has signed this petition already, store nothing
        of it but its outbox columns (email_due and the three beside it) and the address (sealed
        anew: the row may have forgotten it once confirmed, and the email goes to it), and those
        only where `ask_again` holds for the signature already there (a condition in SQL with
        its parameters: petitions.services compiles its rule once). Return the row's id and
        whether this statement put an email in the outbox. The row is found by the address's
        keyed hash (the unique constraint on petition and email_hash).

        One statement whatever the address, and one that writes a row either way (a new one, or
        the outbox columns of the one there, even when they keep their values), so that its time
        does not tell whether the address had signed: a write, and the commit that waits for the
        disk, are most of a signing's time. It needs no transaction, takes no savepoint inside
        one, and raises no error: a unique-constraint failure would make PostgreSQL write the
        signer's address and the whole row, names included, into its server log. Of concurrent
        signings with one address, one inserts and the others wait for it and update its row.

        Django's bulk_create(update_conflicts=True) sets the columns whatever the row there
        holds, in a transaction of its own, and cannot say whether an email became due; hence
        this piece of SQL, built from the model's fields. PostgreSQL and SQLite (3.35 or later)
        both run it.
        """
        connection = connections[router.db_for_write(self.model)]
        # Not in Django's documented API: connection.ops.quote_name and _meta.
        meta, quote = self.model._meta, connection.ops.quote_name
        table = quote(meta.db_table)
        fields = [field for field in meta.get_fields() if field.concrete and not field.primary_key]
        values = [
            field.get_db_prep_save(field.pre_save(signature, add=True), connection)
            for field in fields
        ]
        condition, condition_params = ask_again
        asked_again = [
            quote(meta.get_field(name).column)
            for name in (
                "email_due",
                "email_requested_at",
                "email_attempts",
                "email_retry_at",
                "email",
            )
        ]
        requested_at = meta.get_field("email_requested_at")
        unique = (meta.get_field("petition").column, meta.get_field("email_hash").column)
        statement = (
            "INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({unique}) "
            "DO UPDATE SET {outbox} RETURNING {pk}, {requested_at} = %s".format(
                table=table,
                columns=", ".join(quote(field.column) for field in fields),
                values=", ".join(["%s"] * len(fields)),
                unique=", ".join(quote(column) for column in unique),
                # A CASE, not a WHERE on the update: the row is written either way.
                outbox=", ".join(
                    f"{column} = CASE WHEN {condition} THEN EXCLUDED.{column} "
                    f"ELSE {table}.{column} END"
                    for column in asked_again
                ),
                pk=quote(meta.pk.column),
                # Only this statement sets the row's request time to this signing's.
                requested_at=quote(requested_at.column),
            )
        )
        params = [
            *values,
            *(list(condition_params) * len(asked_again)),
            values[fields.index(requested_at)],
        ]
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            pk, email_due = cursor.fetchone()
        return pk, bool(email_due)


# Module-level so that the models' Meta constraints can name them.
class SignatureStatus(models.TextChoices):
    PENDING = "pending", _("waiting for confirmation")
    CONFIRMED = "confirmed", _("confirmed")
    FRAUDULENT = "fraudulent", _("fraudulent")


class SignatureEmailKind(models.TextChoices):
    """Which email the outbox holds for a signature (petitions.emails)."""

    # Confirm, or already counted: which of the two, the signature's status says.
    SIGNATURE = "signature", _("confirmation or already counted")
    # A copy of what the site holds about the signer, which they asked for (petitions.own_data).
    DATA_COPY = "data_copy", _("copy of the signer's data")


class SignatureSource(models.TextChoices):
    HOME = "home", _("home page")
    STORIES = "stories", _("stories page")
    STORY = "story", _("a story")
    PETITION = "petition", _("petition page")
    WIDGET = "widget", _("a partner's widget")
    OTHER = "other", _("elsewhere")


class Signature(models.Model):
    Status = SignatureStatus
    Source = SignatureSource
    EmailKind = SignatureEmailKind

    # Neither this nor partner nor source_story has an index of its own (each would be written
    # on every signing for nothing): petition_id leads signature_counting and the unique
    # address index, partner_id leads signature_partner, and nothing looks signatures up by
    # the story they came from (migration 0025).
    petition = models.ForeignKey(
        Petition,
        on_delete=models.PROTECT,
        related_name="signatures",
        verbose_name=_("petition"),
        db_index=False,
    )
    # What the links in the signer's emails name the signature by: random, so that a link says
    # nothing of how many signed before (as the row's sequential id would, to the signer and to
    # every mail system that logs it).
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    # The signer's receipt (petitions.tokens): a random code drawn when the signature is first
    # stored (a second signing keeps it), sealed like the names so that the thank-you page and
    # the emails can show it, and emptied on erasure; and its SHA-256, kept for the hand-in.
    receipt = SealedTextField(_("receipt"), blank=True, default=new_receipt, editable=False)
    receipt_hash = ReceiptHashField(_("receipt's SHA-256"), unique=True, editable=False)
    # Sealed in the database with SIGNER_DATA_KEY (campaign.lib.sealed): a copy of the table
    # names nobody. Empty when the signer signed without a name, or once erased.
    first_name = SealedTextField(_("first name"), max_length=100, blank=True)
    last_name = SealedTextField(_("last name"), max_length=100, blank=True)
    # Normalised (petitions.addresses) and sealed. NULL once the signature is confirmed, unless
    # its signer asked for updates (confirm and forget: KEEPS_ADDRESS), and once erased.
    email = SealedTextField(_("email"), max_length=254, null=True, blank=True)  # noqa: DJ001
    # What the signature is found by (Signature.objects.with_email): the address's keyed hash,
    # kept when the address is forgotten, so that it still cannot sign twice. NULL, not "",
    # only once erased: erased rows must not collide in the unique constraint below.
    email_hash = AddressHashField(_("email address's keyed hash"), null=True, editable=False)
    country = CountryField(_("country"))
    wants_updates = models.BooleanField(_("wants campaign updates"), default=False)
    # Each consent with the exact words the signer ticked (the time is the signing's).
    updates_wording = models.ForeignKey(
        ConsentWording,
        verbose_name=_("campaign updates: wording"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    partner_updates = models.BooleanField(_("may be emailed by the partner"), default=False)
    partner_updates_wording = models.ForeignKey(
        ConsentWording,
        verbose_name=_("partner's emails: wording"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    hide_name = models.BooleanField(_("leave name out of the hand-in"), default=False)
    source = models.CharField(
        _("signed from"), max_length=10, choices=Source.choices, default=Source.OTHER
    )
    source_story = models.SlugField(
        _("story signed from"), max_length=80, blank=True, db_index=False
    )
    # The partner organisation whose link brought the signer (?via=), kept like the country
    # for the counts when personal data is erased; and the campaign parameters of that link
    # (short and validated: petitions.forms.CampaignParamField), erased with it.
    partner = models.ForeignKey(
        "partners.Partner",
        verbose_name=_("partner organisation"),
        related_name="signatures",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
    )
    utm_source = models.CharField(_("campaign source"), max_length=40, blank=True)
    utm_medium = models.CharField(_("campaign medium"), max_length=40, blank=True)
    utm_campaign = models.CharField(_("campaign name"), max_length=40, blank=True)
    language = models.CharField(_("language"), max_length=10, default="en")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("signed"), default=timezone.now)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    erased_at = models.DateTimeField(_("personal data erased"), null=True, blank=True)
    # The outbox: an email is due for this signer (confirm, or already counted), since when,
    # how many sends have failed and when to try again, and when the last one went out.
    # petitions.emails sends them; see there why the signature row is the queue.
    email_due = models.BooleanField(default=False, editable=False)
    email_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    email_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    email_retry_at = models.DateTimeField(null=True, blank=True, editable=False)
    email_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A message that cannot be built or that the mail server refuses for good, or that failed
    # every attempt, is set aside (no longer due) with why: exception type and SMTP codes only.
    email_set_aside_at = models.DateTimeField(
        _("email set aside"), null=True, blank=True, editable=False
    )
    email_problem = models.CharField(_("email problem"), max_length=200, blank=True, editable=False)
    # Which email is due: a copy of their data is asked for by the signer and sent through the
    # same outbox (retries, set aside), then the kind goes back to SIGNATURE. A request for the
    # signature email meanwhile leaves it: the copy carries the confirmation link if need be.
    email_kind = models.CharField(
        _("email due"),
        max_length=10,
        choices=SignatureEmailKind.choices,
        default=SignatureEmailKind.SIGNATURE,
        editable=False,
    )

    objects = SignatureQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        permissions = [
            ("export_signatures", _("Can export signatures and hand them in")),
            ("view_personal_data", _("Can see signers' names and email addresses")),
            ("erase_signatures", _("Can erase signers' personal data")),
        ]
        constraints = [
            # One signature per person per petition, whatever the race.
            models.UniqueConstraint(
                fields=["petition", "email_hash"], name="signature_unique_address_per_petition"
            ),
            models.CheckConstraint(
                condition=Q(email_hash__isnull=True) | Q(email_hash__regex=r"^[0-9a-f]{64}\Z"),
                name="signature_email_hash_hex",
            ),
            # An address is never stored without the hash that stops it signing twice.
            models.CheckConstraint(
                condition=Q(email__isnull=True) | Q(email_hash__isnull=False),
                name="signature_address_has_hash",
            ),
            models.CheckConstraint(
                condition=~Q(status="confirmed") | Q(confirmed_at__isnull=False),
                name="signature_confirmed_has_date",
            ),
            models.CheckConstraint(
                condition=Q(erased_at__isnull=False) | Q(email_hash__isnull=False),
                name="signature_email_hash_unless_erased",
            ),
            models.CheckConstraint(
                condition=Q(receipt_hash__regex=r"^[0-9a-f]{64}\Z"),
                name="signature_receipt_hash_hex",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SignatureStatus.values), name="signature_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(source__in=SignatureSource.values), name="signature_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(email_kind__in=SignatureEmailKind.values),
                name="signature_email_kind_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["petition", "status", "country"], name="signature_counting"),
            models.Index(fields=["status", "created_at"], name="signature_status_created"),
            # Only signatures that came through a partner pay for it.
            models.Index(
                fields=["partner", "status"],
                condition=Q(partner__isnull=False),
                name="signature_partner",
            ),
            # Small whatever the table's size: only signatures whose email is waiting.
            models.Index(
                fields=["email_requested_at"],
                condition=Q(email_due=True),
                name="signature_email_due",
            ),
        ]

    def __str__(self) -> str:
        if self.erased_at:
            return str(_("Erased signature #%(id)s") % {"id": self.pk})
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def source_label(self) -> str:
        if self.source == self.Source.STORY and self.source_story:
            return f"story:{self.source_story}"
        return self.source


# Confirm and forget: once its signature is confirmed, a signer's address is kept only if they
# asked for updates, from the campaign or from a partner; otherwise its keyed hash alone stays,
# which still stops the address from signing twice and finds the signature for the address
# (erasure, a new link). Withdrawal needs no address: its link names the signature.
KEEPS_ADDRESS = Q(wants_updates=True) | Q(partner_updates=True)


def address_once_confirmed() -> models.Case:
    """The address column of a signature being confirmed (or confirmed): its own where
    KEEPS_ADDRESS holds, else NULL. For an UPDATE's SET, so that the row is confirmed and its
    address forgotten in one statement."""
    return models.Case(
        models.When(KEEPS_ADDRESS, then=F("email")),
        default=models.Value(None),
        output_field=Signature._meta.get_field("email"),
    )


def address_after_email() -> models.Case:
    """The address column once an email to the signature has gone out, or been given up: a
    confirmed signature forgets again the address a new signing or a request for a link brought
    (as address_once_confirmed says); a pending one keeps it for its confirmation."""
    return models.Case(
        models.When(status=SignatureStatus.CONFIRMED, then=address_once_confirmed()),
        default=F("email"),
        output_field=Signature._meta.get_field("email"),
    )


# The snapshot's fields read with the count (see stats_for).
_SNAPSHOT = ("id", "period_start", "taken_at", "countries", "rounding", "min_count")


class SignatureTallyQuerySet(models.QuerySet):
    def stats_for(self, petition: Petition) -> PetitionStats:
        """The live count and the latest breakdown snapshot, in one query whether or not there
        is a snapshot yet: the petition page shows both, the home and story pages the count."""
        live = (
            self.filter(petition=OuterRef("pk"))
            .values("petition")
            .annotate(total=Sum("count"))
            .values("total")
        )
        latest = BreakdownSnapshot.objects.filter(petition=OuterRef("pk")).order_by("-period_start")
        # A plain queryset: modeltranslation's values() would select every translated column.
        row = (
            models.QuerySet(Petition)
            .filter(pk=petition.pk)
            .values(
                live_count=Coalesce(Subquery(live), 0),
                **{f"snapshot_{name}": Subquery(latest.values(name)[:1]) for name in _SNAPSHOT},
            )
            .first()
        ) or {"live_count": 0, "snapshot_id": None}
        snapshot = None
        if row["snapshot_id"] is not None:
            snapshot = BreakdownSnapshot(
                petition_id=petition.pk, **{name: row[f"snapshot_{name}"] for name in _SNAPSHOT}
            )
        return PetitionStats(
            count=row["live_count"],
            goal=petition.goal,
            petition_id=petition.pk,
            latest_breakdown=snapshot,
        )

    def by_country(self, petition_id: int) -> list[tuple[str, int]]:
        """Exact confirmed signatures per country: for staff, and for taking snapshots."""
        return list(
            self.filter(petition_id=petition_id)
            .values_list("country")
            .annotate(total=Sum("count"))
            .filter(total__gt=0)
            .order_by("-total", "country")
        )


class ShardedCount:
    """A count spread over a few rows per key ("shards"), for models with `shard` and `count`
    fields (count never negative: a check constraint) and the key unique with the shard.

    Concurrent transactions change different shards, so that they seldom wait for the same
    row lock; reading sums the shards. The callers keep the count exact in the same transaction
    as each change to what it counts.
    """

    SHARDS = 8
    # How a change picks its shard. False: at random, so that a busy key's changes spread over
    # all its shards (the tally: a few busy keys). True: the first of the key's rows that no
    # other transaction holds, and a random one only when all are held, so that a key has more
    # rows than one only where confirmations met (the rollups: many keys, each read often).
    # (PostgreSQL's SKIP LOCKED; elsewhere always the first.)
    PICK_FREE_SHARD = False

    @classmethod
    def _add_to_a_free_shard(cls, *, key: dict, delta: int) -> bool:
        """Add delta to the key's first row that no other transaction holds; False if there is
        none (no row yet, or all held)."""
        rows = cls.objects.filter(**key)
        free = rows.order_by("shard").select_for_update(skip_locked=True).values("pk")[:1]
        return bool(rows.filter(pk=Subquery(free)).update(count=F("count") + delta))

    @classmethod
    def _insert_shard(cls, *, key: dict, shard: int, count: int) -> bool:
        """INSERT this shard holding count, unless it exists; whether it did. (ON CONFLICT DO
        NOTHING: it waits for a transaction creating the same shard, and fails no statement.
        Django's bulk_create does not say whether it inserted.)"""
        connection = connections[router.db_for_write(cls)]
        meta, quote = cls._meta, connection.ops.quote_name
        row = cls(**key, shard=shard, count=count)
        fields = [field for field in meta.concrete_fields if not field.primary_key]
        statement = "INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING"
        with connection.cursor() as cursor:
            cursor.execute(
                statement.format(
                    table=quote(meta.db_table),
                    columns=", ".join(quote(field.column) for field in fields),
                    values=", ".join(["%s"] * len(fields)),
                ),
                [
                    field.get_db_prep_save(getattr(row, field.attname), connection)
                    for field in fields
                ],
            )
            return cursor.rowcount == 1

    @classmethod
    def _add_to_a_shard(cls, *, key: dict, delta: int) -> None:
        """Add a positive delta to one shard of this key (see PICK_FREE_SHARD)."""
        shard = random.randrange(cls.SHARDS)
        if cls.PICK_FREE_SHARD:
            added = cls._add_to_a_free_shard(key=key, delta=delta)
        else:
            added = cls.objects.filter(**key, shard=shard).update(count=F("count") + delta)
        if not added:
            cls._add_after_first_try(key=key, shard=shard, delta=delta)

    @classmethod
    def _add_after_first_try(cls, *, key: dict, shard: int, delta: int) -> None:
        """What _add_to_a_shard does when its first UPDATE changed no row."""
        matching = cls.objects.filter(**key, shard=shard)
        if cls.PICK_FREE_SHARD:
            # No free shard: a new one (most keys of a fine rollup are new: one statement
            # more, not three); else the shard another transaction holds, once it is free.
            if cls._insert_shard(key=key, shard=shard, count=delta):
                return
            matching.update(count=F("count") + delta)
            return
        # The shard's first use: create it empty, unless another transaction just did (ON
        # CONFLICT DO NOTHING waits for that one and fails no statement, so nothing lands in
        # the database's error log), then add to it like any other.
        cls.objects.bulk_create([cls(**key, shard=shard, count=0)], ignore_conflicts=True)
        matching.update(count=F("count") + delta)

    @classmethod
    def _first_try_sql(cls, *, key: dict, shard: int, delta: int, connection) -> tuple[str, list]:
        """_add_to_a_shard's first UPDATE as SQL, for add_to_counts: written from the model's
        columns rather than compiled by the ORM, which took most of a confirmation's CPU."""
        meta, quote = cls._meta, connection.ops.quote_name
        table = quote(meta.db_table)
        pk, count = quote(meta.pk.column), quote(meta.get_field("count").column)
        where, params = [], []
        for name, value in key.items():
            field = meta.get_field(name)
            if value is None:
                where.append(f"{quote(field.column)} IS NULL")
            else:
                where.append(f"{quote(field.column)} = %s")
                params.append(field.get_db_prep_value(value, connection))
        shard_column = quote(meta.get_field("shard").column)
        matching = " AND ".join(where)
        if cls.PICK_FREE_SHARD:
            free = (
                f"SELECT {pk} FROM {table} WHERE {matching} "
                f"ORDER BY {shard_column} LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
            return f"UPDATE {table} SET {count} = {count} + %s WHERE {pk} = ({free})", [
                delta,
                *params,
            ]
        return (
            f"UPDATE {table} SET {count} = {count} + %s WHERE {matching} AND {shard_column} = %s",
            [delta, *params, shard],
        )

    @classmethod
    def _take_from_a_shard(cls, rows: models.QuerySet, *, amount: int, one_key: bool) -> bool:
        """Take amount from one of these rows that holds at least that much: a random shard if
        it does (when shards are picked at random, and the rows are one key's shards, `one_key`,
        so that a shard number names one row), else the fullest row. No row may go below zero,
        and an UPDATE that would break the constraint is never sent (PostgreSQL would log it).
        False, changing nothing, when no row holds enough.

        Each UPDATE re-checks `count >= amount` on the row it changes, after waiting for any
        transaction that holds its lock, so two withdrawals can never both take a shard's last
        signature; the one that finds it gone tries the next fullest.
        """
        enough = rows.filter(count__gte=amount)
        take = {"count": F("count") - amount}
        spread = one_key and not cls.PICK_FREE_SHARD
        if spread and enough.filter(shard=random.randrange(cls.SHARDS)).update(**take):
            return True
        while True:
            fullest = enough.order_by("-count", "shard").values("pk")[:1]
            if enough.filter(pk=Subquery(fullest)).update(**take):
                return True
            if not enough.exists():
                return False


class SignatureTally(ShardedCount, models.Model):
    """Confirmed signatures per petition and country, spread over a few rows ("shards").

    Each confirmation adds one to a random shard, so that concurrent confirmations seldom wait
    for the same row lock; reading the count sums a few dozen rows. The tally is kept exact in
    the same transaction as each change, and `manage.py recount_signatures` rebuilds it from
    the signatures themselves.
    """

    SHARDS = 8

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="tallies")
    country = CountryField()
    shard = models.PositiveSmallIntegerField()
    count = models.IntegerField(default=0)

    objects = SignatureTallyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["petition", "country", "shard"], name="tally_unique_shard"
            ),
            models.CheckConstraint(condition=Q(count__gte=0), name="tally_count_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.petition_id}/{self.country}/{self.shard}: {self.count}"

    @classmethod
    def add(cls, *, petition_id: int, country: str, delta: int) -> None:
        """Add delta to one shard (a negative one only to a shard that has enough); call inside
        the transaction that changes the signature."""
        key = {"petition_id": petition_id, "country": country}
        if delta >= 0:
            cls._add_to_a_shard(key=key, delta=delta)
            return
        if cls._take_from_a_shard(cls.objects.filter(**key), amount=-delta, one_key=True):
            return
        # The tally is already short of this signature, so it is wrong anyway: leave it rather
        # than fail the withdrawal or the moderation; recount_signatures repairs it.
        logger.warning(
            "Signature tally of petition %s (%s) has fewer than %s to take; run "
            "manage.py recount_signatures",
            petition_id,
            country,
            -delta,
        )


def start_of_hour(moment: dt.datetime) -> dt.datetime:
    """The UTC hour a moment falls in: how the rollups file a confirmation."""
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


# The rollups ----------------------------------------------------------------------------------
#
# What the dashboards read, so that none counts the signatures themselves: confirmed signatures
# summed by some of their attributes (a rollup's KEY), each kept exact in the same transaction
# as every change to the count (petitions.services) and rebuilt with the tally by
# `manage.py recount_signatures`. There are three, because a dashboard must read few rows:
# - SignatureRollup, by hour, country, partner and page: every figure the others hold, and more
#   (what came in by country since a moment), in a row per distinct key the signatures have:
#   with a million spread over a month, about one per signature;
# - SignatureTimeline, by hour and partner: the time series (a few thousand rows a month);
# - SignatureTotals, by country, partner and page, over the whole petition: the breakdowns
#   (at most countries x partners x pages rows, whatever the number of signatures).
# A key has more than one row (shard) only where confirmations met (PICK_FREE_SHARD).
# (bench/DASHBOARD.md measures why: with a million signatures, summing SignatureRollup for the
# staff dashboard took some 300 ms of the 200 the page may take, the other two a few.)
#
# Erasing a signer's data clears the story their signature names, but not the rollups: an
# aggregate of confirmations names nobody, and keeping it keeps the dashboards right.


class RollupQuerySet(models.QuerySet):
    def refill(self, *, petition_id: int) -> int:
        """Replace the petition's rows with ones computed from its confirmed signatures, in one
        INSERT ... SELECT (the database aggregates; no row passes through Python); return how
        many rows it wrote. Call inside a transaction that has locked the petition's counts
        (petitions.services.recount_signatures)."""
        self.filter(petition_id=petition_id).delete()
        return self.insert_from(Signature.objects.filter(petition_id=petition_id))

    def insert_from(self, signatures: "SignatureQuerySet") -> int:
        """Add the rollup of these signatures' confirmed ones: one row per key, in shard 0."""
        key = self.model.KEY
        rows = signatures.confirmed().order_by()
        if "hour" in key:
            rows = rows.annotate(hour=_HOUR_CONFIRMED)
        rows = rows.values(*key).annotate(  # grouped by the key, selected in this order, then:
            shard=models.Value(0), total=models.Count("pk")
        )
        connection = connections[router.db_for_write(self.model)]
        meta, quote = self.model._meta, connection.ops.quote_name
        columns = {field.attname: field.column for field in meta.concrete_fields}
        # Not in Django's documented API: compiling a query for an INSERT ... SELECT, which
        # Django's ORM cannot write.
        select, params = rows.query.get_compiler(connection=connection).as_sql()
        names = ", ".join(quote(columns[name]) for name in (*key, "shard", "count"))
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {quote(meta.db_table)} ({names}) {select}", params)
            return cursor.rowcount


_HOUR_CONFIRMED = models.functions.Trunc(
    "confirmed_at", "hour", output_field=models.DateTimeField(), tzinfo=dt.UTC
)


class Rollup(ShardedCount):
    """A rollup (see above): models with a petition, the attributes in KEY, shard and count."""

    PICK_FREE_SHARD = True

    # Signature attributes the rows are keyed by (shard aside); "hour" is start_of_hour of the
    # confirmation.
    KEY: tuple[str, ...] = ()

    @classmethod
    def key_of(cls, signature: Signature) -> dict:
        return {
            name: start_of_hour(signature.confirmed_at)
            if name == "hour"
            else getattr(signature, name)
            for name in cls.KEY
        }

    @classmethod
    def count_signature(cls, signature: Signature, *, delta: int) -> None:
        """Add delta (+1 or -1) for a confirmed signature under its key; call inside the
        transaction that changes the signature. A negative delta is taken only from a row that
        has enough. Once the signature is erased it no longer names its story, so then it is
        taken from any story of the rest of its key."""
        key = cls.key_of(signature)
        if delta >= 0:
            cls._add_to_a_shard(key=key, delta=delta)
            return
        one_key = not (signature.erased_at and "source_story" in key)
        if not one_key:
            del key["source_story"]
        if cls._take_from_a_shard(cls.objects.filter(**key), amount=-delta, one_key=one_key):
            return
        logger.warning(
            "%s of petition %s has fewer than %s to take; run manage.py recount_signatures",
            cls.__name__,
            signature.petition_id,
            -delta,
        )


def _unique_per_key(fields: list[str], name: str) -> list[models.UniqueConstraint]:
    """One row per key and shard. No partner (NULL) is one key too, hence two partial
    constraints (NULLS NOT DISTINCT is PostgreSQL's only)."""
    return [
        models.UniqueConstraint(
            fields=[*fields, "shard"], condition=Q(partner__isnull=False), name=name
        ),
        models.UniqueConstraint(
            fields=[field for field in fields if field != "partner"] + ["shard"],
            condition=Q(partner__isnull=True),
            name=f"{name}_no_partner",
        ),
    ]


def _partner_field(related_name: str):
    return models.ForeignKey(
        "partners.Partner",
        verbose_name=_("partner organisation"),
        related_name=related_name,
        # The figures stay: a partner whose link brought signatures cannot be deleted, only
        # hidden (no longer shown on the coalition page).
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text=_(
            "A partner organisation that brought signatures cannot be deleted, only hidden."
        ),
    )


class SignatureRollup(Rollup, models.Model):
    """Confirmed signatures per petition, hour of confirmation, country, partner and the page
    that brought them (see "The rollups" above)."""

    # At most; its keys are much finer than the tally's, so concurrent confirmations seldom
    # share one.
    SHARDS = 4
    KEY = ("petition_id", "hour", "country", "partner_id", "source", "source_story")

    petition = models.ForeignKey(
        Petition, on_delete=models.CASCADE, related_name="rollups", verbose_name=_("petition")
    )
    hour = models.DateTimeField(_("hour"), help_text=_("The start of the hour confirmed in (UTC)."))
    country = CountryField(_("country"))
    partner = _partner_field("signature_rollups")
    # As the signature has it (its choices and their check are Signature's).
    source = models.CharField(_("signed from"), max_length=10)
    source_story = models.SlugField(_("story signed from"), max_length=80, blank=True)
    shard = models.PositiveSmallIntegerField()
    count = models.IntegerField(_("confirmed signatures"), default=0)

    objects = RollupQuerySet.as_manager()

    class Meta:
        verbose_name = _("signature figures")
        verbose_name_plural = _("signature figures")
        constraints = [
            *_unique_per_key(
                ["petition", "hour", "country", "partner", "source", "source_story"],
                "rollup_unique_shard",
            ),
            models.CheckConstraint(condition=Q(count__gte=0), name="rollup_count_not_negative"),
        ]
        indexes = [
            # A petition's rows since a moment (a partner's figures up to the current period).
            models.Index(fields=["petition", "hour"], name="rollup_petition_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.petition_id} {self.hour:%Y-%m-%d %H}h {self.country}: {self.count}"


class SignatureTimeline(Rollup, models.Model):
    """Confirmed signatures per petition, hour of confirmation and partner: the dashboards'
    time series (see "The rollups" above)."""

    # At most. Each key takes every confirmation of its hour through its partner (or through
    # none): hot keys, as many shards as the tally.
    SHARDS = 8
    KEY = ("petition_id", "hour", "partner_id")

    petition = models.ForeignKey(
        Petition, on_delete=models.CASCADE, related_name="+", verbose_name=_("petition")
    )
    hour = models.DateTimeField(_("hour"), help_text=_("The start of the hour confirmed in (UTC)."))
    partner = _partner_field("+")
    shard = models.PositiveSmallIntegerField()
    count = models.IntegerField(_("confirmed signatures"), default=0)

    objects = RollupQuerySet.as_manager()

    class Meta:
        verbose_name = _("signatures per hour")
        verbose_name_plural = _("signatures per hour")
        constraints = [
            *_unique_per_key(["petition", "hour", "partner"], "timeline_unique_shard"),
            models.CheckConstraint(condition=Q(count__gte=0), name="timeline_count_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.petition_id} {self.hour:%Y-%m-%d %H}h: {self.count}"


class SignatureTotals(Rollup, models.Model):
    """Confirmed signatures per petition, country, partner and page, whenever they came: the
    dashboards' breakdowns (see "The rollups" above)."""

    SHARDS = 8
    KEY = ("petition_id", "country", "partner_id", "source", "source_story")

    petition = models.ForeignKey(
        Petition, on_delete=models.CASCADE, related_name="+", verbose_name=_("petition")
    )
    country = CountryField(_("country"))
    partner = _partner_field("+")
    source = models.CharField(_("signed from"), max_length=10)
    source_story = models.SlugField(_("story signed from"), max_length=80, blank=True)
    shard = models.PositiveSmallIntegerField()
    count = models.IntegerField(_("confirmed signatures"), default=0)

    objects = RollupQuerySet.as_manager()

    class Meta:
        verbose_name = _("signature totals")
        verbose_name_plural = _("signature totals")
        constraints = [
            *_unique_per_key(
                ["petition", "country", "partner", "source", "source_story"],
                "totals_unique_shard",
            ),
            models.CheckConstraint(condition=Q(count__gte=0), name="totals_count_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.petition_id} {self.country}: {self.count}"


# Every rollup, in the order each change to the count updates them.
ROLLUPS: tuple[type[Rollup], ...] = (SignatureRollup, SignatureTimeline, SignatureTotals)


def add_to_counts(counts: list[tuple[type[ShardedCount], dict]], *, delta: int) -> None:
    """Add a positive delta to each of these counts under its key, as _add_to_a_shard does, in
    this order. On PostgreSQL the first tries go in one statement (data-modifying WITH
    queries), so a confirmation's four counts usually cost one round trip, not four.

    The order is kept as if they ran one by one: each WITH query runs only once the one before
    has changed a row (it reads it). From the first whose first try changed none (its key's
    first row, or every row held by others), the rest run one by one. So a transaction waits for
    a row lock only while it holds none of a later count's, as before: no deadlock between
    confirmations, and recount_signatures finds none between the tally and the rollups."""
    connection = connections[router.db_for_write(counts[0][0])]
    if connection.vendor != "postgresql":
        for model, key in counts:
            model._add_to_a_shard(key=key, delta=delta)
        return
    shards = [random.randrange(model.SHARDS) for model, _key in counts]
    queries, params = [], []
    for n, ((model, key), shard) in enumerate(zip(counts, shards, strict=True)):
        sql, values = model._first_try_sql(key=key, shard=shard, delta=delta, connection=connection)
        after = f" AND (SELECT count(*) FROM c{n - 1}) > 0" if n else ""
        queries.append(f"c{n} AS ({sql}{after} RETURNING 1)")
        params += values
    added = ", ".join(f"(SELECT count(*) FROM c{n})" for n in range(len(counts)))
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(queries)} SELECT {added}", params)
        first_tries = cursor.fetchone()
    if all(first_tries):
        return
    failed = first_tries.index(0)
    model, key = counts[failed]
    model._add_after_first_try(key=key, shard=shards[failed], delta=delta)
    for model, key in counts[failed + 1 :]:
        model._add_to_a_shard(key=key, delta=delta)


# High-risk countries ----------------------------------------------------------------------------
#
# Countries where signing can put a person in danger. Which ones is the campaign's decision,
# taken country by country in the admin: the code names none. For a signer from one of them the
# form says what is kept and who sees it and starts with their name left out of the hand-in, the
# confirmation email is the discreet one (petitions.emails), and the public breakdown never
# names the country (public_figures).

# The codes per process for a minute: the petition page, signing and every email read them. A
# change counts at once in the process that made it, within the minute in the others. While the
# database is away, the codes last read (TimedCache.read).
_high_risk_codes = TimedCache(seconds=60)


def forget_high_risk_codes() -> None:
    _high_risk_codes.clear()


class HighRiskCountryManager(models.Manager):
    def codes(self) -> frozenset[str]:
        """The codes of the high-risk countries."""
        return _high_risk_codes.read(
            "codes", lambda: frozenset(self.values_list("country", flat=True))
        )

    def mark(self, *, country: str, username: str) -> tuple["HighRiskCountry", bool]:
        """Mark a country as high-risk: the row, and whether this made it (False if the country
        already was high-risk)."""
        self.model(country=country, added_by=username).full_clean(validate_unique=False)
        return self.get_or_create(country=country, defaults={"added_by": username})


class HighRiskCountry(models.Model):
    country = CountryField(_("country"), unique=True)
    added_at = models.DateTimeField(_("added at"), default=timezone.now, editable=False)
    # A name, not a foreign key: the record outlives the staff account.
    added_by = models.CharField(
        _("added by"),
        max_length=150,
        blank=True,
        editable=False,
        help_text=_("The username of the staff member who marked it."),
    )

    objects = HighRiskCountryManager()

    class Meta:
        # By code in the database; the admin lists every country by its name in the reader's
        # language (the database cannot sort by a translated name).
        ordering = ["country"]
        verbose_name = _("high-risk country")
        verbose_name_plural = _("high-risk countries")

    def __str__(self) -> str:
        return f"{self.country.name} ({self.country.code})"

    # Every change clears the codes this process keeps, now and again once committed (a request
    # in another thread may have read the old list in between).
    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        forget_high_risk_codes()
        transaction.on_commit(forget_high_risk_codes)

    def delete(self, *args, **kwargs):
        deleted = super().delete(*args, **kwargs)
        forget_high_risk_codes()
        transaction.on_commit(forget_high_risk_codes)
        return deleted


# The public breakdown by country --------------------------------------------------------------
#
# An attacker who confirms a few signatures of their own from one country and watches the
# breakdown must not be able to tell that one real signer from that country confirmed, nor when.
# So the public breakdown is never the live tally but a snapshot, and with the defaults:
# - a snapshot is taken at most once every six hours (BREAKDOWN_SNAPSHOT_SECONDS), so that a
#   change can be placed only within a six-hour window, never at the minute it happened;
# - each figure is rounded down to a multiple of ten (BREAKDOWN_ROUNDING), so that within a
#   window changes of up to nine are invisible: even an attacker who has brought a country to
#   the edge of a multiple with their own signatures learns at most that at least one signature
#   came in during that window, not whose, nor when in it;
# - a country is named only from 50 confirmed signatures (BREAKDOWN_MIN_COUNT); smaller ones are
#   counted together as "Other countries", itself shown only from 50, so that a small country,
#   where a handful of signers may be known to each other or to a state, never appears by name.
# And the high-risk countries (HighRiskCountry) are never named, even past 50: their figures are
# added up per UN sub-region ("Eastern Europe", petitions.regions), each region then shown or
# counted with the others like a country. A region is named even when it holds one high-risk
# country only: the public learns that some country of the region is high-risk, not which.
# Staff reports and the hand-in read the exact tally. The total stays live and exact.
_FIRST_PERIOD = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def public_figures(
    totals: Iterable[tuple[str, int]],
    *,
    rounding: int,
    min_count: int,
    high_risk: Collection[str] | None = None,
) -> list[list[str | int]]:
    """The breakdown the public may see, from exact (country, count) pairs: [code, count] rows,
    largest first, a region's M49 code for the high-risk countries of that region (the current
    ones unless `high_risk` says), "" for the countries counted together (see the rule above)."""
    if high_risk is None:
        high_risk = HighRiskCountry.objects.codes()
    by_place: dict[str, int] = {}
    others = 0
    for code, total in totals:
        if code in high_risk:
            code = REGION_OF.get(code, "")
            if not code:  # a code in no region: never named
                others += total
                continue
        by_place[code] = by_place.get(code, 0) + total
    named: list[list[str | int]] = []
    for code, total in by_place.items():
        if total >= min_count:
            named.append([code, total // rounding * rounding])
        else:
            others += total
    # Ordered by the rounded figure, then by code: never by the exact one, which would tell
    # which of two countries shown alike has more, and when that changes.
    named.sort(key=lambda row: (-row[1], row[0]))
    others = others // rounding * rounding
    if others >= min_count:
        named.append(["", others])
    return named


class BreakdownSnapshotQuerySet(models.QuerySet):
    def latest_for(self, petition_id: int) -> "BreakdownSnapshot | None":
        return self.filter(petition_id=petition_id).order_by("-period_start").first()

    def take(self, *, petition_id: int) -> "BreakdownSnapshot":
        """The latest snapshot, after taking a new one from the tally if the latest is due.

        Race-safe without locks: each period starts where the previous snapshot's ends, so every
        reader who finds the same snapshot due tries to insert the same (petition, period start),
        the unique constraint keeps one, and ON CONFLICT DO NOTHING fails no statement (nothing
        for the database's error log). All of them then read back the one that was kept.
        """
        latest = self.latest_for(petition_id)
        if latest is not None and not latest.is_due:
            return latest
        self.bulk_create(
            [
                BreakdownSnapshot.from_tally(
                    petition_id=petition_id,
                    period_start=latest.next_period_start if latest else _FIRST_PERIOD,
                )
            ],
            ignore_conflicts=True,
        )
        forget_stats(petition_id)  # the cached stats name the snapshot that was due
        return self.latest_for(petition_id)


class BreakdownSnapshot(models.Model):
    """The public breakdown of a petition's confirmed signatures by country at one moment,
    already rounded and grouped (see public_figures): what the petition page shows until the
    next one. A snapshot falls due BREAKDOWN_SNAPSHOT_SECONDS after the previous one was taken,
    and is taken by the first reader after that, or by `manage.py snapshot_breakdown`."""

    petition = models.ForeignKey(
        Petition,
        on_delete=models.CASCADE,
        related_name="breakdown_snapshots",
        verbose_name=_("petition"),
    )
    # When this snapshot fell due: the previous one's time plus the period (1970 for the first).
    period_start = models.DateTimeField(_("period start"))
    taken_at = models.DateTimeField(_("taken"))
    # [[country code, count], ...], "" for the countries counted together.
    countries = models.JSONField(_("countries"), default=list)
    # The rule the figures were made with, so that the page describes what it shows.
    rounding = models.PositiveIntegerField(_("rounded down to a multiple of"))
    min_count = models.PositiveIntegerField(_("fewest signatures to name a country"))

    objects = BreakdownSnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["-period_start"]
        verbose_name = _("breakdown snapshot")
        verbose_name_plural = _("breakdown snapshots")
        constraints = [
            models.UniqueConstraint(
                fields=["petition", "period_start"], name="breakdown_one_snapshot_per_period"
            ),
            models.CheckConstraint(
                condition=Q(taken_at__gte=F("period_start")),
                name="breakdown_taken_in_its_period",
            ),
            models.CheckConstraint(condition=Q(rounding__gt=0), name="breakdown_rounding_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.petition_id} @ {self.taken_at:%Y-%m-%d %H:%M}"

    @classmethod
    def from_tally(cls, *, petition_id: int, period_start: dt.datetime) -> "BreakdownSnapshot":
        rounding, min_count = settings.BREAKDOWN_ROUNDING, settings.BREAKDOWN_MIN_COUNT
        totals = SignatureTally.objects.by_country(petition_id)
        return cls(
            petition_id=petition_id,
            period_start=period_start,
            # Never before its period, even if this machine's clock is behind the one that
            # took the previous snapshot.
            taken_at=max(timezone.now(), period_start),
            countries=public_figures(totals, rounding=rounding, min_count=min_count),
            rounding=rounding,
            min_count=min_count,
        )

    @property
    def next_period_start(self) -> dt.datetime:
        return self.taken_at + dt.timedelta(seconds=settings.BREAKDOWN_SNAPSHOT_SECONDS)

    @property
    def is_due(self) -> bool:
        """Older than the period: the next reader takes a new one."""
        return timezone.now() >= self.next_period_start

    @property
    def by_country(self) -> list[CountryCount]:
        """The rows, with any country that has become high-risk since the snapshot was taken
        moved into its region's row at once (the next snapshot groups the exact figures)."""
        return [
            CountryCount(code, count)
            for code, count in _regroup(self.countries, HighRiskCountry.objects.codes())
        ]

    @property
    def shows_regions(self) -> bool:
        """Whether some rows are regions, which the page then explains."""
        return any(row.is_region for row in self.by_country)


def _regroup(rows: list[list[str | int]], high_risk: Collection[str]) -> list[list[str | int]]:
    """A snapshot's rows without naming the countries of `high_risk`: each one's (rounded)
    figure added to its region's row, made if need be (it is at least the minimum)."""
    if not any(code in high_risk for code, _count in rows):
        return rows
    by_place: dict[str, int] = {}
    for code, count in rows:
        if code in high_risk:
            code = REGION_OF.get(code, "")
        by_place[code] = by_place.get(code, 0) + count
    others = by_place.pop("", 0)
    named = sorted(
        ([code, count] for code, count in by_place.items()), key=lambda row: (-row[1], row[0])
    )
    return [*named, ["", others]] if others else named


class HandedInReceipt(models.Model):
    """A receipt handed in with a petition: the SHA-256 of the receipt code of one of the
    signatures in its hand-in, copied there by the hand-in (services.hand_in) and published in
    its receipts.txt. Nothing links it to a signature: a signature withdrawn or erased after the
    hand-in stays handed in, as it was."""

    petition = models.ForeignKey(
        Petition, on_delete=models.CASCADE, related_name="+", verbose_name=_("petition")
    )
    receipt_hash = models.CharField(_("receipt's SHA-256"), max_length=64)

    class Meta:
        verbose_name = _("receipt handed in")
        verbose_name_plural = _("receipts handed in")
        constraints = [
            # Also the index that finds a receipt and lists a petition's in order.
            models.UniqueConstraint(
                fields=["petition", "receipt_hash"], name="handed_in_receipt_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.receipt_hash


class ExportKind(models.TextChoices):
    ADMIN_CSV = "admin", _("CSV from the admin")
    COMMAND_CSV = "command", _("CSV from the command line")
    HAND_IN = "hand-in", _("hand-in package")
    PARTNER_CSV = "partner", _("a partner's consenting signers")


class StaffRecord(models.Model):
    """A record of something staff did with signers' data: who (kept when the account is
    deleted), what kind of thing, and when. Records are never edited or deleted in the admin."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    # Kept when the account is deleted, so that the record still says who it was.
    username = models.CharField(_("by"), max_length=150)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.username} · {self.created_at:%Y-%m-%d %H:%M}"


class ExportRecord(StaffRecord):
    """Who took signers' data out of the site, when, how much and with which filters."""

    Kind = ExportKind

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    petition = models.ForeignKey(
        Petition,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("petition"),
    )
    # The partner whose consenting signers were exported: only for that kind of export. (The
    # record stays if the partner is deleted.)
    partner = models.ForeignKey(
        "partners.Partner",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("partner organisation"),
    )
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    row_count = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    completed = models.BooleanField(_("completed"), default=False)
    created_at = models.DateTimeField(_("exported"), default=timezone.now)

    class Meta(StaffRecord.Meta):
        verbose_name = _("export record")
        verbose_name_plural = _("export records")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ExportKind.values), name="export_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(partner__isnull=True) | Q(kind=ExportKind.PARTNER_CSV),
                name="export_partner_only_for_partner_exports",
            ),
        ]


class PersonalDataAccessKind(models.TextChoices):
    LIST = "list", _("list of signatures with names")
    SEARCH = "search", _("search by email address")
    DETAIL = "detail", _("one signature's page")


class PersonalDataAccess(StaffRecord):
    """Who saw signers' names or email addresses in the admin, when, how, and whose: the
    signatures' ids, never the data itself, nor the email address searched for. (Exports are
    recorded as ExportRecord.)"""

    Kind = PersonalDataAccessKind

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    signature_ids = models.JSONField(_("signatures"), default=list, blank=True)
    created_at = models.DateTimeField(_("seen"), default=timezone.now)

    class Meta(StaffRecord.Meta):
        verbose_name = _("look at personal data")
        verbose_name_plural = _("looks at personal data")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=PersonalDataAccessKind.values),
                name="personal_data_access_kind_valid",
            ),
        ]
