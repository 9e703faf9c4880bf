"""Project checks that `manage.py check --deploy` runs beside Django's own.

Start-up already refuses a production configuration with a setting missing (see settings.py);
these catch the values that are present but unsafe.
"""

from django.conf import settings
from django.core.checks import Tags, Warning, register

# Email backends that do not deliver: the console and file ones write every confirmation link
# where an operator (or a log collector) reads it; the others drop the mail.
UNDELIVERED_EMAIL = ("console", "filebased", "locmem", "dummy")
PER_PROCESS_CACHE = ("locmem", "dummy")


@register(Tags.security, deploy=True)
def check_production_values(app_configs, **kwargs) -> list[Warning]:
    problems = []
    if not settings.SITE_URL.startswith("https://"):
        problems.append(
            Warning(
                "SITE_URL is not an https:// address, so the links in emails are sent in clear.",
                hint="Set SITE_URL to the site's public HTTPS address.",
                id="campaign.W001",
            )
        )
    backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
    if backend in UNDELIVERED_EMAIL:
        problems.append(
            Warning(
                f"EMAIL_URL selects the {backend} email backend, which does not deliver mail"
                " (and may write confirmation links into a log).",
                hint="Set EMAIL_URL to the SMTP server, e.g. smtp+tls://user:password@host:587.",
                id="campaign.W002",
            )
        )
    cache = settings.CACHES["default"]["BACKEND"]
    if any(kind in cache for kind in PER_PROCESS_CACHE):
        problems.append(
            Warning(
                "The cache is kept per process, so each web process keeps its own rate limits.",
                hint="Set CACHE_URL to a shared cache, e.g. redis://host:6379/0.",
                id="campaign.W003",
            )
        )
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and not settings.TRUSTED_PROXY_COUNT:
        problems.append(
            Warning(
                "BEHIND_PROXY is set but TRUSTED_PROXY_COUNT is 0: every request seems to come "
                "from the proxy, so one client's rate limit applies to everyone.",
                hint="Set TRUSTED_PROXY_COUNT to the number of proxies in front of gunicorn.",
                id="campaign.W004",
            )
        )
    return problems
