"""The rate limiter itself: parsing, keys, addresses, and the pipelined path on Redis."""

import logging
import os
from unittest import mock

import pytest
from django.core.cache import caches
from django.test import RequestFactory, override_settings

from campaign.lib import ratelimit


def test_it_parses_rates():
    assert ratelimit.parse_rates("10/m, 60/h,5/10s") == [
        ratelimit.Rate(10, 60),
        ratelimit.Rate(60, 3600),
        ratelimit.Rate(5, 10),
    ]
    with pytest.raises(ValueError, match="Not a rate"):
        ratelimit.parse_rates("ten a minute")


def test_it_uses_the_address_the_trusted_proxy_saw(settings):
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.5")
    assert ratelimit.client_address(request) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 1
    assert ratelimit.client_address(request) == "192.0.2.5"  # the spoofable part is ignored


def test_it_treats_one_ipv6_network_as_one_client():
    factory = RequestFactory()
    a = factory.get("/", REMOTE_ADDR="2001:db8:1:2::1")
    b = factory.get("/", REMOTE_ADDR="2001:db8:1:2:ffff::9")
    c = factory.get("/", REMOTE_ADDR="2001:db8:1:3::1")
    assert ratelimit.client_key(a) == ratelimit.client_key(b) != ratelimit.client_key(c)


@pytest.mark.parametrize(
    ("seen", "address"),
    [
        ("203.0.113.5", "203.0.113.5"),
        (" 203.0.113.5 ", "203.0.113.5"),
        ("203.0.113.5:51234", "203.0.113.5"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("[::ffff:203.0.113.5]:443", "203.0.113.5"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2:ffff::9]:8443", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("unknown", "unknown"),
    ],
)
def test_it_normalises_client_addresses(seen, address):
    assert ratelimit.normalise_address(seen) == address


def test_it_keys_one_client_the_same_however_its_address_is_written():
    factory = RequestFactory()
    plain = factory.get("/", REMOTE_ADDR="203.0.113.5")
    mapped = factory.get("/", REMOTE_ADDR="::ffff:203.0.113.5")
    with_port = factory.get("/", REMOTE_ADDR="203.0.113.5:40000")
    other = factory.get("/", REMOTE_ADDR="203.0.113.6")
    keys = {ratelimit.client_key(r) for r in (plain, mapped, with_port)}
    assert len(keys) == 1
    assert ratelimit.client_key(other) not in keys


def test_it_says_once_when_the_proxy_setting_does_not_match(settings, caplog, monkeypatch):
    monkeypatch.setattr(ratelimit, "_proxy_warning_given", False)
    factory = RequestFactory()
    behind_proxy = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    with caplog.at_level(logging.WARNING, logger="campaign.lib.ratelimit"):
        for _ in range(3):
            assert ratelimit.client_address(behind_proxy) == "10.0.0.1"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "TRUSTED_PROXY_COUNT is 0" in warnings[0]
    assert "198.51.100.7" not in warnings[0] and "10.0.0.1" not in warnings[0]


def test_it_says_so_when_fewer_proxies_than_configured_forwarded(settings, caplog, monkeypatch):
    monkeypatch.setattr(ratelimit, "_proxy_warning_given", False)
    settings.TRUSTED_PROXY_COUNT = 2
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.9")
    with caplog.at_level(logging.WARNING, logger="campaign.lib.ratelimit"):
        assert ratelimit.client_address(request) == "10.0.0.1"
    assert "TRUSTED_PROXY_COUNT is 2" in caplog.records[0].getMessage()


REDIS = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                     "LOCATION": "redis://127.0.0.1:6379/15"}}  # fmt: skip


@pytest.fixture
def redis_cache():
    """The production cache backend on the local Redis. Skipped where no Redis answers, unless
    REQUIRE_REDIS is set (as .ci/run does): there a missing Redis fails the run."""
    with override_settings(CACHES=REDIS):
        backend = caches["default"]
        try:
            backend.clear()
        except Exception as error:
            if os.environ.get("REQUIRE_REDIS"):
                pytest.fail(f"REQUIRE_REDIS is set but Redis does not answer: {error}")
            pytest.skip("no Redis on 127.0.0.1:6379")
        yield backend
        backend.clear()


def test_it_counts_in_redis_in_one_round_trip_with_expiring_keys(redis_cache):
    """Production keeps the counters in Redis, shared by every worker and instance."""
    rates = ratelimit.parse_rates("2/m,10/h")
    with mock.patch.object(redis_cache, "add") as generic_add:
        assert ratelimit.hit("test", "client-a", rates) is None
        assert ratelimit.hit("test", "client-a", rates) is None
        assert ratelimit.hit("test", "client-a", rates) > 0
        assert ratelimit.hit("test", "client-b", rates) is None
    generic_add.assert_not_called()  # the pipelined path, not the portable one
    client = redis_cache._cache.get_client()
    keys = client.keys("*rl:test:60:client-a:*")
    assert len(keys) == 1
    assert 0 < client.ttl(keys[0]) <= 61
    assert ratelimit.blocked("test", "client-a", rates) > 0
    assert ratelimit.blocked("test", "client-b", rates) is None
