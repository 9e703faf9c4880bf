"""Rate limits per client, kept in the shared cache, keyed by a one-way hash of the address.

The raw address is never stored or logged: the key is an HMAC of it (of the /64 network for
IPv6, which one household or phone usually holds whole), and it lives in the cache only for the
length of its window. With Redis as the cache, every worker and every instance shares the same
counters. If the cache cannot be reached the limit is not applied (signing matters more than
throttling), and that is logged once a minute, not on every request.
"""

import hashlib
import hmac
import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_last_cache_warning = 0.0


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


def parse_rates(text: str) -> list[Rate]:
    """'10/m,60/h' -> [Rate(10, 60), Rate(60, 3600)]; '5/10m' means five per ten minutes."""
    rates = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _RATE.match(part)
        if not match:
            raise ValueError(f"Not a rate: {part!r} (expected e.g. '10/m' or '100/h')")
        count, multiple, unit = match.groups()
        rates.append(Rate(int(count), int(multiple or 1) * _PERIODS[unit]))
    return rates


_proxy_warning_given = False


def _warn_proxy_setting(message: str) -> None:
    """Say once per process that TRUSTED_PROXY_COUNT does not match the requests: a wrong value
    either lumps every client together or lets clients choose their own address."""
    global _proxy_warning_given
    if not _proxy_warning_given:
        _proxy_warning_given = True
        logger.warning("%s (see TRUSTED_PROXY_COUNT in the README's deploy steps)", message)


def client_address(request: HttpRequest) -> str:
    """The client's address: the socket's, or the one the trusted proxies saw."""
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not hops:
        if header:
            _warn_proxy_setting(
                "Requests carry X-Forwarded-For but TRUSTED_PROXY_COUNT is 0: behind a proxy, "
                "every client shares the proxy's rate limit"
            )
        return address
    forwarded = [a for a in (part.strip() for part in header.split(",")) if a]
    if len(forwarded) < hops:
        _warn_proxy_setting(
            f"TRUSTED_PROXY_COUNT is {hops} but a request came through fewer proxies: its "
            "socket address is used"
        )
        return address
    return forwarded[-hops]


def normalise_address(value: str) -> str:
    """One client, one string: no port ('203.0.113.5:443', '[2001:db8::1]:443'), no IPv6 zone,
    an IPv4 address seen as IPv6-mapped ('::ffff:203.0.113.5') is that IPv4 address, and IPv6
    is grouped by its /64 network, which one household or phone usually holds whole. Whatever
    does not parse as an address is kept as it is (it is only ever hashed)."""
    text = value.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # an IPv4 address with a port
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return value.strip()
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return f"{ipaddress.ip_network(f'{ip}/64', strict=False).network_address}/64"
    return str(ip)


def client_key(request: HttpRequest) -> str:
    return hash_value(normalise_address(client_address(request)))


def _warn_cache_down(exc: Exception) -> None:
    global _last_cache_warning
    now = time.monotonic()
    if now - _last_cache_warning > 60:
        _last_cache_warning = now
        logger.warning("Rate limits are off: the cache cannot be reached (%s)", type(exc).__name__)


def hash_value(value: str) -> str:
    """A keyed one-way hash: the same input gives the same key, and the key gives nothing back."""
    secret = hashlib.sha256(f"ratelimit:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]


def _increment_redis(backend: RedisCache, keys: list[tuple[str, int]]) -> list[int]:
    """INCR and EXPIRE every window's counter in one round trip."""
    # Django's RedisCache builds a new client object on every call (the connection pool is
    # shared); keep one per backend instance (they are per thread), which costs nothing.
    # Private API: Django's cache API has no pipeline or raw client, so this reaches for
    # RedisCache._cache (its RedisCacheClient) and its get_client(); a Django upgrade may
    # change them (the Redis tests in test_ratelimit.py would show it).
    client = getattr(backend, "_ratelimit_client", None)
    if client is None:
        client = backend._cache.get_client(write=True)
        backend._ratelimit_client = client
    pipe = client.pipeline(transaction=False)
    for key, ttl in keys:
        full_key = backend.make_and_validate_key(key)
        pipe.incr(full_key)
        pipe.expire(full_key, ttl)
    return pipe.execute()[0::2]


def _increment(keys: list[tuple[str, int]]) -> list[int]:
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        return _increment_redis(backend, keys)
    used = []
    for key, ttl in keys:
        cache.add(key, 0, timeout=ttl)
        try:
            used.append(cache.incr(key))
        except ValueError:  # expired between add and incr
            used.append(1)
    return used


def _now() -> float:
    """The clock the windows are cut from (tests pin it)."""
    return time.time()


def _count(scope: str, key: str, rates: list[Rate], *, add: bool) -> int | None:
    now = _now()
    windows = [int(now // rate.seconds) for rate in rates]
    keys = [
        (f"rl:{scope}:{rate.seconds}:{key}:{window}", rate.seconds + 1)
        for rate, window in zip(rates, windows, strict=True)
    ]
    try:
        if add:
            used = _increment(keys)
        else:
            found = cache.get_many([k for k, _ttl in keys])
            used = [found.get(k, 0) for k, _ttl in keys]
    except Exception as exc:
        _warn_cache_down(exc)
        return None
    wait = None
    for rate, window, count in zip(rates, windows, used, strict=True):
        # Counting: this request is over the limit. Peeking: the next one would be.
        if count > rate.count or (not add and count >= rate.count):
            left = math.ceil((window + 1) * rate.seconds - now)
            wait = max(wait or 0, left, 1)
    return wait


def hit(scope: str, key: str, rates: list[Rate]) -> int | None:
    """Count one request; return the seconds to wait if any limit is exceeded, else None."""
    return _count(scope, key, rates, add=True)


def blocked(scope: str, key: str, rates: list[Rate]) -> int | None:
    """Without counting: the seconds to wait if the limit is already used up, else None."""
    return _count(scope, key, rates, add=False)


def limit(request: HttpRequest, scope: str, rates_setting: str) -> int | None:
    return hit(scope, client_key(request), parse_rates(rates_setting))
