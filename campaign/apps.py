from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CampaignConfig(AppConfig):
    name = "campaign"
    verbose_name = "Campaign"
    default = True

    def ready(self) -> None:
        from campaign import admin_site  # noqa: F401 - connects the failed-login counter


class CampaignAdminConfig(admin_apps.AdminConfig):
    """The admin with the campaign's site: sign-in attempts limited."""

    default = False
    default_site = "campaign.admin_site.CampaignAdminSite"
