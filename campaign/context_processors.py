from django.conf import settings
from django.http import HttpRequest
from django.urls import translate_url
from django.utils.translation import get_language

from campaign import languages


def site(request: HttpRequest) -> dict:
    """The public site address, the canonical URL and the page in every language."""
    path = request.path
    current = languages.get(get_language())
    versions = [
        {
            "code": language.code,
            "name": language.name,
            "local_name": language.local_name,
            "url": translate_url(path, language.code),
        }
        for language in languages.SITE_LANGUAGES
    ]
    return {
        "SITE_URL": settings.SITE_URL,
        "CAMPAIGN_NAME": settings.CAMPAIGN_NAME,
        "canonical_url": settings.SITE_URL + path,
        "current_language": current,
        "language_versions": versions,
        # The English page is the one for readers whose language the site does not have.
        "default_language_url": versions[0]["url"],
    }
