from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext_lazy as _

from stories.models import Story


class StoryFeed(Feed):
    feed_type = Atom1Feed
    title = _("#BringHumanRightsHome: stories of human-rights defenders")
    subtitle = _("Eight people from eight countries who stood up for their rights, and ours.")

    def link(self) -> str:
        return settings.SITE_URL + reverse("stories:list")

    def feed_url(self) -> str:
        return settings.SITE_URL + reverse("stories:feed")

    def items(self):
        return Story.objects.published().order_by("-published_at", "-id")

    def item_title(self, story: Story) -> str:
        return story.headline

    def item_description(self, story: Story) -> str:
        return story.teaser

    def item_link(self, story: Story) -> str:
        return settings.SITE_URL + story.get_absolute_url()

    def item_pubdate(self, story: Story):
        return story.published_at

    def item_updateddate(self, story: Story):
        return story.updated_at

    def item_categories(self, story: Story) -> list[str]:
        return [str(story.country.name)]
