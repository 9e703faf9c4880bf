"""The partner figures pages in the admin, and a partner's export of its consenting signers.

Each view is wrapped by the admin site (petitions.partner_urls), so it needs a staff sign-in
with the second factor; partners.access decides which partners an account may see. A partner
the account may not see is a 404, as if it did not exist.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from partners.access import may_export, partners_for
from partners.models import Partner
from petitions import exports
from petitions.models import ExportRecord, Petition
from petitions.partner_figures import partner_figures
from petitions.widget import badge_snippet, referral_url, widget_snippet


def _partner(request: HttpRequest, slug: str) -> Partner:
    return get_object_or_404(partners_for(request.user), slug=slug)


def _petition(slug: str | None) -> Petition | None:
    """The petition asked for by its slug (404 if none is published so), else the featured
    one: None before any is published."""
    published = Petition.objects.published()
    if slug:
        return get_object_or_404(published, slug=slug)
    return published.featured()


@require_GET
def partner_list(request: HttpRequest) -> HttpResponse:
    partners = list(partners_for(request.user))
    if len(partners) == 1:
        return redirect("partner_figures:detail", slug=partners[0].slug)
    return render(
        request,
        "admin/partner_figures/partner_list.html",
        {**admin.site.each_context(request), "title": _("Partner figures"), "partners": partners},
    )


@require_GET
def partner_detail(request: HttpRequest, slug: str) -> HttpResponse:
    partner = _partner(request, slug)
    petition = _petition(request.GET.get("petition"))
    figures = partner_figures(partner=partner, petition=petition) if petition else None
    return render(
        request,
        "admin/partner_figures/partner_detail.html",
        {
            **admin.site.each_context(request),
            "title": _("Figures of %(partner)s") % {"partner": partner.display_name},
            "partner": partner,
            "petition": petition,
            "petitions": Petition.objects.published(),
            "figures": figures,
            # What the partner copies onto its own pages (README: Partner organisations).
            "referral_url": referral_url(petition, partner) if petition else "",
            "widget_code": widget_snippet(petition, partner) if petition else "",
            "badge_code": badge_snippet(petition, partner) if petition else "",
            "may_export": may_export(request.user, partner),
            "has_other_partners": partners_for(request.user).exclude(pk=partner.pk).exists(),
        },
    )


@require_POST
def partner_export(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """The confirmed signers of one petition who agreed to hear from this partner."""
    partner = _partner(request, slug)
    if not may_export(request.user, partner):
        raise PermissionDenied
    petition = _petition(request.POST.get("petition"))
    if petition is None:
        raise Http404
    record = exports.start_record(
        kind=ExportRecord.Kind.PARTNER_CSV,
        user=request.user,
        petition=petition,
        partner=partner,
        filters={"partner": partner.slug, "petition": petition.slug},
    )
    response = StreamingHttpResponse(
        exports.iter_partner_csv(
            exports.partner_signers(partner=partner, petition=petition), record
        ),
        content_type="text/csv; charset=utf-8",
    )
    filename = exports.partner_export_filename(partner, petition)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
