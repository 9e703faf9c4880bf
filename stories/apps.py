from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StoriesConfig(AppConfig):
    name = "stories"
    verbose_name = _("Stories")

    def ready(self) -> None:
        # The petitions' staff report names the stories signers came from; stories depends on
        # petitions, never the other way round, so it tells the report how.
        from petitions import reports
        from stories.models import Story

        reports.register_story_headlines(
            lambda: dict(Story.objects.values_list("slug", "headline"))
        )
