from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.urls import reverse

from petitions.models import Petition
from stories.models import Milestone, Story


class CampaignSitemap(Sitemap):
    """Sitemap entries in both languages, addressed by SITE_URL rather than the request host."""

    i18n = True
    alternates = True
    x_default = True

    def get_urls(self, page=1, site=None, protocol=None):
        parts = urlsplit(settings.SITE_URL)

        class _Site:
            domain = parts.netloc

        return super().get_urls(page=page, site=_Site, protocol=parts.scheme)


class PageSitemap(CampaignSitemap):
    changefreq = "monthly"

    def items(self) -> list[str]:
        return [
            "stories:home",
            "stories:list",
            "stories:milestones",
            "pages:about",
            "pages:privacy",
            "pages:coalition",
        ]

    def location(self, item: str) -> str:
        return reverse(item)

    def lastmod(self, item: str):
        if item in ("stories:home", "stories:list"):
            return Story.objects.published().latest_change()
        if item == "stories:milestones":
            return Milestone.objects.published().latest_change()
        return None


class StorySitemap(CampaignSitemap):
    changefreq = "weekly"
    priority = 0.8

    def items(self):
        return Story.objects.published()

    def lastmod(self, story: Story):
        return story.updated_at


class PetitionSitemap(CampaignSitemap):
    changefreq = "daily"
    priority = 0.9

    def items(self):
        return Petition.objects.published()

    def lastmod(self, petition: Petition):
        return petition.updated_at


SITEMAPS = {"pages": PageSitemap, "stories": StorySitemap, "petitions": PetitionSitemap}
