from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_safe

from campaign.lib.pagecache import public_page
from partners.models import Partner
from petitions.models import Signature
from stories.models import Page, Story


def _page(request: HttpRequest, key: str) -> HttpResponse:
    """The page as staff wrote it in the admin, once published; else the built-in text."""
    page = Page.objects.shown(key)
    if page is None:
        return render(request, f"pages/{key}.html")
    return render(request, "pages/page.html", {"page": page})


@require_safe
@public_page
def about(request: HttpRequest) -> HttpResponse:
    return _page(request, Page.Key.ABOUT)


@require_safe
@public_page
def privacy(request: HttpRequest) -> HttpResponse:
    return _page(request, Page.Key.PRIVACY)


@require_safe
@public_page
def coalition(request: HttpRequest) -> HttpResponse:
    """The coalition's public partners, each with the stories told with them."""
    stories = Prefetch("stories", queryset=Story.objects.published(), to_attr="published_stories")
    partners = list(Partner.objects.public().prefetch_related(stories))
    counts = Signature.objects.public_counts_by_partner([p.pk for p in partners if p.shows_count])
    for partner in partners:
        partner.public_count = counts.get(partner.pk)
    return render(request, "partners/coalition.html", {"partners": partners})


@require_safe
@public_page
def robots_txt(request: HttpRequest) -> HttpResponse:
    return render(request, "robots.txt", content_type="text/plain; charset=utf-8")


def _error(request: HttpRequest, template: str, status: int) -> HttpResponse:
    return render(request, template, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error(request, "400.html", 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error(request, "403.html", 403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error(request, "404.html", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors: whatever failed may fail again while rendering the page.
    return HttpResponse(render_to_string("500.html"), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _error(request, "403_csrf.html", 403)
