"""Small HTTP answers and checks shared by the apps' views."""

from csp.constants import HEADER, NONE
from csp.utils import build_policy
from django.contrib.auth import get_permission_codename
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def too_many_requests(request: HttpRequest, wait: int) -> HttpResponse:
    """The 429 page, telling people and clients (Retry-After) how many seconds to wait."""
    response = render(request, "429.html", {"retry_after": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response


def can_preview(request: HttpRequest, model: type[Model]) -> bool:
    """Whether this user may see what the public cannot yet see of `model` (unpublished or
    scheduled pages): staff allowed to view it in the admin. As in the admin, permission to
    change implies permission to view."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    opts = model._meta
    return any(
        user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
        for action in ("view", "change")
    )


def allow_framing_by(response: HttpResponse, origins: list[str]) -> HttpResponse:
    """Let the pages at these origins (and no others) show this response in a frame: the
    site's Content-Security-Policy with its frame-ancestors replaced, and no X-Frame-Options
    (which cannot name an origin). With no origins, framing stays refused like everywhere."""
    if origins:
        response[HEADER] = build_policy(replace={"frame-ancestors": origins})
        response.xframe_options_exempt = True
    else:
        response[HEADER] = build_policy(replace={"frame-ancestors": [NONE]})
    return response
