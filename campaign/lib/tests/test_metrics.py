import ipaddress
from unittest import mock

import pytest
from django.db import OperationalError

from campaign.lib.tests.prometheus import families, value

PROMETHEUS = "10.0.0.7"


@pytest.fixture
def allowed(settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/29")]
    settings.METRICS_REDIS_URL = ""


def scrape(client, address: str = PROMETHEUS, **headers):
    return client.get("/metrics", REMOTE_ADDR=address, **headers)


@pytest.mark.django_db
def test_it_is_a_404_for_everyone_when_no_address_is_configured(client):
    assert scrape(client, "127.0.0.1").status_code == 404
    assert scrape(client, PROMETHEUS).status_code == 404


@pytest.mark.django_db
def test_it_answers_an_allowed_address_in_prometheus_text_format(client, allowed):
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert response["Cache-Control"] == "no-store"
    assert "campaign_database_up" in families(response)


@pytest.mark.django_db
def test_it_is_a_404_for_addresses_outside_the_configured_networks(client, allowed):
    assert scrape(client, "10.0.0.8").status_code == 404
    assert scrape(client, "127.0.0.1").status_code == 404


@pytest.mark.django_db
def test_it_is_a_404_through_a_proxy_even_from_an_allowed_address(client, allowed):
    """The proxy's own address may be allowed; what it relays from the internet is not."""
    response = scrape(client, HTTP_X_FORWARDED_FOR=PROMETHEUS)
    assert response.status_code == 404


@pytest.mark.django_db
def test_it_answers_a_scrape_by_address_over_plain_http(client, allowed, settings):
    settings.ALLOWED_HOSTS = ["campaign.example"]
    settings.SECURE_SSL_REDIRECT = True
    assert scrape(client, HTTP_HOST="10.0.0.2:8000").status_code == 200


@pytest.mark.django_db
def test_it_reports_redis_down_when_it_does_not_answer(client, allowed, settings):
    settings.METRICS_REDIS_URL = "redis://127.0.0.1:1/0"
    assert value(families(scrape(client)), "campaign_redis_up") == 0


def failing_collector():
    raise OperationalError("the database is away")


@pytest.mark.django_db
def test_it_still_answers_when_the_database_figures_fail(client, allowed, settings):
    settings.METRICS_COLLECTORS = ["campaign.lib.tests.test_metrics.failing_collector"]
    response = scrape(client)
    assert response.status_code == 200
    assert "campaign_database_up" in families(response)


@pytest.mark.django_db
def test_it_times_requests_by_view_name_never_by_path(client, allowed, petition):
    token = "s3cr3t-t0ken"
    client.get(f"/petitions/{petition.slug}/confirm/?t={token}&email=ada@example.org")
    client.get(f"/petitions/{petition.slug}/")
    client.generic("BREW", "/")
    found = families(scrape(client))
    views = {sample.labels["view"] for sample in found["campaign_request_duration_seconds"].samples}
    assert {"petitions:detail", "petitions:confirm"} <= views
    methods = {
        sample.labels["method"] for sample in found["campaign_request_duration_seconds"].samples
    }
    assert "BREW" not in methods and "other" in methods


@pytest.mark.django_db
def test_it_is_not_in_the_sitemap(client):
    assert "/metrics" not in client.get("/sitemap.xml").text


@pytest.mark.django_db
def test_it_names_the_view_of_a_page_served_from_the_page_cache(
    client, allowed, settings, petition
):
    settings.PAGE_CACHE_SECONDS = 60

    def served() -> float:
        found = families(scrape(client))
        return value(found, "campaign_request_duration_seconds_count", view="petitions:detail")

    client.get(f"/nl/petitions/{petition.slug}/")
    before = served()
    # The resolution kept with the page names it: the path is not resolved again.
    with mock.patch("campaign.lib.metrics.resolve", side_effect=AssertionError("resolved")):
        for _ in range(3):
            assert client.get(f"/nl/petitions/{petition.slug}/").status_code == 200
    assert served() == before + 3
