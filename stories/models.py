import uuid
from pathlib import PurePath

from django.db import models
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from campaign.lib import images
from campaign.lib.fields import content_language_field
from campaign.lib.translated import TranslatedContent, written_in_original
from stories.validators import validate_portrait_extension, validate_portrait_file


def portrait_upload_to(instance: "Story", filename: str) -> str:
    # A random name: the uploaded file's own name may carry a person's real name.
    return f"portraits/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


# Cards show a portrait about 300 CSS px wide and the story page at most about 1100: 480 and 960
# serve cards on screens of one and two pixels per CSS px, 1600 the story page.
PORTRAIT_IMAGES = images.ImageSpec(max_side=1600, widths=(480, 960, 1600))


class PublishedQuerySet(models.QuerySet):
    def published(self):
        return self.filter(is_published=True, published_at__lte=timezone.now())

    def latest_change(self):
        return self.aggregate(latest=Max("updated_at"))["latest"]


class Story(TranslatedContent):
    country = CountryField(_("country"))
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    headline = models.CharField(_("headline"), max_length=200)
    defender_name = models.CharField(
        _("defender"),
        max_length=120,
        help_text=_(
            "The defender's name, or a pseudonym where naming them would put them at risk."
        ),
    )
    name_is_pseudonym = models.BooleanField(
        _("the name is a pseudonym"),
        default=False,
        help_text=_("Readers are told that the name has been changed for the person's safety."),
    )
    partner = models.ForeignKey(
        "partners.Partner",
        verbose_name=_("partner organisation"),
        related_name="stories",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        help_text=_("The organisation the story is told with."),
    )
    teaser = models.CharField(
        _("teaser"),
        max_length=300,
        help_text=_("One or two sentences for cards and link previews."),
    )
    body = models.TextField(
        _("body"),
        help_text=_(
            "Markdown: blank lines between paragraphs, **bold**, *italic*, [links](https://…), "
            "## for subheadings. HTML is not allowed and is shown as text."
        ),
    )
    language = content_language_field(
        _(
            "The language the story was written in. Its translations say so, and where one is "
            "missing readers see this original."
        )
    )
    portrait = images.ImageField(
        _("portrait"),
        upload_to=portrait_upload_to,
        width_field="portrait_width",
        height_field="portrait_height",
        blank=True,
        validators=[validate_portrait_extension, validate_portrait_file],
        help_text=_("JPEG, PNG or WebP, at most 5 MB. Optional."),
    )
    # Set when a portrait is stored (re-encoded): the size of the stored JPEG, from which its
    # WebP renditions follow. Empty for a portrait stored before portraits were re-encoded.
    portrait_width = models.PositiveIntegerField(
        _("portrait width"), null=True, blank=True, editable=False
    )
    portrait_height = models.PositiveIntegerField(
        _("portrait height"), null=True, blank=True, editable=False
    )
    portrait_alt = models.CharField(
        _("portrait description"),
        max_length=250,
        blank=True,
        help_text=_(
            "What the image shows, for people who cannot see it. Required with a portrait."
        ),
    )
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0, db_index=True)
    is_published = models.BooleanField(_("published"), default=False)
    published_at = models.DateTimeField(
        _("publication date"),
        null=True,
        blank=True,
        help_text=_(
            "Set automatically when the story is first published; a future date schedules it."
        ),
    )
    is_sample = models.BooleanField(
        _("sample text"),
        default=False,
        help_text=_("Shows readers a notice that this is placeholder text. Untick it once the real "
                    "story is in."),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = PublishedQuerySet.as_manager()

    class Meta:
        ordering = ["sort_order", "id"]
        verbose_name = _("story")
        verbose_name_plural = _("stories")
        constraints = [
            models.CheckConstraint(
                condition=Q(portrait="") | written_in_original("portrait_alt"),
                name="story_portrait_has_alt_text",
                violation_error_message=_("Describe the portrait for people who cannot see it."),
            ),
            models.CheckConstraint(
                condition=Q(is_published=False) | Q(published_at__isnull=False),
                name="story_published_has_date",
            ),
            models.CheckConstraint(
                condition=Q(portrait_width__isnull=True, portrait_height__isnull=True)
                | (~Q(portrait="") & Q(portrait_width__gt=0, portrait_height__gt=0)),
                name="story_portrait_size_with_portrait",
            ),
        ]

    def __str__(self) -> str:
        return self.headline

    def save(self, *args, **kwargs) -> None:
        if self.is_published and self.published_at is None:
            self.published_at = timezone.now()
        with PORTRAIT_IMAGES.saving(self, "portrait", kwargs.get("update_fields")):
            super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("stories:detail", kwargs={"slug": self.slug})

    @property
    def is_live(self) -> bool:
        return bool(self.is_published and self.published_at and self.published_at <= timezone.now())

    @cached_property
    def portrait_picture(self) -> images.Picture | None:
        """The portrait's JPEG, its size and its WebP renditions, for _picture.html."""
        return PORTRAIT_IMAGES.picture(self.portrait)

    @property
    def body_html(self) -> SafeString:
        return self.markdown("body")

    def neighbours(self) -> tuple["Story | None", "Story | None"]:
        """The published stories before and after this one, in reading order."""
        published = Story.objects.published()
        before = Q(sort_order__lt=self.sort_order) | Q(sort_order=self.sort_order, id__lt=self.id)
        after = Q(sort_order__gt=self.sort_order) | Q(sort_order=self.sort_order, id__gt=self.id)
        previous = published.filter(before).order_by("-sort_order", "-id").first()
        following = published.filter(after).order_by("sort_order", "id").first()
        return previous, following


# Module-level so that Milestone's Meta constraints can name it.
class MilestonePrecision(models.TextChoices):
    DAY = "day", _("day")
    MONTH = "month", _("month")
    YEAR = "year", _("year")


class Milestone(TranslatedContent):
    Precision = MilestonePrecision

    key = models.SlugField(
        _("key"), max_length=80, unique=True, help_text=_("A stable name for this milestone.")
    )
    date = models.DateField(_("date"))
    precision = models.CharField(
        _("date shown as"), max_length=5, choices=Precision.choices, default=Precision.DAY
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), help_text=_("Markdown, as in stories."))
    language = content_language_field(
        _("The language the milestone was written in; shown where a translation is missing.")
    )
    is_published = models.BooleanField(_("published"), default=True)
    published_at = models.DateTimeField(_("publication date"), default=timezone.now)
    is_sample = models.BooleanField(_("sample text"), default=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = PublishedQuerySet.as_manager()

    class Meta:
        ordering = ["date", "id"]
        verbose_name = _("milestone")
        verbose_name_plural = _("milestones")
        constraints = [
            models.CheckConstraint(
                condition=Q(precision__in=MilestonePrecision.values),
                name="milestone_precision_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def description_html(self) -> SafeString:
        return self.markdown("description")

    @property
    def date_format(self) -> str:
        return {"day": "DATE_FORMAT", "month": "YEAR_MONTH_FORMAT", "year": "Y"}[self.precision]

    @property
    def iso_date(self) -> str:
        iso = self.date.isoformat()
        return {"day": iso, "month": iso[:7], "year": iso[:4]}[self.precision]


class PageKey(models.TextChoices):
    ABOUT = "about", _("About the campaign")
    PRIVACY = "privacy", _("Privacy")


class PageQuerySet(models.QuerySet):
    def shown(self, key: str) -> "Page | None":
        return self.filter(key=key, is_published=True).first()


class Page(TranslatedContent):
    """The about or privacy page as staff write it, per language. Until one is published the
    site shows its built-in text for that page, translated with the interface."""

    Key = PageKey

    key = models.CharField(
        _("page"),
        max_length=20,
        choices=Key.choices,
        unique=True,
        help_text=_(
            "The privacy page describes what the site does with signers' data: if you rewrite "
            "it, keep every fact of the built-in text."
        ),
    )
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), help_text=_("Markdown, as in stories."))
    language = content_language_field(
        _("The language the page was written in; shown where a translation is missing.")
    )
    is_published = models.BooleanField(
        _("published"),
        default=False,
        help_text=_("Until then readers see the site's built-in text for this page."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = PageQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        verbose_name = _("page")
        verbose_name_plural = _("pages")
        constraints = [
            models.CheckConstraint(condition=Q(key__in=PageKey.values), name="page_key_valid"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def body_html(self) -> SafeString:
        return self.markdown("body")
