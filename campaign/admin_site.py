"""The admin site: a second factor for every staff account, and sign-in attempts limited.

Staff sign in with their password and a code from an authenticator app, or one of their
recovery codes (django-otp; `manage.py second_factor USERNAME` sets both up). An account
without a second factor cannot use the admin at all.

Failed sign-ins are counted in the shared cache under keyed hashes (nothing raw is kept),
through Django's user_login_failed signal, per account AND client together, and per client.
An outsider who knows a staff member's username can use up that username's tries from their
own addresses only: the owner, signing in from theirs, is not locked out. Guessing a password
from many addresses still gets nowhere without the second factor, whose codes django-otp
throttles per device. Once a limit is used up, the sign-in form answers 429 without checking
the password, until the window passes.
"""

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from campaign.lib import ratelimit
from campaign.lib.http import too_many_requests


def _limits() -> list[tuple[str, list[ratelimit.Rate]]]:
    return [
        ("admin-login-user", ratelimit.parse_rates(settings.RATE_LIMIT_ADMIN_LOGIN_USER)),
        ("admin-login-client", ratelimit.parse_rates(settings.RATE_LIMIT_ADMIN_LOGIN_CLIENT)),
    ]


def _keys(request: HttpRequest, username: str) -> dict[str, str]:
    client = ratelimit.client_key(request)
    return {
        "admin-login-user": ratelimit.hash_value(f"user:{username.strip().lower()}:{client}"),
        "admin-login-client": client,
    }


@receiver(user_login_failed)
def count_failed_login(sender, credentials: dict, request: HttpRequest | None = None, **kwargs):
    if request is None:
        return
    keys = _keys(request, credentials.get("username", ""))
    for scope, rates in _limits():
        ratelimit.hit(scope, keys[scope], rates)


class SecondFactorLoginForm(OTPAdminAuthenticationForm):
    """The admin sign-in with one code field: six digits are the authenticator app's code,
    anything else one of the recovery codes. django-otp wants the device named, so that a
    wrong code counts against that device's throttle only; the code's shape names it."""

    otp_error_messages = {
        **OTPAdminAuthenticationForm.otp_error_messages,
        "token_required": _("Enter the code from your authenticator app, or a recovery code."),
        "device_required": _(
            "That code does not match: enter the code your authenticator app shows now, or "
            "one of your recovery codes."
        ),
        "invalid_token": _(
            "That code does not match: enter the code your authenticator app shows now, or "
            "one of your recovery codes."
        ),
        "n_failed_attempts": ngettext_lazy(
            "Too many wrong codes (%(failure_count)d): wait a moment and try again.",
            "Too many wrong codes (%(failure_count)d): wait a moment and try again.",
            "failure_count",
        ),
    }

    def _chosen_device(self, user):
        token = (self.cleaned_data.get("otp_token") or "").strip()
        model = TOTPDevice if token.isdigit() and len(token) == 6 else StaticDevice
        return model.objects.devices_for_user(user).first()


class CampaignAdminSite(OTPAdminSite):
    login_form = SecondFactorLoginForm
    login_template = "admin/login_second_factor.html"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if request.method == "POST":
            keys = _keys(request, request.POST.get("username", ""))
            waits = [ratelimit.blocked(scope, keys[scope], rates) for scope, rates in _limits()]
            wait = max((w for w in waits if w), default=None)
            if wait:
                return too_many_requests(request, wait)
        return super().login(request, extra_context)
