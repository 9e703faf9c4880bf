from django.contrib import admin
from django.db import models
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from campaign.lib.translated import TranslatedContentAdmin
from stories.models import Milestone, Page, Story


@admin.register(Story)
class StoryAdmin(TranslatedContentAdmin):
    list_display = [
        "headline",
        "country",
        "partner",
        "sort_order",
        "is_published",
        "published_at",
        "is_sample",
        "translations_missing",
        "view_on_site_link",
    ]
    list_display_links = ["headline"]
    list_editable = ["sort_order", "is_published"]
    list_filter = ["is_published", "is_sample", "country"]
    list_select_related = ["partner"]
    search_fields = ["headline", "defender_name", "partner__name", "teaser", "body"]
    prepopulated_fields = {"slug": ["headline"]}
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["headline", "slug", "country", "defender_name", "name_is_pseudonym"]}),
        (_("Partner"), {"fields": ["partner"]}),
        (_("Text"), {"fields": ["language", "teaser", "body", "is_sample"]}),
        (_("Portrait"), {"fields": ["portrait", "portrait_alt"]}),
        (
            _("Publication"),
            {"fields": ["is_published", "published_at", "sort_order", "created_at", "updated_at"]},
        ),
    ]

    @admin.display(description=_("on the site"))
    def view_on_site_link(self, story: Story) -> str:
        label = _("view") if story.is_live else _("preview")
        return format_html('<a href="{}">{}</a>', story.get_absolute_url(), label)


@admin.register(Milestone)
class MilestoneAdmin(TranslatedContentAdmin):
    list_display = [
        "title",
        "date",
        "precision",
        "is_published",
        "is_sample",
        "translations_missing",
    ]
    list_filter = ["is_published", "is_sample"]
    search_fields = ["title", "description"]
    date_hierarchy = "date"


@admin.register(Page)
class PageAdmin(TranslatedContentAdmin):
    list_display = ["title", "key", "is_published", "translations_missing", "updated_at"]
    fields = ["key", "language", "title", "body", "is_published", "updated_at"]
    readonly_fields = ["updated_at"]
