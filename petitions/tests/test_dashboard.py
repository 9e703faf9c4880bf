"""The campaign dashboard on a petition's admin page: charts per hour, per day, by country,
story, partner and page, read from the rollup only, never from the signatures."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaign.tests.test_valid_html import assert_valid
from partners.models import Partner
from petitions.models import Signature, SignatureTimeline, SignatureTotals
from petitions.reports import petition_report

pytestmark = pytest.mark.django_db

# A Tuesday afternoon, in winter (Amsterdam is UTC+1).
NOW = dt.datetime(2026, 3, 3, 14, 20, tzinfo=dt.UTC)


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = NOW

    frozen = Clock()
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


@pytest.fixture
def petition(make_petition, clock):
    return make_petition(
        slug="protect-defenders",
        title="Protect defenders",
        opens_at=NOW - dt.timedelta(days=60),
        closes_at=NOW + dt.timedelta(days=60),
    )


@pytest.fixture
def confirm_at(clock, make_signature, petition):
    """A signature confirmed at a given moment."""

    def confirm(moment: dt.datetime, **fields) -> Signature:
        clock.now = moment
        try:
            return make_signature(petition, confirmed=True, **fields)
        finally:
            clock.now = NOW

    return confirm


def page_url(petition) -> str:
    return reverse("admin:petitions_petition_change", args=[petition.pk])


def test_it_charts_the_last_48_hours_hour_by_hour(petition, confirm_at):
    confirm_at(NOW - dt.timedelta(minutes=5))  # this hour
    confirm_at(NOW - dt.timedelta(hours=2))
    confirm_at(NOW - dt.timedelta(hours=2, minutes=10))
    confirm_at(NOW - dt.timedelta(hours=47))  # the first hour shown
    confirm_at(NOW - dt.timedelta(hours=48, minutes=30))  # before it
    chart = petition_report(petition).per_hour
    assert chart.kind == "columns"
    assert len(chart.rows) == 48
    counts = [count for _label, count in chart.rows]
    assert counts[-1] == 1 and counts[-3] == 2 and counts[0] == 1
    assert sum(counts) == 4
    assert chart.rows[-3][0] == "March 3, noon"  # UTC, the tests' TIME_ZONE
    assert chart.summary == (
        "4 signatures in the last 48 hours. The busiest hour was March 3, noon, with 2."
    )


def test_it_charts_the_last_28_days_in_the_sites_time_zone(petition, confirm_at, settings):
    settings.TIME_ZONE = "Europe/Amsterdam"
    confirm_at(NOW)
    # 23:30 UTC on 1 March is already 2 March in Amsterdam.
    confirm_at(dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC))
    confirm_at(dt.datetime(2026, 3, 1, 22, 30, tzinfo=dt.UTC))
    confirm_at(NOW - dt.timedelta(days=27))  # 4 February: the first day shown
    confirm_at(NOW - dt.timedelta(days=28))  # before it
    chart = petition_report(petition).per_day
    assert len(chart.rows) == 28
    assert chart.rows[0] == ("4 February 2026", 1)
    assert chart.rows[-3:] == [("1 March 2026", 1), ("2 March 2026", 1), ("3 March 2026", 1)]
    assert chart.summary == (
        "4 signatures in the last 28 days. The busiest day was 4 February 2026, with 1."
    )


def test_it_breaks_all_signatures_down_by_country_story_partner_and_page(
    petition, confirm_at, make_story, make_signature
):
    make_story(slug="hungary", headline="A story from Hungary")
    zmina = Partner.objects.create(name="ZMINA Human Rights Centre", short_name="ZMINA",
                                   slug="zmina", country="UA")  # fmt: skip
    long_ago = NOW - dt.timedelta(days=50)
    confirm_at(long_ago, country="HU", source="story", source_story="hungary")
    confirm_at(NOW, country="HU", source="story", source_story="hungary", partner=zmina)
    confirm_at(NOW, country="UA", source="petition", partner=zmina)
    confirm_at(NOW, country="UA", source="story", source_story="gone")
    confirm_at(NOW, country="NL", source="home")
    make_signature(petition, country="DE")  # pending: not counted
    report = petition_report(petition)
    assert report.by_country.rows == [("Hungary (HU)", 2), ("Ukraine (UA)", 2),
                                      ("Netherlands (NL)", 1)]  # fmt: skip
    assert report.by_story.rows == [("A story from Hungary", 2), ("gone", 1)]
    assert report.by_partner.rows == [("No partner", 3), ("ZMINA", 2)]
    assert report.by_source.rows == [("a story", 3), ("home page", 1), ("petition page", 1)]
    assert report.by_country.summary == (
        "Confirmed signatures came from 3 countries. The most came from Hungary (HU): 2 of 5."
    )
    assert report.by_partner.summary == (
        "2 of 5 signatures came through partners' links. The partner that brought the most: "
        "ZMINA, with 2."
    )
    assert report.by_story.summary == (
        "3 signatures were given on the stories' pages. The most on “A story from Hungary”: 2."
    )


def test_it_says_so_when_nothing_is_confirmed_yet(petition):
    report = petition_report(petition)
    assert report.per_hour.summary == "No signatures were confirmed in the last 48 hours."
    assert report.by_country.summary == "No confirmed signatures yet."
    assert report.by_country.rows == []


def test_it_says_how_many_came_from_stories_and_partners_even_when_none_did(petition, confirm_at):
    confirm_at(NOW, country="NL", source="home")
    report = petition_report(petition)
    assert report.by_story.summary == "0 signatures were given on the stories' pages."
    assert report.by_partner.summary == "0 of 1 signature came through a partner's link."
    assert report.by_partner.rows == [("No partner", 1)]


def test_it_counts_together_what_shares_a_label(petition, confirm_at):
    for slug in ("a", "b"):
        partner = Partner.objects.create(name=f"Partner {slug}", short_name="Same", slug=slug,
                                         country="NL")  # fmt: skip
        confirm_at(NOW, partner=partner)
    assert petition_report(petition).by_partner.rows == [("Same", 2)]


def test_it_counts_figures_the_rollup_keeps_after_erasure_and_leaves_out_empty_rows(
    petition, confirm_at
):
    from petitions.services import erase_signatures, withdraw_signature

    kept = confirm_at(NOW, country="HU", source="story", source_story="hungary")
    gone = confirm_at(NOW, country="BE")
    erase_signatures(Signature.objects.filter(pk=kept.pk))
    withdraw_signature(signature_id=gone.pk)
    report = petition_report(petition)
    assert report.by_story.rows == [("hungary", 1)]
    assert report.by_country.rows == [("Hungary (HU)", 1)]


def test_the_page_reads_the_rollup_only_in_a_fixed_number_of_queries(
    superuser_client, petition, confirm_at
):
    partners = [
        Partner.objects.create(name=f"Partner {n}", slug=f"partner-{n}", country="NL")
        for n in range(3)
    ]

    def render() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            response = superuser_client.get(page_url(petition))
        assert response.status_code == 200
        assert response.context["report"]
        return [query["sql"] for query in queries]

    render()  # the first request after signing in also updates the session
    confirm_at(NOW, country="NL", partner=partners[0])
    few = render()
    for n, partner in enumerate(partners):
        for hours in (1, 30, 24 * 20):
            confirm_at(NOW - dt.timedelta(hours=hours + n), country="UA", partner=partner,
                       source="story", source_story=f"story-{n}")  # fmt: skip
    many = render()
    # Sign-in (session, user, second factor), the petition twice, the rollups five times, the
    # partners' names and the stories' headlines.
    assert len(many) == len(few) == 12
    assert not [sql for sql in many if 'petitions_signature"' in sql]
    rollups = ('"petitions_signaturetimeline"', '"petitions_signaturetotals"')
    assert len([sql for sql in many if any(table in sql for table in rollups)]) == 5


def test_the_page_draws_each_chart_with_its_table_and_summary(superuser_client, petition,
                                                              confirm_at):  # fmt: skip
    confirm_at(NOW, country="HU", first_name="<b>Ada</b>")
    response = superuser_client.get(page_url(petition))
    html = response.content.decode()
    assert html.count('role="img"') == 6
    assert html.count("<summary>Show the figures as a table</summary>") == 6
    assert "css/charts.css" in html
    assert "1 signature in the last 48 hours." in html
    assert "Hungary (HU)" in html
    assert "<b>Ada</b>" not in html and "Ada" not in html
    assert_valid(html, "the petition's admin page")


def test_only_staff_who_may_see_signatures_see_the_dashboard(client_in_group, petition, confirm_at):
    confirm_at(NOW)
    editor = client_in_group("Editors")
    response = editor.get(page_url(petition))
    assert response.status_code == 200
    assert "report" not in response.context
    assert 'role="img"' not in response.content.decode()


def test_the_dashboard_reads_in_the_admins_language(superuser_client, petition, confirm_at):
    confirm_at(NOW, country="HU")
    confirm_at(NOW, country="HU")
    html = superuser_client.get("/ru" + page_url(petition)).content.decode()
    assert "Венгрия (HU)" in html


def test_rollup_rows_are_what_it_reads(petition, clock):
    """Figures the rollups hold, with no signature behind them, are what the dashboard shows:
    it counts no signatures."""
    SignatureTimeline.objects.create(petition=petition, hour=NOW.replace(minute=0), shard=2,
                                     count=1234)  # fmt: skip
    SignatureTotals.objects.create(petition=petition, country="NL", source="home", shard=5,
                                   count=1234)  # fmt: skip
    SignatureTotals.objects.create(petition=petition, country="NL", source="home", shard=1,
                                   count=1)  # fmt: skip
    report = petition_report(petition)
    assert report.by_country.rows == [("Netherlands (NL)", 1235)]
    assert report.by_source.rows == [("home page", 1235)]
    assert report.per_hour.rows[-1][1] == 1234
    assert report.per_day.rows[-1][1] == 1234
    assert "1,234 signatures in the last 48 hours." in report.per_hour.summary
