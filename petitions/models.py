import contextlib
import logging
import random
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connections, models, router
from django.db.models import F, Q, Subquery, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django_countries import countries
from django_countries.fields import CountryField

from campaign.lib.fields import content_language_field
from campaign.lib.markdown import render_markdown

logger = logging.getLogger(__name__)

# Countries with fewer confirmed signatures are grouped in the public breakdown, so that no
# single signer can be singled out by their country.
SMALL_COUNTRY_THRESHOLD = 5


class PetitionQuerySet(models.QuerySet):
    def published(self):
        return self.filter(is_published=True)

    def featured(self) -> "Petition | None":
        """The petition the home and story pages invite people to sign: the newest open one."""
        now = timezone.now()
        published = self.published().order_by("-opens_at", "-id")
        return published.filter(opens_at__lte=now, closes_at__gt=now).first() or published.first()


@dataclass(frozen=True)
class CountryCount:
    code: str  # "" for the countries grouped together
    count: int

    @property
    def name(self) -> str:
        # Resolved when shown, in the reader's language (the stats are cached for everyone).
        return countries.name(self.code) if self.code else str(_("Other countries"))


@dataclass(frozen=True)
class PetitionStats:
    count: int
    by_country: list[CountryCount]
    goal: int

    @property
    def toward_goal(self) -> int:
        """The count as far as the progress bar goes: never past the goal."""
        return min(self.count, self.goal)

    @property
    def percent(self) -> int:
        return self.toward_goal * 100 // self.goal


class Petition(models.Model):
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
            "The language the petition is written in, so that it is read correctly on pages in "
            "other languages."
        )
    )
    goal = models.PositiveIntegerField(_("signature goal"))
    opens_at = models.DateTimeField(_("opens"), default=timezone.now)
    closes_at = models.DateTimeField(_("closes"))
    is_published = models.BooleanField(_("published"), default=False)
    # Set by the hand-in: the count delivered, and when it was frozen.
    handed_in_count = models.PositiveIntegerField(_("count handed in"), null=True, blank=True)
    handed_in_at = models.DateTimeField(_("handed in"), null=True, blank=True)
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

    @cached_property
    def intro_html(self) -> SafeString:
        return render_markdown(self.intro)

    @cached_property
    def demands_html(self) -> SafeString:
        return render_markdown(self.demands)

    # Counting -------------------------------------------------------------------------------

    @property
    def _stats_cache_key(self) -> str:
        return f"petition:{self.pk}:stats"

    def stats(self) -> PetitionStats:
        """Confirmed signatures, in total and by country, read from the tally (never a COUNT
        over the signatures) and cached for a few seconds."""
        key = self._stats_cache_key
        try:
            cached = cache.get(key)
        except Exception:  # the cache being down must not take the page with it
            cached = None
        if cached is not None:
            return cached
        stats = SignatureTally.objects.stats_for(self)
        with contextlib.suppress(Exception):
            cache.set(key, stats, settings.PETITION_STATS_CACHE_SECONDS)
        return stats

    def forget_stats(self) -> None:
        with contextlib.suppress(Exception):
            cache.delete(self._stats_cache_key)

    @property
    def confirmed_count(self) -> int:
        return self.stats().count


class SignatureQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=Signature.Status.PENDING)

    def confirmed(self):
        return self.filter(status=Signature.Status.CONFIRMED)

    def exportable(self):
        """Never fraudulent signatures: they are kept for audit, not handed in."""
        return self.exclude(status=Signature.Status.FRAUDULENT)

    def insert_unless_signed(self, signature: "Signature") -> int | None:
        """INSERT the signature unless its address has signed this petition already; return the
        new row's id, or None if one was there (or won a race). One statement, which needs no
        transaction, takes no savepoint inside one, and raises no error: a unique-constraint
        failure would make PostgreSQL write the signer's address and the whole row, names
        included, into its server log.

        Django's bulk_create(ignore_conflicts=True) does the same in a transaction of its own
        and cannot return the id; hence this small piece of SQL, built from the model's fields.
        """
        connection = connections[router.db_for_write(self.model)]
        # Not in Django's documented API: connection.ops.quote_name and _meta.pk.
        meta, quote = self.model._meta, connection.ops.quote_name
        fields = [field for field in meta.get_fields() if field.concrete and not field.primary_key]
        values = [
            field.get_db_prep_save(field.pre_save(signature, add=True), connection)
            for field in fields
        ]
        unique = (meta.get_field("petition").column, meta.get_field("email").column)
        sql = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING RETURNING {}".format(
            quote(meta.db_table),
            ", ".join(quote(field.column) for field in fields),
            ", ".join(["%s"] * len(fields)),
            ", ".join(quote(column) for column in unique),
            quote(meta.pk.column),
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            row = cursor.fetchone()
        return row[0] if row else None

    def lock_unerased(self, pk: int) -> "Signature | None":
        """The signature with its petition, row-locked until the transaction ends."""
        return (
            self.select_for_update()
            .select_related("petition")
            .filter(pk=pk, erased_at__isnull=True)
            .first()
        )


# Module-level so that the models' Meta constraints can name them.
class SignatureStatus(models.TextChoices):
    PENDING = "pending", _("waiting for confirmation")
    CONFIRMED = "confirmed", _("confirmed")
    FRAUDULENT = "fraudulent", _("fraudulent")


class SignatureSource(models.TextChoices):
    HOME = "home", _("home page")
    STORIES = "stories", _("stories page")
    STORY = "story", _("a story")
    PETITION = "petition", _("petition page")
    OTHER = "other", _("elsewhere")


class Signature(models.Model):
    Status = SignatureStatus
    Source = SignatureSource

    petition = models.ForeignKey(
        Petition, on_delete=models.PROTECT, related_name="signatures", verbose_name=_("petition")
    )
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    # Normalised (trimmed, lower-case); null once the signer's personal data is erased.
    email = models.EmailField(_("email"), max_length=254, null=True, blank=True)  # noqa: DJ001
    # (NULL, not "": erased rows must not collide in the unique constraint below.)
    country = CountryField(_("country"))
    wants_updates = models.BooleanField(_("wants campaign updates"), default=False)
    hide_name = models.BooleanField(_("leave name out of the hand-in"), default=False)
    source = models.CharField(
        _("signed from"), max_length=10, choices=Source.choices, default=Source.OTHER
    )
    source_story = models.SlugField(_("story signed from"), max_length=80, blank=True)
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

    objects = SignatureQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        permissions = [("export_signatures", _("Can export signatures and hand them in"))]
        constraints = [
            # One signature per person per petition, whatever the race.
            models.UniqueConstraint(
                fields=["petition", "email"], name="signature_unique_email_per_petition"
            ),
            models.CheckConstraint(
                condition=Q(email__isnull=True) | Q(email=models.functions.Lower("email")),
                name="signature_email_lower_case",
            ),
            models.CheckConstraint(
                condition=~Q(status="confirmed") | Q(confirmed_at__isnull=False),
                name="signature_confirmed_has_date",
            ),
            models.CheckConstraint(
                condition=Q(erased_at__isnull=False) | Q(email__isnull=False),
                name="signature_email_unless_erased",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SignatureStatus.values), name="signature_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(source__in=SignatureSource.values), name="signature_source_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["petition", "status", "country"], name="signature_counting"),
            models.Index(fields=["status", "created_at"], name="signature_status_created"),
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


class SignatureTallyQuerySet(models.QuerySet):
    def stats_for(self, petition: Petition) -> PetitionStats:
        rows = (
            self.filter(petition=petition)
            .values("country")
            .annotate(total=Sum("count"))
            .filter(total__gt=0)
            .order_by("-total", "country")
        )
        shown: list[CountryCount] = []
        grouped = 0
        for row in rows:
            if row["total"] >= SMALL_COUNTRY_THRESHOLD:
                shown.append(CountryCount(row["country"], row["total"]))
            else:
                grouped += row["total"]
        total = sum(c.count for c in shown) + grouped
        if grouped:
            shown.append(CountryCount("", grouped))
        return PetitionStats(count=total, by_country=shown, goal=petition.goal)


class SignatureTally(models.Model):
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
        if delta < 0:
            cls._take(petition_id=petition_id, country=country, amount=-delta)
            return
        shard = random.randrange(cls.SHARDS)
        matching = cls.objects.filter(petition_id=petition_id, country=country, shard=shard)
        if matching.update(count=F("count") + delta):
            return
        # The shard's first use: create it empty, unless another transaction just did (ON
        # CONFLICT DO NOTHING waits for that one and fails no statement, so nothing lands in
        # the database's error log), then add to it like any other.
        cls.objects.bulk_create(
            [cls(petition_id=petition_id, country=country, shard=shard, count=0)],
            ignore_conflicts=True,
        )
        matching.update(count=F("count") + delta)

    @classmethod
    def _take(cls, *, petition_id: int, country: str, amount: int) -> None:
        """Take amount from one shard that holds at least that much: a random one if it does,
        else the fullest. No shard may go below zero, and an UPDATE that would break the
        constraint is never sent (PostgreSQL would log it).

        Each UPDATE re-checks `count >= amount` on the row it changes, after waiting for any
        transaction that holds its lock, so two withdrawals can never both take a shard's last
        signature; the one that finds it gone tries the next fullest.
        """
        rows = cls.objects.filter(petition_id=petition_id, country=country)
        enough = rows.filter(count__gte=amount)
        take = {"count": F("count") - amount}
        if enough.filter(shard=random.randrange(cls.SHARDS)).update(**take):
            return
        while True:
            fullest = enough.order_by("-count", "shard").values("pk")[:1]
            if enough.filter(pk=Subquery(fullest)).update(**take):
                return
            if not enough.exists():
                break
        # The tally is already short of this signature, so it is wrong anyway: leave it rather
        # than fail the withdrawal or the moderation; recount_signatures repairs it.
        logger.warning(
            "Signature tally of petition %s (%s) has fewer than %s to take; run "
            "manage.py recount_signatures",
            petition_id,
            country,
            amount,
        )


class ExportKind(models.TextChoices):
    ADMIN_CSV = "admin", _("CSV from the admin")
    COMMAND_CSV = "command", _("CSV from the command line")
    HAND_IN = "hand-in", _("hand-in package")


class ExportRecord(models.Model):
    """Who took signers' data out of the site, when, how much and with which filters."""

    Kind = ExportKind

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
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
    petition = models.ForeignKey(
        Petition,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("petition"),
    )
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    row_count = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    completed = models.BooleanField(_("completed"), default=False)
    created_at = models.DateTimeField(_("exported"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("export record")
        verbose_name_plural = _("export records")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ExportKind.values), name="export_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.username} · {self.created_at:%Y-%m-%d %H:%M}"
