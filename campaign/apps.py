from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CampaignConfig(AppConfig):
    """The project itself: it wires the apps together, so that they depend on each other one
    way only (stories shows the petition through petitions' template tag; petitions imports
    nothing from stories)."""

    name = "campaign"
    verbose_name = "Campaign"
    default = True

    def ready(self) -> None:
        from django.core.signals import request_finished

        from campaign import (  # noqa: F401 - registers the project's deploy checks
            admin_site,  # connects the failed-login counter
            checks,
        )
        from campaign.lib import logs

        # Django's own lines about a request ("Not Found", errors) are written after the
        # middleware has returned: the request id is forgotten only once the response is done.
        request_finished.connect(logs.forget_request_id, dispatch_uid="campaign.request_id")
        from petitions import reports
        from stories.models import Story

        # The petitions' staff report names the stories signers came from.
        reports.register_story_headlines(
            lambda: dict(Story.objects.values_list("slug", "headline"))
        )


class CampaignAdminConfig(admin_apps.AdminConfig):
    """The admin with the campaign's site: a second factor, and sign-in attempts limited."""

    default = False
    default_site = "campaign.admin_site.CampaignAdminSite"
