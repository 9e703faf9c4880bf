import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.template.loader import render_to_string

from campaign.lib.outage import DATABASE_UNAVAILABLE

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"


def database_is_up() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("Health check: the database does not answer (%s)", type(exc).__name__)
        return False
    return True


class HealthCheckMiddleware:
    """Answer /healthz before host validation and the HTTPS redirect.

    Load balancers probe instances by address, over plain HTTP, with whatever Host header they
    like; the probe must reach the database check all the same. Redis is deliberately not
    checked: the site keeps serving without it, so its loss must not take every instance out.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != HEALTH_PATH:
            return self.get_response(request)
        up = database_is_up()
        response = JsonResponse(
            {"status": "ok" if up else "unavailable", "database": "ok" if up else "down"},
            status=200 if up else 503,
        )
        response["Cache-Control"] = "no-store"
        return response


class DatabaseUnavailableMiddleware:
    """Turn a lost database connection into a calm 503 page instead of a 500 traceback."""

    RETRY_AFTER_SECONDS = 30

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        logger.error(
            "Database unavailable while serving %s %s: %s",
            request.method,
            request.path,
            type(exception).__name__,
        )
        # Rendered without the request: context processors may need the database.
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(self.RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response


class LanguageByURLMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware for a site whose every URL names its language (i18n_patterns
    with the default language unprefixed, the admin included): the language never comes from
    the Accept-Language header or a cookie, so no response varies by them and none says it does.
    Django marks unprefixed pages `Vary: Accept-Language`, which would make shared caches keep a
    copy of one page for every browser's header."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response = super().process_response(request, response)
        if response.has_header("Vary"):
            kept = [
                value.strip()
                for value in response["Vary"].split(",")
                if value.strip() and value.strip().lower() != "accept-language"
            ]
            if kept:
                response["Vary"] = ", ".join(kept)
            else:
                del response["Vary"]
        return response
