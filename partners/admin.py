from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaign.lib.translated import TranslatedContentAdmin
from partners.models import Partner


@admin.register(Partner)
class PartnerAdmin(TranslatedContentAdmin):
    list_display = ["name", "short_name", "country", "is_lead", "is_public", "sort_order"]
    list_editable = ["is_public", "sort_order"]
    list_filter = ["is_public", "country"]
    search_fields = ["name", "short_name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "short_name", "slug", "country", "website", "is_lead"]}),
        (_("On the coalition page"), {"fields": ["language", "description", "logo", "logo_alt",
                                                   "is_public", "shows_count",
                                                   "sort_order"]}),
        (_("Petition widget"), {"fields": ["frame_origins"]}),
        (_("Contact (staff only)"), {"fields": ["contact_name", "contact_email"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]  # fmt: skip
