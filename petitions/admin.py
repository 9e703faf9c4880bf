import copy

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_countries import countries

from petitions import exports, services
from petitions.models import ExportRecord, Petition, Signature, SignatureTally
from petitions.reports import petition_report

EXPORT_PERMISSION = "petitions.export_signatures"


def can_export(request: HttpRequest) -> bool:
    return request.user.has_perm(EXPORT_PERMISSION)


@admin.register(Petition)
class PetitionAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "state",
        "confirmed",
        "pending",
        "goal",
        "closes_at",
        "handed_in_count",
    ]
    list_filter = ["is_published"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["handed_in_count", "handed_in_at", "created_at", "updated_at"]
    actions = ["hand_in"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "addressees", "language"]}),
        (_("Text"), {"fields": ["intro", "demands"]}),
        (_("Signing"), {"fields": ["is_published", "opens_at", "closes_at", "goal"]}),
        (
            _("Hand-in"),
            {"fields": ["handed_in_count", "handed_in_at", "created_at", "updated_at"]},
        ),
    ]

    def get_queryset(self, request: HttpRequest):
        tally = (
            SignatureTally.objects.filter(petition=OuterRef("pk"))
            .values("petition")
            .annotate(total=Sum("count"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                confirmed_total=Coalesce(Subquery(tally, output_field=IntegerField()), 0),
                pending_total=Count(
                    "signatures", filter=Q(signatures__status=Signature.Status.PENDING)
                ),
            )
        )

    @admin.display(description=_("state"))
    def state(self, petition: Petition) -> str:
        if not petition.is_published:
            return str(_("unpublished"))
        if not petition.has_opened:
            return str(_("not open yet"))
        return str(_("closed")) if petition.has_closed else str(_("open"))

    @admin.display(description=_("confirmed"), ordering="confirmed_total")
    def confirmed(self, petition: Petition) -> int:
        return petition.confirmed_total

    @admin.display(description=_("pending"), ordering="pending_total")
    def pending(self, petition: Petition) -> int:
        return petition.pending_total

    def change_view(self, request, object_id, form_url="", extra_context=None):
        petition = self.get_object(request, object_id)
        if petition is not None:
            extra_context = {**(extra_context or {}), "report": petition_report(petition)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not can_export(request):
            actions.pop("hand_in", None)
        return actions

    @admin.action(description=_("Hand in: download the signatures package and freeze the count"))
    def hand_in(self, request: HttpRequest, queryset) -> HttpResponse | None:
        if not can_export(request):
            raise PermissionDenied
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one petition to hand in."), messages.ERROR)
            return None
        package = services.hand_in(petition=queryset.get(), user=request.user)
        return FileResponse(package.file, as_attachment=True, filename=package.filename)


class CountryFilter(admin.SimpleListFilter):
    """Only the countries that have signatures, by name (not all 250 of them)."""

    title = _("country")
    parameter_name = "country__exact"

    def lookups(self, request, model_admin):
        codes = Signature.objects.order_by("country").values_list("country", flat=True).distinct()
        return sorted(((code, countries.name(code)) for code in codes), key=lambda c: c[1])

    def queryset(self, request, queryset):
        return queryset.filter(country=self.value()) if self.value() else queryset


class ConsentFilter(admin.SimpleListFilter):
    title = _("campaign updates")
    parameter_name = "updates"

    def lookups(self, request, model_admin):
        return [("yes", _("wants updates")), ("no", _("no updates"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(wants_updates=self.value() == "yes")
        return queryset


@admin.register(Signature)
class SignatureAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "country",
        "status",
        "confirmed_at",
        "wants_updates",
        "source_label",
        "petition",
    ]
    list_select_related = ["petition"]
    list_filter = [
        "petition",
        "status",
        CountryFilter,
        ConsentFilter,
        "hide_name",
        ("confirmed_at", admin.DateFieldListFilter),
    ]
    search_fields = ["first_name", "last_name", "email"]
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False
    actions = ["mark_fraudulent", "erase", "resend_confirmation"]
    readonly_fields = [
        "petition", "first_name", "last_name", "email", "country", "wants_updates",
        "hide_name", "source", "source_story", "language", "status", "created_at",
        "confirmed_at", "erased_at",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Signatures leave through withdrawal, erasure or the purge, never a bare delete.
        return False

    @admin.display(description=_("signed from"), ordering="source")
    def source_label(self, signature: Signature) -> str:
        return signature.source_label

    @admin.action(
        description=_("Mark as fraudulent (out of the count and exports)"), permissions=["change"]
    )
    def mark_fraudulent(self, request: HttpRequest, queryset) -> None:
        changed = services.mark_fraudulent(queryset)
        self.message_user(
            request,
            ngettext(
                "%(n)d signature marked as fraudulent.",
                "%(n)d signatures marked as fraudulent.",
                changed,
            )
            % {"n": changed},
        )

    @admin.action(description=_("Erase personal data"), permissions=["change"])
    def erase(self, request: HttpRequest, queryset) -> None:
        erased = services.erase_signatures(queryset)
        self.message_user(
            request,
            ngettext("%(n)d signature erased.", "%(n)d signatures erased.", erased) % {"n": erased},
        )

    @admin.action(
        description=_("Resend the confirmation email (pending only)"), permissions=["change"]
    )
    def resend_confirmation(self, request: HttpRequest, queryset) -> None:
        sent = services.resend_confirmations(queryset)
        self.message_user(
            request,
            ngettext(
                "Confirmation email queued for %(n)d pending signature.",
                "Confirmation emails queued for %(n)d pending signatures.",
                sent,
            )
            % {"n": sent},
        )

    # The export ---------------------------------------------------------------------------

    def get_urls(self):
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_view),
            name="petitions_signature_export",
        )
        return [export, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "can_export": can_export(request)}
        return super().changelist_view(request, extra_context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Every signature matching the list's filters and search, not just the page shown;
        confirmed only unless include=all. Fraudulent signatures never leave."""
        if not (can_export(request) and self.has_view_permission(request)):
            raise PermissionDenied
        # The list's own filters and search, read by a ChangeList from a copy of the request
        # whose query string leaves out the export's own parameter (the list would refuse it).
        filters = request.GET.copy()
        include_pending = filters.pop("include", [""])[0] == "all"
        list_request = copy.copy(request)
        list_request.GET = filters
        try:
            changelist = self.get_changelist_instance(list_request)
        except IncorrectLookupParameters:
            return redirect(reverse("admin:petitions_signature_changelist") + "?e=1")
        queryset = exports.signatures_for_export(
            changelist.get_queryset(list_request), include_pending=include_pending
        )
        petition_id = filters.get("petition__id__exact")
        petition = Petition.objects.filter(pk=petition_id).first() if petition_id else None
        record = exports.start_record(
            kind=ExportRecord.Kind.ADMIN_CSV,
            user=request.user,
            petition=petition,
            filters={**dict(filters.lists()), "include": include_pending},
        )
        response = StreamingHttpResponse(
            exports.iter_csv(exports.export_rows(queryset), record),
            content_type="text/csv; charset=utf-8",
        )
        filename = exports.export_filename(petition, timezone.now())
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


@admin.register(ExportRecord)
class ExportRecordAdmin(admin.ModelAdmin):
    """Who exported what: visible to superusers only, and nobody can change it."""

    list_display = ["created_at", "kind", "username", "petition", "row_count", "completed"]
    list_filter = ["kind", "completed", "petition"]
    list_select_related = ["petition"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "kind", "user", "username", "petition", "filters", "row_count", "completed",
        "created_at",
    ]  # fmt: skip

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
