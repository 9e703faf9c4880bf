"""The security headers of real responses, and the production cookie settings."""

import json

import pytest
from django.urls import reverse

from campaign.tests.test_settings import PRODUCTION, manage

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


@pytest.mark.parametrize("url", ["/", "/stories/azerbaijan/", "/petitions/x/", "/nope/"])
def test_it_sends_a_strict_content_security_policy(client, url, make_petition):
    make_petition(slug="x")
    csp = directives(client.get(url))
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    policy = " ".join(" ".join(v) for v in csp.values())
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_it_sends_the_other_security_headers(client):
    response = client.get(reverse("stories:home"))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in permissions


def test_it_sets_a_secure_httponly_samesite_csrf_cookie_on_the_form(client, settings, petition):
    settings.CSRF_COOKIE_SECURE = True
    response = client.get(reverse("petitions:detail", kwargs={"slug": petition.slug}))
    cookie = response.cookies[settings.CSRF_COOKIE_NAME]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_it_sets_no_cookie_on_reading_pages(client, make_story):
    story = make_story()
    for url in ("/", "/stories/", story.get_absolute_url()):
        assert not client.get(url).cookies, url


def test_it_sends_hsts_for_two_years_over_https_in_production(settings, client):
    settings.SECURE_HSTS_SECONDS = 63072000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    response = client.get(reverse("stories:home"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains; preload"


def test_it_configures_production_cookies_and_hsts():
    code = (
        "import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k) "
        "for k in ['SECURE_HSTS_SECONDS', 'SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
        "'SESSION_COOKIE_SAMESITE', 'SESSION_COOKIE_NAME', 'CSRF_COOKIE_SECURE', "
        "'CSRF_COOKIE_HTTPONLY', 'CSRF_COOKIE_SAMESITE', 'CSRF_COOKIE_NAME', "
        "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_INCLUDE_SUBDOMAINS']}))"
    )
    result = manage("shell", "-c", code, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SESSION_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["CSRF_COOKIE_SECURE"] and values["CSRF_COOKIE_HTTPONLY"]
    assert values["SESSION_COOKIE_SAMESITE"] == values["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert values["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert values["CSRF_COOKIE_NAME"] == "__Host-csrftoken"
    assert values["SECURE_SSL_REDIRECT"] and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
