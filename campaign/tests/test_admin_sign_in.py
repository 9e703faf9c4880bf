"""Staff sign in with a password and a second factor; failed sign-ins are limited per account
and client together, and per client (campaign.admin_site)."""

import base64
import re
from io import StringIO
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

PASSWORD = "the right password"


@pytest.fixture
def staff(django_user_model):
    """A staff account with its authenticator app and one recovery code."""
    user = django_user_model.objects.create_user("target", password=PASSWORD, is_staff=True)
    app = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    recovery = StaticDevice.objects.create(user=user, name="recovery codes")
    recovery.token_set.create(token="recovery1")
    user.app = app
    return user


def code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key):06d}"


def sign_in(client: Client, username: str, password: str, otp_token: str = ""):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "otp_token": otp_token},
    )


def test_it_signs_staff_in_with_password_and_app_code(client, staff):
    response = sign_in(client, "target", PASSWORD, code(staff.app))
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("otp_token", ["", "000000", "123456"])
def test_it_refuses_the_password_alone_or_a_wrong_code(client, staff, otp_token):
    if otp_token and otp_token == code(staff.app):
        otp_token = "999999" if otp_token != "999999" else "000001"
    response = sign_in(client, "target", PASSWORD, otp_token)
    assert response.status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302  # back to the sign-in page


def test_it_says_what_to_do_when_the_code_does_not_match(client, staff):
    wrong = "000000" if code(staff.app) != "000000" else "000001"
    html = sign_in(client, "target", PASSWORD, wrong).content.decode()
    assert "That code does not match" in html
    assert "or one of your recovery codes" in html


def test_it_accepts_each_recovery_code_once(client, staff):
    assert sign_in(client, "target", PASSWORD, "recovery1").status_code == 302
    other = Client()
    assert sign_in(other, "target", PASSWORD, "recovery1").status_code == 200


def test_an_account_without_a_second_factor_cannot_use_the_admin(client, django_user_model):
    django_user_model.objects.create_user("new", password=PASSWORD, is_staff=True)
    assert sign_in(client, "new", PASSWORD, "123456").status_code == 200
    client.force_login(django_user_model.objects.get(username="new"))
    assert client.get(reverse("admin:index")).status_code == 302


def test_it_limits_failed_sign_ins_per_account_from_one_client(staff, settings):
    settings.RATE_LIMIT_ADMIN_LOGIN_USER = "3/15m"
    settings.RATE_LIMIT_ADMIN_LOGIN_CLIENT = "100/h"
    guesser = Client(REMOTE_ADDR="192.0.2.1")
    for _ in range(3):
        assert sign_in(guesser, "target", "wrong").status_code == 200
    blocked = sign_in(guesser, "target", PASSWORD, code(staff.app))
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    # The same client may still try another account: the limit is per account and client.
    assert sign_in(guesser, "someone-else", "y").status_code == 200


def test_an_outsider_cannot_lock_the_owner_out(staff, settings):
    settings.RATE_LIMIT_ADMIN_LOGIN_USER = "3/15m"
    settings.RATE_LIMIT_ADMIN_LOGIN_CLIENT = "100/h"
    for n in range(30):  # an outsider who knows the username, from many addresses
        sign_in(Client(REMOTE_ADDR=f"198.51.100.{n}"), "target", "wrong")
    owner = Client(REMOTE_ADDR="203.0.113.5")
    assert sign_in(owner, "target", PASSWORD, code(staff.app)).status_code == 302


def test_it_limits_failed_sign_ins_per_client(staff, settings):
    settings.RATE_LIMIT_ADMIN_LOGIN_USER = "100/15m"
    settings.RATE_LIMIT_ADMIN_LOGIN_CLIENT = "3/h"
    client = Client(REMOTE_ADDR="198.51.100.1")
    for n in range(3):
        sign_in(client, f"guess{n}", "wrong")
    assert sign_in(client, "target", PASSWORD, code(staff.app)).status_code == 429
    elsewhere = Client(REMOTE_ADDR="198.51.100.2")
    assert sign_in(elsewhere, "target", PASSWORD, code(staff.app)).status_code == 302


def test_the_command_sets_up_an_app_and_recovery_codes(django_user_model):
    user = django_user_model.objects.create_user("new", password=PASSWORD, is_staff=True)
    out = StringIO()

    def type_the_code(prompt: str) -> str:
        # The person scans the printed link's secret into their app and types what it shows.
        url = re.search(r"otpauth://\S+", out.getvalue()).group(0)
        secret = parse_qs(urlsplit(url).query)["secret"][0]
        key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        return f"{totp(key):06d}"

    with mock.patch("builtins.input", type_the_code):
        call_command("second_factor", "new", stdout=out)
    assert TOTPDevice.objects.get(user=user).confirmed
    codes = re.findall(r"^\s+(\w{8,})$", out.getvalue(), re.MULTILINE)
    assert len(codes) == 10
    assert set(StaticDevice.objects.get(user=user).token_set.values_list("token", flat=True)) == (
        set(codes)
    )
    with pytest.raises(CommandError, match="has a second factor already"):
        call_command("second_factor", "new", stdout=StringIO())


def test_the_command_sets_nothing_up_on_a_wrong_code(django_user_model):
    user = django_user_model.objects.create_user("new", password=PASSWORD, is_staff=True)
    with pytest.raises(CommandError, match="does not match"):
        call_command("second_factor", "new", code="000000", stdout=StringIO())
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
