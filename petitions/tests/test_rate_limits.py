import logging
import os
from unittest import mock

import pytest
from django.core.cache import cache, caches
from django.test import RequestFactory, override_settings
from django.urls import reverse

from campaign import ratelimit
from petitions.models import Signature

pytestmark = pytest.mark.django_db


def sign(client, petition, data, address="198.51.100.7", **extra):
    return client.post(
        reverse("petitions:sign", kwargs={"slug": petition.slug}),
        data,
        REMOTE_ADDR=address,
        **extra,
    )


def test_it_parses_rates():
    assert ratelimit.parse_rates("10/m, 60/h,5/10s") == [
        ratelimit.Rate(10, 60),
        ratelimit.Rate(60, 3600),
        ratelimit.Rate(5, 10),
    ]
    with pytest.raises(ValueError, match="Not a rate"):
        ratelimit.parse_rates("ten a minute")


def test_it_answers_429_with_a_clear_page_after_the_burst_limit(
    client, petition, sign_data, settings
):
    settings.RATE_LIMIT_SIGN = "3/m,100/h"
    for n in range(3):
        assert sign(client, petition, sign_data(email=f"p{n}@example.org")).status_code == 302
    response = sign(client, petition, sign_data(email="late@example.org"))
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    html = response.content.decode()
    assert "Please wait a moment" in html
    assert "Please try again in" in html
    assert not Signature.objects.filter(email="late@example.org").exists()
    # Another connection is not affected.
    assert (
        sign(client, petition, sign_data(email="x@example.org"), "198.51.100.8").status_code == 302
    )


def test_it_applies_the_sustained_limit_too(client, petition, sign_data, settings):
    settings.RATE_LIMIT_SIGN = "100/m,2/h"
    sign(client, petition, sign_data(email="a@example.org"))
    sign(client, petition, sign_data(email="b@example.org"))
    assert sign(client, petition, sign_data(email="c@example.org")).status_code == 429


def test_it_keys_limits_on_a_hash_never_on_the_raw_address(client, petition, sign_data):
    with mock.patch.object(cache, "add", wraps=cache.add) as added:
        sign(client, petition, sign_data(), "203.0.113.99")
    keys = [call.args[0] for call in added.call_args_list]
    assert keys and all(key.startswith("rl:sign:") for key in keys)
    assert not any("203.0.113.99" in key for key in keys)


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


def test_it_keeps_signing_when_the_cache_is_down_and_logs_it_once(
    client, petition, sign_data, caplog, monkeypatch
):
    monkeypatch.setattr(ratelimit, "_last_cache_warning", 0.0)
    with (
        mock.patch.object(cache, "incr", side_effect=ConnectionError("redis down")),
        caplog.at_level(logging.WARNING, logger="campaign.ratelimit"),
    ):
        for n in range(3):
            response = sign(client, petition, sign_data(email=f"down{n}@example.org"))
            assert response.status_code == 302
    assert Signature.objects.count() == 3
    warnings = [r for r in caplog.records if "Rate limits are off" in r.getMessage()]
    assert len(warnings) == 1


def test_it_limits_requests_for_new_links(client, petition, settings):
    settings.RATE_LIMIT_LINKS = "2/m"
    url = reverse("petitions:new_link", kwargs={"slug": petition.slug})
    for _ in range(2):
        assert client.post(url, {"email": "a@example.org"}).status_code == 302
    assert client.post(url, {"email": "a@example.org"}).status_code == 429


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
