"""The project's own `check --deploy` checks (campaign/checks.py) name each unsafe value."""

import pytest

from campaign.checks import check_production_values

SAFE = {
    "SITE_URL": "https://campaign.example",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "TRUSTED_PROXY_COUNT": 1,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
}


@pytest.fixture
def production(settings, tmp_path):
    for name, value in SAFE.items():
        setattr(settings, name, value)
    # Shared by every process on one machine, and needs no server in the test.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path),
        }
    }
    return settings


def ids(settings) -> list[str]:
    return [warning.id for warning in check_production_values(None)]


def test_it_finds_nothing_wrong_with_production_values(production):
    assert ids(production) == []


@pytest.mark.parametrize(
    ("name", "value", "warning"),
    [
        ("SITE_URL", "http://campaign.example", "campaign.W001"),
        ("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend", "campaign.W002"),
        ("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend", "campaign.W002"),
        (
            "CACHES",
            {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
            "campaign.W003",
        ),
        ("TRUSTED_PROXY_COUNT", 0, "campaign.W004"),
    ],
)
def test_it_names_each_unsafe_value(production, name, value, warning):
    setattr(production, name, value)
    assert ids(production) == [warning]
