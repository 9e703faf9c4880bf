from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from campaign.lib.translated import TranslatedContentAdmin
from partners.models import Partner, PartnerStaff


@admin.register(PartnerStaff)
class PartnerStaffAdmin(admin.ModelAdmin):
    """Who works for which partner: superusers only grant it, since it opens the partner's
    figures, and as its data officer the names and addresses of the signers who agreed to hear
    from it (partners.access)."""

    list_display = ["user", "partner", "is_data_officer", "created_at"]
    list_filter = ["partner", "is_data_officer"]
    list_select_related = ["user", "partner"]
    search_fields = ["user__username", "partner__name", "partner__short_name"]
    fields = ["user", "partner", "is_data_officer", "created_at"]
    readonly_fields = ["created_at"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # Only staff accounts can sign in to the admin, where the figures are.
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser


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
