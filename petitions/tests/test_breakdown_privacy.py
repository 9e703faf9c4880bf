"""The public breakdown by country resists differencing: snapshots at most once per period,
rounded figures, small countries never named. The total stays live; staff see exact figures."""

import datetime as dt
import re
import threading
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import dateformat, timezone

from campaign.tests.test_valid_html import assert_valid
from petitions.models import (
    BreakdownSnapshot,
    BreakdownSnapshotQuerySet,
    SignatureTally,
    public_figures,
)
from petitions.reports import petition_report
from petitions.tests.helpers import failing_statements

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<tr><th scope="row">([^<]+)</th><td class="num">([^<]+)</td></tr>')


@pytest.fixture
def clock(monkeypatch):
    """Time that moves only when a test moves it (timezone.now everywhere)."""

    class Clock:
        now = timezone.now().replace(second=0, microsecond=0)

        def advance(self, **delta) -> None:
            self.now += dt.timedelta(**delta)

    frozen = Clock()
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


def confirmed(petition, **countries: int) -> None:
    """Confirmed signatures already in the tally, e.g. NL=57."""
    for code, count in countries.items():
        SignatureTally.objects.create(petition=petition, country=code, shard=0, count=count)


def page(client, petition) -> str:
    response = client.get(reverse("petitions:detail", kwargs={"slug": petition.slug}))
    assert response.status_code == 200
    return response.content.decode()


def breakdown(html: str) -> list[tuple[str, str]]:
    if '<table class="breakdown__table">' not in html:
        return []
    table = html[html.index('<table class="breakdown__table">') : html.index("</table>")]
    return ROW.findall(table)


def as_of(moment: dt.datetime) -> str:
    return f"By country, as of {dateformat.format(timezone.localtime(moment), 'j F Y, H:i T')}"


def test_it_keeps_the_public_breakdown_until_the_next_snapshot(
    client, petition, make_signature, clock, settings
):
    settings.BREAKDOWN_SNAPSHOT_SECONDS = 6 * 3600
    confirmed(petition, NL=59)
    first = clock.now
    html = page(client, petition)
    assert breakdown(html) == [("Netherlands", "50")]
    assert as_of(first) in html
    for _ in range(2):  # two real signers from the Netherlands confirm, a minute apart
        clock.advance(minutes=1)
        make_signature(petition, confirmed=True, country="NL")
        html = page(client, petition)
        assert breakdown(html) == [("Netherlands", "50")]
        assert as_of(first) in html
    assert "<strong>61</strong> signatures so far" in html  # the total is live
    clock.now = first + dt.timedelta(hours=6, seconds=-1)
    assert breakdown(page(client, petition)) == [("Netherlands", "50")]
    assert BreakdownSnapshot.objects.filter(petition=petition).count() == 1
    clock.advance(seconds=1)
    html = page(client, petition)
    assert breakdown(html) == [("Netherlands", "60")]
    assert as_of(clock.now) in html
    assert BreakdownSnapshot.objects.filter(petition=petition).count() == 2


def test_it_does_not_name_a_country_with_49_signers(client, petition):
    confirmed(petition, NL=49, BE=12)
    assert breakdown(page(client, petition)) == [("Other countries", "60")]
    assert BreakdownSnapshot.objects.get().countries == [["", 60]]


def test_it_leaves_out_other_countries_below_the_minimum(client, petition, make_petition):
    confirmed(petition, DE=120, NL=49)
    assert breakdown(page(client, petition)) == [("Germany", "120")]
    small = make_petition()
    confirmed(small, NL=49)
    html = page(client, small)
    assert breakdown(html) == []
    assert "Where the signatures come from" not in html


def test_it_shows_57_signers_as_50_and_says_how_it_rounds(client, petition):
    confirmed(petition, NL=57)
    html = page(client, petition)
    assert breakdown(html) == [("Netherlands", "50")]
    assert "rounded down to a multiple of 10" in html
    assert "fewer than 50 signatures are counted together" in html
    assert 'href="/privacy/#breakdown"' in html
    assert_valid(html, "the petition page with its breakdown")


def test_it_orders_countries_shown_alike_by_code_never_by_their_exact_counts():
    for netherlands, belgium in ((57, 52), (52, 57)):
        figures = public_figures(
            [("NL", netherlands), ("BE", belgium), ("DE", 60)], rounding=10, min_count=50
        )
        assert figures == [["DE", 60], ["BE", 50], ["NL", 50]]


def test_it_follows_the_configured_rule(client, petition, settings):
    settings.BREAKDOWN_ROUNDING, settings.BREAKDOWN_MIN_COUNT = 5, 10
    confirmed(petition, NL=57, BE=9, FR=8)
    assert breakdown(page(client, petition)) == [("Netherlands", "55"), ("Other countries", "15")]


def test_it_keeps_the_total_live_and_count_json_without_countries(client, petition, make_signature):
    confirmed(petition, NL=57)
    page(client, petition)
    make_signature(petition, confirmed=True, country="NL")
    assert "<strong>58</strong> signatures so far" in page(client, petition)
    response = client.get(reverse("petitions:count_json", kwargs={"slug": petition.slug}))
    assert response.json()["count"] == 58
    assert set(response.json()) == {"count", "goal", "closes_at"}


def test_it_takes_no_snapshot_where_only_the_count_shows(client, petition, make_signature):
    make_signature(petition, confirmed=True)
    assert client.get(reverse("stories:home")).status_code == 200
    thanks = client.get(reverse("petitions:thanks", kwargs={"slug": petition.slug}))
    assert thanks.status_code == 200
    assert not BreakdownSnapshot.objects.exists()


def test_it_keeps_the_staff_report_exact(petition, make_signature):
    for country, count in (("NL", 57), ("BE", 3)):
        for _ in range(count):
            make_signature(petition, confirmed=True, country=country)
    by_country = petition_report(petition).by_country
    assert by_country.rows == [("Netherlands (NL)", 57), ("Belgium (BE)", 3)]


def test_it_reads_the_snapshot_another_reader_took_first(petition, clock):
    """Two readers find the snapshot due at once: the one whose insert finds the other's row
    keeps it, fails no statement, and shows the other's."""
    confirmed(petition, NL=57)
    other = {}

    def taken_meanwhile(queryset, objs, **options):
        other["snapshot"] = BreakdownSnapshot.objects.create(
            petition=petition,
            period_start=objs[0].period_start,
            taken_at=clock.now,
            countries=[["NL", 70]],
            rounding=10,
            min_count=50,
        )
        return QuerySet.bulk_create(queryset, objs, **options)

    with (
        mock.patch.object(BreakdownSnapshotQuerySet, "bulk_create", taken_meanwhile),
        failing_statements() as failed,
    ):
        snapshot = BreakdownSnapshot.objects.take(petition_id=petition.pk)
    assert failed == []
    assert snapshot.pk == other["snapshot"].pk
    assert BreakdownSnapshot.objects.filter(petition=petition).count() == 1


def test_it_takes_due_snapshots_from_the_command(petition, make_petition, clock):
    confirmed(petition, NL=57)
    hidden = make_petition(is_published=False)
    output = StringIO()
    call_command("snapshot_breakdown", stdout=output)
    snapshot = BreakdownSnapshot.objects.get()
    assert snapshot.petition == petition
    assert snapshot.countries == [["NL", 50]]
    assert snapshot.taken_at == clock.now
    assert f"{petition.slug}: snapshot taken" in output.getvalue()
    clock.advance(hours=1)
    output = StringIO()
    call_command("snapshot_breakdown", petition.slug, hidden.slug, stdout=output)
    assert f"{petition.slug}: not due until" in output.getvalue()
    assert f"{hidden.slug}: snapshot taken" in output.getvalue()
    assert BreakdownSnapshot.objects.filter(petition=petition).count() == 1


def test_it_refuses_to_snapshot_an_unknown_petition(db):
    with pytest.raises(CommandError, match="No petition with slug: nope"):
        call_command("snapshot_breakdown", "nope")


def test_it_explains_the_rule_on_the_privacy_page(client):
    html = client.get(reverse("pages:privacy")).content.decode()
    assert '<h2 id="breakdown">The count by country</h2>' in html
    assert "at most once every six hours" in html
    assert "changes of up to nine signatures do not show" in html
    assert "fewer than five" not in html


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_it_takes_one_snapshot_for_many_readers_at_once(petition, clock):
    confirmed(petition, NL=57)
    readers = 20

    def read_together() -> set[int]:
        barrier = threading.Barrier(readers)
        seen: set[int] = set()
        problems: list = []

        def reader() -> None:
            try:
                with failing_statements() as failed:
                    barrier.wait()
                    seen.add(type(petition).objects.get(pk=petition.pk).stats().breakdown.pk)
                problems.extend(failed)
            except BaseException as exc:  # collected and asserted below
                problems.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=reader) for _ in range(readers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert problems == []
        return seen

    assert len(read_together()) == 1  # the first snapshot
    clock.advance(hours=6)
    petition.forget_stats()
    assert len(read_together()) == 1  # the next, once due
    assert BreakdownSnapshot.objects.filter(petition=petition).count() == 2
