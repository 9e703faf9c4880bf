"""Settings for the #BringHumanRightsHome campaign site.

One module, driven by environment variables (see the README's configuration table). Every
default runs on a developer's machine as it is: SQLite, a local-memory cache, email printed to
the console. With DEBUG off the secrets have no defaults, and start-up stops with one sentence
naming what is missing.
"""

import base64
import binascii
import hashlib
import hmac
import ipaddress
from email.utils import formataddr, parseaddr
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from campaign.languages import SITE_LANGUAGES

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables may also come from a file (never overriding the environment): `.env` beside
# manage.py, or the file ENV_FILE names.
ENV_FILE = Path(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    env.read_env(ENV_FILE)


def required(name: str, value, meaning: str):
    """Return value, or stop start-up with a sentence a person can act on."""
    if not value:
        raise ImproperlyConfigured(
            f"{name} must be set when DEBUG is off: {meaning} (see the README's configuration)."
        )
    return value


# Off unless set: a server started without configuration is a production server, and stops
# below until it has what production needs. `make run` and the tests switch it on.
DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-development-key-do-not-deploy")
    ALLOWED_HOSTS = env.list(
        "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"]
    )
else:
    SECRET_KEY = required(
        "SECRET_KEY", env.str("SECRET_KEY", default=""), "a long random string kept secret"
    )
    ALLOWED_HOSTS = required(
        "ALLOWED_HOSTS",
        env.list("ALLOWED_HOSTS", default=[]),
        "the host names the site answers to, comma-separated",
    )
# Earlier keys, newest first, after a change of SECRET_KEY: links already emailed (withdrawal
# links never expire) and signed-in sessions keep working while they are listed here.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

# Signers' names and addresses are sealed in the database, and found by keyed hashes
# (campaign/lib/sealed.py), with keys that must never be stored with the database or its
# backups. SIGNER_DATA_KEY: keys in Fernet's form (AES-256-GCM keys are derived from them),
# comma-separated, the first seals and all open (a new one goes first, then `manage.py
# rotate_signer_key`). SIGNER_LOOKUP_KEY: the hashes' key, kept
# for good (changing it would lose every signer's hash).
_GENERATE_KEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


def _is_key(key: str) -> bool:
    """32 bytes in url-safe base64: what the sealing (and Fernet) and the keyed hashes take."""
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False


def _development_key(purpose: str) -> str:
    """Development only: a key derived from SECRET_KEY, so that a developer's database stays
    readable across restarts without a key to keep. Production has no default."""
    digest = hmac.new(
        SECRET_KEY.encode(), f"campaign.signer-keys.{purpose}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


if DEBUG:
    SIGNER_DATA_KEY = env.list("SIGNER_DATA_KEY", default=[_development_key("data")])
    SIGNER_LOOKUP_KEY = env.str("SIGNER_LOOKUP_KEY", default=_development_key("lookup"))
else:
    _keeping = f"kept apart from the database and its backups; generate one with {_GENERATE_KEY}"
    SIGNER_DATA_KEY = required(
        "SIGNER_DATA_KEY",
        env.list("SIGNER_DATA_KEY", default=[]),
        f"the key that seals signers' names and addresses, {_keeping}",
    )
    SIGNER_LOOKUP_KEY = required(
        "SIGNER_LOOKUP_KEY",
        env.str("SIGNER_LOOKUP_KEY", default=""),
        f"the key of the hashes that signers' addresses are found by, {_keeping}",
    )
for _name, _keys in (
    ("SIGNER_DATA_KEY", SIGNER_DATA_KEY),
    ("SIGNER_LOOKUP_KEY", [SIGNER_LOOKUP_KEY]),
):
    if not all(_is_key(key) for key in _keys):
        raise ImproperlyConfigured(
            f"{_name} is not a valid key: each key is 32 random bytes in url-safe base64, "
            f"such as {_GENERATE_KEY} prints (see the README's configuration)."
        )
if SIGNER_LOOKUP_KEY in SIGNER_DATA_KEY:
    raise ImproperlyConfigured(
        "SIGNER_LOOKUP_KEY must not be one of the SIGNER_DATA_KEY keys: generate a key of its "
        f"own with {_GENERATE_KEY} (see the README's configuration)."
    )

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The public address of the site, used wherever a link leaves the page: canonical URLs, the
# sitemap, the feed, share links and the links in emails (sent by a worker with no request).
if not DEBUG:
    required(
        "SITE_URL",
        env.str("SITE_URL", default=""),
        "the public address of the site, such as https://www.example.org, for links in emails",
    )
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

ADMIN_URL = env.str("ADMIN_URL", default="admin/").strip("/") + "/"

INSTALLED_APPS = [
    # Content per language (before the admin, whose forms it extends): see stories/translation.py.
    "modeltranslation",
    "campaign.apps.CampaignAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.humanize",
    "django.forms",
    "django_countries",
    # Staff sign in with a second factor: an authenticator app (TOTP) and recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "campaign",
    "partners",
    "stories",
    "petitions",
]

MIDDLEWARE = [
    # First: every response, and every log line written while serving it, names its request.
    "campaign.lib.logs.RequestIdMiddleware",
    # Answers Prometheus (the addresses METRICS_ALLOWED_ADDRESSES lists) and load-balancer
    # probes before host validation and the HTTPS redirect: both come by address, over HTTP.
    "campaign.lib.metrics.MetricsEndpointMiddleware",
    "campaign.lib.middleware.HealthCheckMiddleware",
    "campaign.lib.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Gzip for browsers that accept it (campaign/lib/compression.py): below WhiteNoise, which
    # serves static files compressed ahead of time; above the page cache, so that a cached page
    # filled in for each visitor (its CSRF token) is compressed as sent. Pages the same for
    # everyone the page cache keeps compressed as well.
    "campaign.lib.compression.CompressionMiddleware",
    "campaign.lib.pagecache.PublicPageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "campaign.lib.middleware.LanguageByURLMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "campaign.lib.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "campaign.urls"
WSGI_APPLICATION = "campaign.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "campaign.context_processors.site",
            ],
        },
    },
]

FORM_RENDERER = "campaign.forms.CampaignFormRenderer"

# Database: SQLite file by default; PostgreSQL in production through DATABASE_URL.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections, checked before reuse so that a restarted server is noticed.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue for the lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rate limits and the count's cache live here: in production every web process must share it,
# or each process keeps its own limits and a client gets as many tries as there are processes.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if not DEBUG and any(kind in CACHES["default"]["BACKEND"] for kind in ("locmem", "dummy")):
    raise ImproperlyConfigured(
        "CACHE_URL must be set when DEBUG is off, to a cache that every web process shares "
        "(such as redis://host:6379/0): with a per-process cache the rate limits are no limits "
        "(see the README's configuration)."
    )
# Signings taken while PostgreSQL does not answer wait here, sealed, until it is back
# (petitions.spool): a Redis that keeps what it is given (the README's "Running in production").
# By default the cache's Redis; with any other cache there is no spool, and such a signing gets
# the 503 page.
_cache_url = env.str("CACHE_URL", default="")
SPOOL_URL = env.str(
    "SPOOL_URL", default=_cache_url if _cache_url.startswith(("redis://", "rediss://")) else ""
)

# Email: printed to the console in development; SMTP in production, e.g.
# EMAIL_URL=smtp+tls://user:password@smtp.example.org:587. Required with DEBUG off: the console
# backend would print every confirmation link into the server's log.
if not DEBUG:
    required(
        "EMAIL_URL",
        env.str("EMAIL_URL", default=""),
        "the mail server for confirmation links, such as smtp+tls://user:password@host:587",
    )
_email = env.email("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="#BringHumanRightsHome <petition@localhost>"
)
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Languages: English unprefixed, the others under their code (/nl/, /ru/, ...): see
# campaign/languages.py. Country names for the languages django-countries has no catalogue for
# come from the Unicode CLDR (manage.py country_names).
LANGUAGE_CODE = "en"
LANGUAGES = [(language.code, language.name) for language in SITE_LANGUAGES]
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "campaign" / "country_names"]
# English dates read "30 November 2026"; the other languages use Django's own formats.
FORMAT_MODULE_PATH = ["campaign.formats"]
# Content translations: one column per language; which language a reader is shown is decided per
# object (campaign.lib.translated), so modeltranslation's own fallback is only for staff views.
MODELTRANSLATION_DEFAULT_LANGUAGE = LANGUAGE_CODE
MODELTRANSLATION_FALLBACK_LANGUAGES = tuple(code for code, _name in LANGUAGES)
USE_I18N = True
USE_TZ = True
TIME_ZONE = env.str("TIME_ZONE", default="UTC")

# Static files: hashed, compressed and cached for a year by whitenoise when DEBUG is off.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Uploads: portraits are the only files staff upload; refuse anything much larger in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# HTTPS: on in production (DEBUG off). Behind a reverse proxy that terminates TLS and sets
# X-Forwarded-Proto, set BEHIND_PROXY; if the proxy itself redirects HTTP to HTTPS,
# SECURE_SSL_REDIRECT may be switched off.
HTTPS = env.bool("HTTPS", default=not DEBUG)
if env.bool("BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=63072000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
if HTTPS:
    # The __Host- prefix tells browsers to accept the cookie only over HTTPS, for this host
    # and every path: no subdomain can set or shadow it.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_HTTPONLY = True
# Forms carry the token in a hidden field; no script needs to read the cookie.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = HTTPS
SESSION_COOKIE_AGE = 60 * 60 * 8
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): only this site's own files, no inline script or style,
# no framing, forms post only here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
        **({"upgrade-insecure-requests": True} if HTTPS else {}),
    },
}
# Permissions-Policy: none of the powerful browser features are used.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media",
        "geolocation", "gyroscope", "magnetometer", "microphone", "midi", "payment", "usb",
    )
}  # fmt: skip
CSRF_FAILURE_VIEW = "campaign.views.csrf_failure"

# Logs: one JSON object a line (LOG_FORMAT=json, the default with DEBUG off) or a text line
# (plain, the default with DEBUG on); either way with the request's id, and with anything
# shaped like an email address or a query string blanked (campaign/lib/logs.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'plain'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "campaign.lib.logs.JsonFormatter"},
        "plain": {"()": "campaign.lib.logs.PlainFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO").upper()},
    "loggers": {
        # Django's request logger repeats the client's request line; our own access log in
        # gunicorn.conf.py leaves the client address out.
        "django.request": {"level": "ERROR"},
        "django.security.DisallowedHost": {"handlers": ["console"], "level": "ERROR"},
    },
}

# Metrics for Prometheus at /metrics (campaign/lib/metrics.py): answered only to these
# addresses or networks, comma-separated (such as 10.0.0.7,10.1.0.0/24), as the socket sees
# them, and never through the reverse proxy; with none listed, /metrics is a 404 for everyone.
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(address, strict=False)
        for address in env.list("METRICS_ALLOWED_ADDRESSES", default=[])
    ]
except ValueError as error:
    raise ImproperlyConfigured(
        f"METRICS_ALLOWED_ADDRESSES must list IP addresses or networks: {error}."
    ) from None
# What the endpoint reports besides request latencies and the services' health.
METRICS_COLLECTORS = ["petitions.metrics.collect"]
# The Redis whose health is reported: the shared cache's, when it is Redis.
METRICS_REDIS_URL = (
    CACHES["default"]["LOCATION"]
    if CACHES["default"]["BACKEND"].endswith("RedisCache")
    and isinstance(CACHES["default"]["LOCATION"], str)
    else ""
)
# The emails set aside are counted by a scan of the signatures, so at most this often.
METRICS_SET_ASIDE_SECONDS = env.int("METRICS_SET_ASIDE_SECONDS", default=300)

# Confirmation emails: "immediate" sends them within the request (development, tests);
# "worker" leaves them in the outbox (the signature rows) for `manage.py send_emails`, so that
# signing never waits for, or fails with, the mail server.
EMAIL_QUEUE = env.str("EMAIL_QUEUE", default="immediate")
if EMAIL_QUEUE not in ("immediate", "worker"):
    raise ImproperlyConfigured("EMAIL_QUEUE must be 'immediate' or 'worker'.")
# First wait after a failed send; it doubles with each further failure (12 attempts in all).
EMAIL_RETRY_SECONDS = env.int("EMAIL_RETRY_SECONDS", default=60)
# Discreet emails, for people whose mail may be read by others: a plain sender name and
# subject, plain text with no hashtag, campaign wording or petition title. On for every
# confirmation email with DISCREET_EMAILS; always for signers from high-risk countries.
DISCREET_EMAILS = env.bool("DISCREET_EMAILS", default=False)
DISCREET_EMAIL_FROM = env.str(
    "DISCREET_EMAIL_FROM", default=formataddr(("Confirmation", parseaddr(DEFAULT_FROM_EMAIL)[1]))
)

# Campaign
CAMPAIGN_NAME = "#BringHumanRightsHome"
# The name authenticator apps show beside a staff member's account.
OTP_TOTP_ISSUER = "BringHumanRightsHome"

# Petitions
# Confirmation links expire; withdrawal links do not.
SIGNATURE_CONFIRM_MAX_AGE = env.int("SIGNATURE_CONFIRM_MAX_AGE", default=7 * 24 * 3600)
# Retention, as the scheduled jobs apply it (`manage.py run_scheduled`, deploy/systemd/):
# unconfirmed signatures are deleted after this many days (the README's Personal data), and
# the signers' data of a closed petition erased this many days after it closed (time to hand
# it in), the counts kept.
PURGE_UNCONFIRMED_DAYS = env.int("PURGE_UNCONFIRMED_DAYS", default=7)
ANONYMISE_CLOSED_AFTER_DAYS = env.int("ANONYMISE_CLOSED_AFTER_DAYS", default=90)
if min(PURGE_UNCONFIRMED_DAYS, ANONYMISE_CLOSED_AFTER_DAYS) < 1:
    raise ImproperlyConfigured(
        "PURGE_UNCONFIRMED_DAYS and ANONYMISE_CLOSED_AFTER_DAYS must be at least 1."
    )
# Seconds a form must have been on screen before it is sent; faster ones are shown again.
SIGNATURE_MIN_FORM_SECONDS = env.float("SIGNATURE_MIN_FORM_SECONDS", default=2.0)
# Seconds a shown form stays good for sending; older ones are shown again to send once more.
SIGNATURE_FORM_MAX_AGE = env.int("SIGNATURE_FORM_MAX_AGE", default=24 * 3600)
# A signer asking for emails again gets at most one every this many seconds.
SIGNATURE_EMAIL_INTERVAL = env.int("SIGNATURE_EMAIL_INTERVAL", default=60)
# Rate limits per client address ("count/period", s, m, h or d): a burst and a sustained limit.
# They are kept in the cache, so all workers and instances share them when CACHE_URL is Redis.
RATE_LIMIT_SIGN = env.str("RATE_LIMIT_SIGN", default="10/m,60/h")
RATE_LIMIT_LINKS = env.str("RATE_LIMIT_LINKS", default="20/m,120/h")
# Failed admin sign-ins, per account and per client address.
RATE_LIMIT_ADMIN_LOGIN_USER = env.str("RATE_LIMIT_ADMIN_LOGIN_USER", default="5/15m,20/d")
RATE_LIMIT_ADMIN_LOGIN_CLIENT = env.str("RATE_LIMIT_ADMIN_LOGIN_CLIENT", default="20/h")
# Reverse proxies in front of gunicorn that append to X-Forwarded-For (0: use the socket address).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# A header set by the CDN or proxy with the visitor's country (e.g. CF-IPCountry), used only to
# pre-select the country in the form; nothing is stored.
COUNTRY_HEADER = env.str("COUNTRY_HEADER", default="")
# Seconds each web worker may serve a first-time visitor's page from memory (0: off; off with
# DEBUG, so that edits show at once).
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=0 if DEBUG else 5)
# How long the public count may be served from the cache (it is also cleared on each change).
PETITION_STATS_CACHE_SECONDS = env.int("PETITION_STATS_CACHE_SECONDS", default=5)
# The public breakdown by country is a snapshot taken at most once per this many seconds, its
# figures rounded down to a multiple of BREAKDOWN_ROUNDING, naming only countries with at least
# BREAKDOWN_MIN_COUNT signatures: so that nobody watching it can single out one signer (why
# these defaults: petitions.models, above public_figures; the privacy page states them).
BREAKDOWN_SNAPSHOT_SECONDS = env.int("BREAKDOWN_SNAPSHOT_SECONDS", default=6 * 3600)
BREAKDOWN_ROUNDING = env.int("BREAKDOWN_ROUNDING", default=10)
BREAKDOWN_MIN_COUNT = env.int("BREAKDOWN_MIN_COUNT", default=50)
if min(BREAKDOWN_SNAPSHOT_SECONDS, BREAKDOWN_ROUNDING, BREAKDOWN_MIN_COUNT) < 1:
    raise ImproperlyConfigured(
        "BREAKDOWN_SNAPSHOT_SECONDS, BREAKDOWN_ROUNDING and BREAKDOWN_MIN_COUNT must be at least 1."
    )
