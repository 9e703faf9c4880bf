from django.conf import settings
from django.http import HttpRequest
from django.urls import translate_url


def site(request: HttpRequest) -> dict:
    """The public site address, the canonical URL and the page in every language."""
    path = request.path
    return {
        "SITE_URL": settings.SITE_URL,
        "CAMPAIGN_NAME": settings.CAMPAIGN_NAME,
        "canonical_url": settings.SITE_URL + path,
        "language_versions": [
            {"code": code, "name": name, "url": translate_url(path, code)}
            for code, name in settings.LANGUAGES
        ],
    }
