import logging
from unittest import mock

import pytest
from django.core.cache import cache
from django.urls import reverse

from campaign.lib import ratelimit
from petitions.models import Signature

pytestmark = pytest.mark.django_db


def sign(client, petition, data, address="198.51.100.7", **extra):
    return client.post(
        reverse("petitions:sign", kwargs={"slug": petition.slug}),
        data,
        REMOTE_ADDR=address,
        **extra,
    )


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
    assert not Signature.objects.with_email("late@example.org").exists()
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


def test_it_keeps_signing_when_the_cache_is_down_and_logs_it_once(
    client, petition, sign_data, caplog, monkeypatch
):
    monkeypatch.setattr(ratelimit, "_last_cache_warning", 0.0)
    with (
        mock.patch.object(cache, "incr", side_effect=ConnectionError("redis down")),
        caplog.at_level(logging.WARNING, logger="campaign.lib.ratelimit"),
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
