"""The admin site, with sign-in attempts limited per account and per client.

Failed sign-ins are counted in the shared cache under keyed hashes of the username and of the
client address (nothing raw is kept), through Django's user_login_failed signal. Once either
limit is used up, the sign-in form answers 429 without checking the password, until the
window passes.
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from campaign.lib import ratelimit


def _limits() -> list[tuple[str, list[ratelimit.Rate]]]:
    return [
        ("admin-login-user", ratelimit.parse_rates(settings.RATE_LIMIT_ADMIN_LOGIN_USER)),
        ("admin-login-client", ratelimit.parse_rates(settings.RATE_LIMIT_ADMIN_LOGIN_CLIENT)),
    ]


def _keys(request: HttpRequest, username: str) -> dict[str, str]:
    return {
        "admin-login-user": ratelimit.hash_value("user:" + username.strip().lower()),
        "admin-login-client": ratelimit.client_key(request),
    }


@receiver(user_login_failed)
def count_failed_login(sender, credentials: dict, request: HttpRequest | None = None, **kwargs):
    if request is None:
        return
    keys = _keys(request, credentials.get("username", ""))
    for scope, rates in _limits():
        ratelimit.hit(scope, keys[scope], rates)


class CampaignAdminSite(admin.AdminSite):
    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if request.method == "POST":
            keys = _keys(request, request.POST.get("username", ""))
            waits = [ratelimit.blocked(scope, keys[scope], rates) for scope, rates in _limits()]
            wait = max((w for w in waits if w), default=None)
            if wait:
                response = render(request, "429.html", {"retry_after": wait}, status=429)
                response["Retry-After"] = str(wait)
                return response
        return super().login(request, extra_context)
