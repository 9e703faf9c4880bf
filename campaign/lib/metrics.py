"""Metrics in Prometheus' text format at /metrics, for the addresses an operator lists.

Two kinds of figures, measured two ways:
- Request latencies are measured where they happen, in each gunicorn worker
  (RequestMetricsMiddleware). Workers are separate processes, so the Prometheus client runs in
  its multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set up by gunicorn.conf.py): each worker
  writes its histogram to a file there, and a scrape of any worker sums them all, those of
  workers that have since been recycled included, so a counter never goes backwards.
- Everything the database or Redis knows (counts, the outbox) is read when Prometheus asks, by
  the collectors METRICS_COLLECTORS names, from the tally and small indexed queries: no state
  in the workers, and every instance reports the same figures (take their max, not their sum).

The endpoint is answered before host validation and the HTTPS redirect, as /healthz is:
Prometheus scrapes each instance by its address, over the private network. It answers only a
client whose socket address (REMOTE_ADDR, never X-Forwarded-For) is in
METRICS_ALLOWED_ADDRESSES, and only a request that did not come through a proxy (no
X-Forwarded-For): with the reverse proxy on the same machine, its address may well be allowed,
and the public must still not reach the figures through it. Everyone else gets the site's
ordinary 404. No label carries anything a person typed or a path with a token in it: views
are labelled by their URL pattern's name.
"""

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.module_loading import import_string
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from campaign.lib.middleware import HEALTH_PATH, database_is_up

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Its own registry, not the client's default one with its process and garbage-collector figures
# for this one process: under gunicorn each scrape would report a different worker's.
REQUESTS = CollectorRegistry(auto_describe=True)
REQUEST_SECONDS = Histogram(
    "campaign_request_duration_seconds",
    "Time to answer a request, by view (URL name), method and status class.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0),
    registry=REQUESTS,
)
# Anything else a client sends is counted as "other": labels must not take a client's words.
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def parse_networks(addresses: Iterable[str]) -> list[Network]:
    """ "10.0.0.5", "10.0.0.0/24" or "::1" as networks (a plain address is a network of one).
    A mistyped one raises ValueError, so that settings can stop start-up with it."""
    return [ipaddress.ip_network(address.strip(), strict=False) for address in addresses if address]


def address_allowed(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def may_read_metrics(request: HttpRequest) -> bool:
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False
    return address_allowed(request.META.get("REMOTE_ADDR", ""), settings.METRICS_ALLOWED_NETWORKS)


def view_label(request: HttpRequest) -> str:
    """The URL pattern's name ("petitions:sign"), never the path, which may carry a slug a
    client made up. A page served from the page cache carries the resolution kept with it
    (campaign.lib.pagecache); a request that another middleware answered before the resolver
    has its path resolved here (in its language, as i18n_patterns needs). Paths that name no
    view (static files, unknown paths) are "(none)"."""
    if request.path_info == HEALTH_PATH:
        return "healthz"
    match = getattr(request, "resolver_match", None)
    if match is None:
        language = translation.get_language_from_path(request.path_info)
        try:
            with translation.override(language or settings.LANGUAGE_CODE):
                match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return "(none)"
    return match.view_name or "(none)"


class RequestMetricsMiddleware:
    """Time every request, by view, method and status class (2xx, 3xx, ...)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_SECONDS.labels(
            view_label(request),
            request.method if request.method in METHODS else "other",
            f"{response.status_code // 100}xx",
        ).observe(time.perf_counter() - started)
        return response


class MetricsEndpointMiddleware:
    """Answer /metrics to the allowed addresses; let everyone else's request go on to the
    site's 404 (no URL pattern names it, so it is not in the sitemap or any language)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != METRICS_PATH or not may_read_metrics(request):
            return self.get_response(request)
        response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
        response["Cache-Control"] = "no-store"
        return response


def service_health() -> Iterable[Metric]:
    """Whether PostgreSQL and Redis answer, as this instance sees them: 1 or 0."""
    database = GaugeMetricFamily("campaign_database_up", "1 when the database answers SELECT 1.")
    database.add_metric([], 1 if database_is_up() else 0)
    yield database
    redis_url = settings.METRICS_REDIS_URL
    if redis_url:
        redis = GaugeMetricFamily("campaign_redis_up", "1 when Redis answers PING within 1 s.")
        redis.add_metric([], 1 if redis_is_up(redis_url) else 0)
        yield redis


def redis_is_up(url: str) -> bool:
    """A PING on a connection of its own with a short timeout: the cache's own connections
    wait longer, and a scrape must answer within Prometheus' timeout whatever Redis does."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError as exc:
        logger.warning("Metrics: Redis does not answer (%s)", type(exc).__name__)
        return False
    finally:
        client.close()


class _Scrape:
    """What one scrape collects: the request metrics of every worker (or of this process when
    not under gunicorn), then the health of the services and the collectors' figures."""

    def __init__(self, collectors: list[Callable[[], Iterable[Metric]]]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterable[Metric]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            workers = CollectorRegistry()
            multiprocess.MultiProcessCollector(workers)
            yield from workers.collect()
        else:
            yield from REQUESTS.collect()
        yield from service_health()
        for collector in self.collectors:
            # With the database away its figures are left out; campaign_database_up says why.
            try:
                figures = list(collector())
            except DatabaseError as exc:
                logger.warning("Metrics: %s failed (%s)", collector.__name__, type(exc).__name__)
                continue
            yield from figures


def exposition() -> bytes:
    collectors = [import_string(path) for path in settings.METRICS_COLLECTORS]
    return generate_latest(_Scrape(collectors))  # type: ignore[arg-type]
