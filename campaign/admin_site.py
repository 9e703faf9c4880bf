"""The admin site, with sign-in attempts limited per account and per client.

Failed sign-ins are counted in the shared cache under keyed hashes of the username and of the
client address (nothing raw is kept), through Django's user_login_failed signal. Once either
limit is used up, the sign-in form answers 429 without checking the password, until the
window passes.

It also tells the petitions' report how to name the stories signers came from: the project
wires the two apps together here, so that petitions imports nothing from stories.
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from campaign.lib import ratelimit
from campaign.lib.http import too_many_requests
from petitions import reports
from stories.models import Story


def _story_headlines() -> dict[str, str]:
    return dict(Story.objects.values_list("slug", "headline"))


reports.register_story_headlines(_story_headlines)


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
                return too_many_requests(request, wait)
        return super().login(request, extra_context)
