import copy
import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.admin.options import IncorrectLookupParameters, get_content_type_for_model
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from django_countries import countries

from campaign.lib.translated import TranslatedContentAdmin
from petitions import exports, services
from petitions.access import (
    can_erase,
    can_export,
    can_see_personal_data,
    can_see_signatures,
    is_email_search,
    record_look,
    search_signatures,
    signature_label,
)
from petitions.models import (
    ExportRecord,
    HighRiskCountry,
    PersonalDataAccess,
    Petition,
    Signature,
    SignatureTally,
)
from petitions.reports import petition_report


def _context(response: HttpResponse) -> dict:
    """The context of an admin page about to be rendered; empty for redirects and errors."""
    return getattr(response, "context_data", None) or {}


class DeclaredFiltersChangeList(ChangeList):
    def get_filters(self, request):
        specs, has_filters, remaining, may_have_duplicates, has_active = super().get_filters(
            request
        )
        # What the declared filters did not take, except the range the date hierarchy made
        # from its own year, month and day.
        hierarchy = self.date_hierarchy
        if hierarchy and f"{hierarchy}__year" in self.filter_params:
            undeclared = set(remaining) - {f"{hierarchy}__gte", f"{hierarchy}__lt"}
        else:
            undeclared = set(remaining)
        if undeclared:
            # (Without the names: they are typed by whoever sent the URL.)
            raise DisallowedModelAdminLookup("Filtering by undeclared parameters not allowed")
        return specs, has_filters, remaining, may_have_duplicates, has_active


class DeclaredFiltersOnly:
    """The list's URL takes the declared filters, the date hierarchy, search, ordering and
    pages, and nothing else (a 400 otherwise). Django would filter by any lookup on the model's
    own fields typed into it, ?email__startswith=a among them, a hundred rows at a time.

    lookup_allowed turns away what no declared filter reads, as Django asks before filtering;
    the list then turns away whatever the declared filters did not take (petition__ passes
    the first test, petition__signatures__email the second does not)."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        prefixes = [self.date_hierarchy] if self.date_hierarchy else []
        for item in self.get_list_filter(request):
            if isinstance(item, type) and issubclass(item, admin.SimpleListFilter):
                if lookup == item.parameter_name:
                    return True
            else:
                prefixes.append(item[0] if isinstance(item, list | tuple) else item)
        return any(lookup.startswith(f"{prefix}__") for prefix in prefixes)

    def get_changelist(self, request: HttpRequest, **kwargs):
        return DeclaredFiltersChangeList


class AuditRecordAdmin(DeclaredFiltersOnly, admin.ModelAdmin):
    """Records of who took or saw signers' data: superusers see them, and nobody changes them."""

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


class HandInForm(helpers.ActionForm):
    """Beside the action menu: the language of the hand-in's printable summary."""

    summary_language = forms.ChoiceField(
        label=_("Hand-in summary in"),
        choices=settings.LANGUAGES,
        initial=settings.LANGUAGE_CODE,
        required=False,
    )


@admin.register(Petition)
class PetitionAdmin(DeclaredFiltersOnly, TranslatedContentAdmin):
    list_display = [
        "title",
        "state",
        "confirmed",
        "pending",
        "goal",
        "closes_at",
        "handed_in_count",
        "translations_missing",
    ]
    # What is counted from the signatures, for staff who may see them (not editors).
    counts = ["confirmed", "pending", "handed_in_count"]
    list_filter = ["is_published"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["handed_in_count", "handed_in_at", "created_at", "updated_at"]
    # Set by whoever may create petitions; editors change a petition's text only.
    setup_fields = ["slug", "is_published", "opens_at", "closes_at", "goal"]
    actions = ["hand_in"]
    action_form = HandInForm
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
        queryset = super().get_queryset(request)
        if not can_see_signatures(request.user):
            return queryset
        tally = (
            SignatureTally.objects.filter(petition=OuterRef("pk"))
            .values("petition")
            .annotate(total=Sum("count"))
            .values("total")
        )
        return queryset.annotate(
            confirmed_total=Coalesce(Subquery(tally, output_field=IntegerField()), 0),
            pending_total=Count(
                "signatures", filter=Q(signatures__status=Signature.Status.PENDING)
            ),
        )

    def get_list_display(self, request: HttpRequest):
        if can_see_signatures(request.user):
            return self.list_display
        return [column for column in self.list_display if column not in self.counts]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if self.has_add_permission(request):
            return self.readonly_fields
        return [*self.setup_fields, *self.readonly_fields]

    def get_prepopulated_fields(self, request: HttpRequest, obj=None):
        return self.prepopulated_fields if self.has_add_permission(request) else {}

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

    def get_object(self, request: HttpRequest, object_id: str, from_field=None):
        """ModelAdmin.get_object without the list's counts (get_queryset's annotations): one
        petition's pages show none, and the pending count is a COUNT over all the petition's
        signatures, most of the change page's time with a million (bench/DASHBOARD.md)."""
        queryset = super().get_queryset(request)
        field = self.opts.pk if from_field is None else self.opts.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (self.model.DoesNotExist, ValidationError, ValueError):
            return None

    def change_view(self, request, object_id, form_url="", extra_context=None):
        petition = self.get_object(request, object_id)
        if petition is not None and can_see_signatures(request.user):
            # Read from the rollup only, never from the signatures (petitions.reports).
            extra_context = {**(extra_context or {}), "report": petition_report(petition)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not can_export(request.user):
            actions.pop("hand_in", None)
        return actions

    @admin.action(description=_("Hand in: download the signatures package and freeze the count"))
    def hand_in(self, request: HttpRequest, queryset) -> HttpResponse | None:
        if not can_export(request.user):
            raise PermissionDenied
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one petition to hand in."), messages.ERROR)
            return None
        # HandInForm's field, read alone: the form's action field is checked by the admin.
        language = request.POST.get("summary_language", "")
        if language not in dict(settings.LANGUAGES):
            language = settings.LANGUAGE_CODE
        package = services.hand_in(petition=queryset.get(), user=request.user, language=language)
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
class SignatureAdmin(DeclaredFiltersOnly, admin.ModelAdmin):
    """Signatures by number for all staff; signers' names and addresses only for staff who may
    see personal data (petitions.access), each look recorded (PersonalDataAccess)."""

    list_display = [
        "reference",
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
    # Shows the search box; get_search_results decides what a search finds.
    search_fields = ["id"]
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False
    actions = ["mark_fraudulent", "erase", "resend_confirmation"]
    # Everything is read-only: signatures change through the actions only.
    fields = [
        "petition", "first_name", "last_name", "address", "country", "wants_updates",
        "hide_name", "source", "source_story", "language", "status", "created_at",
        "confirmed_at", "erased_at",
    ]  # fmt: skip
    personal_fields = ["first_name", "last_name", "address"]

    def get_list_display(self, request: HttpRequest):
        if can_see_personal_data(request.user):
            return ["reference", "signer_name", *self.list_display[1:]]
        return self.list_display

    def get_fields(self, request: HttpRequest, obj=None):
        if can_see_personal_data(request.user):
            return self.fields
        return [field for field in self.fields if field not in self.personal_fields]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.get_fields(request, obj)

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        return search_signatures(queryset, search_term, user=request.user), False

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        changelist.search_help_text = (
            _("Search by signature number, or by a complete email address.")
            if can_see_personal_data(request.user)
            else _("Search by signature number.")
        )
        return changelist

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # The actions change signatures; a signature's own page only shows it.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Signatures leave through withdrawal, erasure or the purge, never a bare delete.
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return can_erase(request.user)

    @admin.display(description=_("signature"), ordering="id")
    def reference(self, signature: Signature) -> str:
        return signature_label(signature)

    @admin.display(description=_("name"))
    def signer_name(self, signature: Signature) -> str:
        return f"{signature.first_name} {signature.last_name}".strip()

    @admin.display(description=_("email"))
    def address(self, signature: Signature) -> str:
        """The address (opened from its seal), or why there is none."""
        if signature.email:
            return signature.email
        if signature.erased_at:
            return self.get_empty_value_display()
        return str(_("Not kept: forgotten once confirmed, as the signer asked for no updates"))

    @admin.display(description=_("signed from"), ordering="source")
    def source_label(self, signature: Signature) -> str:
        return signature.source_label

    def action_checkbox(self, signature: Signature) -> str:
        # Django labels the checkbox with str(signature): the signer's name.
        label = format_html(_("Select this object for an action - {}"), signature_label(signature))
        checkbox = forms.CheckboxInput({"class": "action-select", "aria-label": label})
        return checkbox.render(helpers.ACTION_CHECKBOX_NAME, str(signature.pk))

    # The pages ------------------------------------------------------------------------------

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "can_export": can_export(request.user)}
        response = super().changelist_view(request, extra_context)
        changelist = _context(response).get("cl")
        if changelist is not None and can_see_personal_data(request.user):
            # The rows shown, read here once; the page reuses them.
            shown = [signature.pk for signature in changelist.result_list]
            if is_email_search(changelist.query):
                # Also when nothing is found: that answers whether someone signed.
                record_look(
                    user=request.user, kind=PersonalDataAccess.Kind.SEARCH, signature_ids=shown
                )
            elif shown:
                record_look(
                    user=request.user, kind=PersonalDataAccess.Kind.LIST, signature_ids=shown
                )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        context = _context(response)
        signature = context.get("original")
        if signature is not None:
            context["subtitle"] = context["signature_label"] = signature_label(signature)
            if can_see_personal_data(request.user):
                record_look(
                    user=request.user,
                    kind=PersonalDataAccess.Kind.DETAIL,
                    signature_ids=[signature.pk],
                )
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        context = _context(response)
        signature = context.get("object")
        if signature is not None:
            context["signature_label"] = signature_label(signature)
            context["title"] = _("Change history: %s") % context["signature_label"]
        return response

    # The admin's log ("recent actions", shown to all staff) -----------------------------------
    # Django names the object in it by str(signature), the signer's name; here by its number.

    def _log(self, request: HttpRequest, signatures, action_flag: int, message="") -> list:
        content_type = get_content_type_for_model(Signature)
        if isinstance(message, list):
            message = json.dumps(message)
        return LogEntry.objects.bulk_create(
            LogEntry(
                user_id=request.user.pk,
                content_type_id=content_type.pk,
                object_id=str(signature.pk),
                object_repr=signature_label(signature),
                action_flag=action_flag,
                change_message=message,
            )
            for signature in signatures
        )

    def log_addition(self, request: HttpRequest, obj, message):
        return self._log(request, [obj], ADDITION, message)[0]

    def log_change(self, request: HttpRequest, obj, message):
        return self._log(request, [obj], CHANGE, message)[0]

    def log_deletions(self, request: HttpRequest, queryset):
        return self._log(request, queryset, DELETION)

    # The actions ----------------------------------------------------------------------------

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

    @admin.action(description=_("Erase personal data"), permissions=["erase"])
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

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Every signature matching the list's filters and search, not just the page shown;
        confirmed only unless include=all. Fraudulent signatures never leave."""
        if not (can_export(request.user) and self.has_view_permission(request)):
            raise PermissionDenied
        # The list's own filters and search, read by a ChangeList from a copy of the request
        # whose query string leaves out the export's own parameter (the list would refuse it).
        filters = request.GET.copy()
        include_pending = filters.pop("include", [""])[0] == "all"
        list_request = copy.copy(request)
        list_request.GET = filters
        petition_id = filters.get("petition__id__exact")
        try:
            changelist = self.get_changelist_instance(list_request)
            petition = Petition.objects.filter(pk=int(petition_id)).first() if petition_id else None
        except (IncorrectLookupParameters, ValueError):
            return redirect(reverse("admin:petitions_signature_changelist") + "?e=1")
        queryset = exports.signatures_for_export(
            changelist.get_queryset(list_request), include_pending=include_pending
        )
        record = exports.start_record(
            kind=ExportRecord.Kind.ADMIN_CSV,
            user=request.user,
            petition=petition,
            filters={**dict(filters.lists()), "include": include_pending},
        )
        response = StreamingHttpResponse(
            exports.iter_csv(queryset, record),
            content_type="text/csv; charset=utf-8",
        )
        filename = exports.export_filename(petition, timezone.now())
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


@admin.register(ExportRecord)
class ExportRecordAdmin(AuditRecordAdmin):
    """Who exported what."""

    list_display = ["created_at", "kind", "username", "petition", "row_count", "completed"]
    list_filter = ["kind", "completed", "petition"]
    list_select_related = ["petition"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "kind", "user", "username", "petition", "filters", "row_count", "completed",
        "created_at",
    ]  # fmt: skip


@admin.register(PersonalDataAccess)
class PersonalDataAccessAdmin(AuditRecordAdmin):
    """Who saw signers' names or email addresses, how, and whose (by signature number)."""

    list_display = ["created_at", "kind", "username", "signatures"]
    list_filter = ["kind"]
    search_fields = ["=username"]
    date_hierarchy = "created_at"
    readonly_fields = ["kind", "user", "username", "signature_ids", "created_at"]

    @admin.display(description=_("signatures"))
    def signatures(self, access: PersonalDataAccess) -> int:
        return len(access.signature_ids)


@admin.register(HighRiskCountry)
class HighRiskCountryAdmin(admin.ModelAdmin):
    """Every country on one page, each with one button: mark it as high-risk, or remove it.
    Which countries are high-risk is the campaign's decision, one country at a time; marking
    needs the add permission, removing the delete permission, and each change is in the
    admin's history."""

    def get_urls(self):
        # Only this page and its buttons: there is nothing to edit about a marked country.
        view = self.admin_site.admin_view
        return [
            path("", view(self.changelist_view), name="petitions_highriskcountry_changelist"),
            path("toggle/", view(self.toggle_view), name="petitions_highriskcountry_toggle"),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        marked = {high_risk.country.code: high_risk for high_risk in HighRiskCountry.objects.all()}
        # Every country, by its name in the admin's language.
        rows = [(code, name, marked.get(code)) for code, name in countries]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("High-risk countries"),
            "opts": self.opts,
            "rows": rows,
            "marked": [(code, name) for code, name, high_risk in rows if high_risk],
            "can_mark": self.has_add_permission(request),
            "can_remove": self.has_delete_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(
            request, "admin/petitions/highriskcountry/change_list.html", context
        )

    @method_decorator(require_POST)
    def toggle_view(self, request: HttpRequest) -> HttpResponse:
        code = request.POST.get("country", "")
        if countries.alpha2(code) != code or not code:
            return HttpResponseBadRequest(gettext("No such country."))
        name = countries.name(code)
        action = request.POST.get("action")
        with transaction.atomic():
            if action == "mark":
                if not self.has_add_permission(request):
                    raise PermissionDenied
                high_risk, created = HighRiskCountry.objects.mark(
                    country=code, username=request.user.get_username()
                )
                if created:
                    self.log_addition(request, high_risk, [{"added": {}}])
                    message = gettext("%(country)s is now a high-risk country.")
                else:
                    message = gettext("%(country)s was already a high-risk country.")
            elif action == "remove":
                if not self.has_delete_permission(request):
                    raise PermissionDenied
                high_risk = HighRiskCountry.objects.filter(country=code).first()
                if high_risk is not None:
                    self.log_deletions(request, [high_risk])  # before: the log names its id
                    high_risk.delete()
                    message = gettext("%(country)s is no longer a high-risk country.")
                else:
                    message = gettext("%(country)s was not a high-risk country.")
            else:
                return HttpResponseBadRequest(gettext("Mark or remove?"))
        self.message_user(request, message % {"country": name}, messages.SUCCESS)
        changelist = reverse("admin:petitions_highriskcountry_changelist")
        return redirect(f"{changelist}#country-{code}")
