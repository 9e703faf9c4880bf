import uuid
from pathlib import PurePath
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_countries.fields import CountryField

from campaign.lib import images
from campaign.lib.fields import content_language_field
from campaign.lib.pagecache import TimedCache
from campaign.lib.translated import TranslatedContent

# Logos are shown small (about 160 CSS px wide): 160 and 320 for one and two pixels per px.
LOGO_IMAGES = images.ImageSpec(max_side=640, widths=(160, 320))


def logo_upload_to(instance: "Partner", filename: str) -> str:
    return f"logos/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


def validate_logo_file(file) -> None:
    """Logos: at most 2 MB (see images.validate_upload)."""
    images.validate_upload(file, max_megabytes=2)


def parse_origins(text: str) -> list[str]:
    """The origins in a text of one per line ("https://partner.example"), normalised; raises
    ValidationError naming the first line that is not an origin."""
    origins = []
    for line in text.split():
        parts = urlsplit(line.strip())
        if (
            parts.scheme not in ("https", "http")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username
        ):
            raise ValidationError(
                _("“%(line)s” is not an origin: write the scheme and host only, as in "
                  "https://www.partner.example"),
                params={"line": line[:100]},
                code="invalid_origin",
            )  # fmt: skip
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return origins


def validate_origins(text: str) -> None:
    parse_origins(text)


class PartnerQuerySet(models.QuerySet):
    def public(self):
        return self.filter(is_public=True)


class Partner(TranslatedContent):
    """An organisation of the coalition that runs the campaign."""

    name = models.CharField(pgettext_lazy("organisation", "name"), max_length=200, unique=True)
    short_name = models.CharField(
        _("short name"),
        max_length=40,
        blank=True,
        help_text=_("As readers know it (“ZMINA”); the full name is used where this is empty."),
    )
    slug = models.SlugField(
        _("slug"),
        max_length=60,
        unique=True,
        help_text=_("Names the partner in its links: /petitions/…/?via=this-slug."),
    )
    country = CountryField(_("country"))
    website = models.URLField(_("website"), blank=True)
    logo = images.ImageField(
        _("logo"),
        upload_to=logo_upload_to,
        width_field="logo_width",
        height_field="logo_height",
        blank=True,
        validators=[FileExtensionValidator(["jpg", "jpeg", "png", "webp"]), validate_logo_file],
        help_text=_("JPEG, PNG or WebP, at most 2 MB; stored re-encoded, without metadata."),
    )
    logo_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    logo_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    logo_alt = models.CharField(
        _("logo description"),
        max_length=200,
        blank=True,
        help_text=_("Usually the organisation's name as the logo shows it. Required with a logo."),
    )
    description = models.TextField(
        _("short description"), blank=True, help_text=_("One or two sentences.")
    )
    language = content_language_field(
        _("The language the description was written in; shown where a translation is missing.")
    )
    frame_origins = models.TextField(
        _("sites that may show the petition widget"),
        blank=True,
        validators=[validate_origins],
        help_text=_("One origin per line, such as https://www.partner.example."),
    )
    is_public = models.BooleanField(_("shown on the coalition page"), default=True)
    is_lead = models.BooleanField(_("leads the campaign"), default=False)
    shows_count = models.BooleanField(
        _("show the signatures it brought"),
        default=False,
        help_text=_(
            "On the coalition page, rounded like the count by country and only from the same "
            "minimum, so that no single signer can be singled out."
        ),
    )
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    # Staff only: never on a public page.
    contact_name = models.CharField(_("contact person"), max_length=120, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = PartnerQuerySet.as_manager()

    class Meta:
        ordering = ["-is_lead", "sort_order", "name"]
        verbose_name = _("partner organisation")
        verbose_name_plural = _("partner organisations")
        constraints = [
            models.CheckConstraint(
                condition=Q(logo="") | ~Q(logo_alt=""),
                name="partner_logo_has_alt_text",
                violation_error_message=_("Describe the logo for people who cannot see it."),
            ),
            models.UniqueConstraint(
                fields=["is_lead"], condition=Q(is_lead=True), name="partner_one_lead"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        with LOGO_IMAGES.saving(self, "logo", kwargs.get("update_fields")):
            super().save(*args, **kwargs)
        _by_slug.clear()

    def get_absolute_url(self) -> str:
        return reverse("pages:coalition") + f"#{self.slug}"

    @property
    def display_name(self) -> str:
        return self.short_name or self.name

    @property
    def origins(self) -> list[str]:
        return parse_origins(self.frame_origins)

    @cached_property
    def logo_picture(self) -> images.Picture | None:
        return LOGO_IMAGES.picture(self.logo)


# Every partner by slug, kept a minute per process: signing and the petition page ask the
# database nothing for a ?via= link (there are a handful of partners; a new one counts within
# the minute, at once in the process that saved it; while the database is away, those last read).
_by_slug = TimedCache(seconds=60)


def partner_for(slug: str) -> "Partner | None":
    """The partner a link names (?via=slug), or None."""
    if not slug:
        return None
    partners = _by_slug.read("all", lambda: {p.slug: p for p in Partner.objects.all()})
    return partners.get(slug)


class PartnerStaff(models.Model):
    """A staff account that works for a partner organisation: it sees that partner's figures in
    the admin and nothing else of the signatures, and, as the partner's data officer, may also
    export the signers who agreed to hear from that partner. partners.access decides from it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="partner_roles",
        verbose_name=_("user"),
    )
    partner = models.ForeignKey(
        Partner,
        on_delete=models.CASCADE,
        related_name="staff",
        verbose_name=_("partner organisation"),
    )
    is_data_officer = models.BooleanField(
        _("data officer for this partner"),
        default=False,
        help_text=_(
            "May see and export the names and email addresses of the signers who agreed to "
            "hear from this partner."
        ),
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner staff member")
        verbose_name_plural = _("partner staff")
        constraints = [
            models.UniqueConstraint(fields=["user", "partner"], name="partner_staff_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.partner}"
