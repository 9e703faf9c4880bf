"""The petition's figures on the metrics endpoint (petitions/metrics.py): right, cheap, and
naming nobody."""

import datetime as dt
import ipaddress

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from campaign.lib.tests.prometheus import families, value
from petitions import metrics as petition_metrics
from petitions.models import Signature

PROMETHEUS = "10.0.0.7"


@pytest.fixture
def allowed(settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network(PROMETHEUS)]
    settings.METRICS_REDIS_URL = ""
    petition_metrics._set_aside["at"] = float("-inf")  # counted afresh in every test


def scrape(client):
    return client.get("/metrics", REMOTE_ADDR=PROMETHEUS)


@pytest.mark.django_db
def test_it_reports_the_petition_and_outbox_figures(
    client, allowed, petition, make_signature, django_assert_max_num_queries
):
    for country in ("NL", "BE", "UA"):
        make_signature(petition, confirmed=True, country=country)
    waiting = make_signature(petition)
    set_aside = make_signature(petition)
    requested = timezone.now() - dt.timedelta(minutes=20)
    Signature.objects.filter(pk=waiting.pk).update(email_due=True, email_requested_at=requested)
    Signature.objects.filter(pk=set_aside.pk).update(
        email_due=False, email_set_aside_at=timezone.now()
    )

    # One query each: the database's health, the highest id, the tally, the outbox, and the
    # emails set aside; however many signatures there are.
    with django_assert_max_num_queries(5):
        found = families(scrape(client))

    assert value(found, "campaign_signatures_confirmed", petition=petition.slug) == 3
    assert value(found, "campaign_signings_total") == set_aside.pk
    assert value(found, "campaign_outbox_due") == 1
    assert 20 * 60 <= value(found, "campaign_outbox_oldest_due_seconds") < 21 * 60
    assert value(found, "campaign_emails_set_aside") == 1
    assert value(found, "campaign_database_up") == 1


@pytest.mark.django_db
def test_it_counts_the_emails_set_aside_at_most_once_per_period(
    client, allowed, petition, make_signature, django_assert_num_queries
):
    scrape(client)
    with django_assert_num_queries(4):
        scrape(client)


@pytest.mark.django_db
def test_it_reports_an_idle_outbox_as_zero(client, allowed):
    found = families(scrape(client))
    assert value(found, "campaign_outbox_due") == 0
    assert value(found, "campaign_outbox_oldest_due_seconds") == 0


@pytest.mark.django_db
def test_no_label_carries_personal_data(client, allowed, petition, sign_data):
    """Sign as a person would, follow a link with a token, then read every label."""
    client.post(
        f"/petitions/{petition.slug}/sign/",
        sign_data(first_name="Grace", last_name="Hopper", email="grace@example.org"),
    )
    client.get(f"/petitions/{petition.slug}/confirm/?t=s3cr3t-t0ken")
    client.get("/no-such-page/grace@example.org/")
    text = scrape(client).text
    for secret in ("Grace", "Hopper", "grace@example.org", "s3cr3t-t0ken", "no-such-page"):
        assert secret not in text
    labels = {
        name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for name in sample.labels
    }
    assert labels <= {"view", "method", "status", "petition", "le"}
