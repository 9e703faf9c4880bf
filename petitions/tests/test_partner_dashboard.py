"""The partner figures pages: a partner's staff see the signatures their partner brought, and
nothing of any other partner's, nor any signer; by country as protected as the public
breakdown; all behind the admin's sign-in with its second factor."""

import contextlib
import datetime as dt
import itertools
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaign.tests.test_valid_html import assert_valid
from partners import access as partner_access
from partners.models import Partner, PartnerStaff
from petitions import access
from petitions.models import CountryCount, Petition, Signature
from petitions.partner_figures import DAYS, partner_figures, period_start
from petitions.services import confirm_signature, erase_signatures, mark_fraudulent

pytestmark = pytest.mark.django_db

_users = itertools.count(1)


@contextlib.contextmanager
def at(moment: dt.datetime):
    """Confirm (and count) as if it were `moment`."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


@pytest.fixture
def petition(make_petition) -> Petition:
    """Open for years already, so that signatures can be confirmed in the past."""
    return make_petition(
        slug="protect-defenders",
        title="Protect defenders",
        opens_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )


@pytest.fixture
def as_user(sign_in_staff, django_user_model):
    """A client of its own, signed in with the second factor as a new staff account: a member
    of a staff group, or a partner's staff member."""

    def sign_in(
        *, group: str = "", partner: Partner | None = None, officer: bool = False
    ) -> Client:
        user = django_user_model.objects.create_user(
            f"user{next(_users)}", password="x", is_staff=True
        )
        if group:
            user.groups.add(Group.objects.get(name=group))
        if partner is not None:
            PartnerStaff.objects.create(user=user, partner=partner, is_data_officer=officer)
        return sign_in_staff(user, on=Client())

    return sign_in


def detail(partner: Partner, **query) -> str:
    url = reverse("partner_figures:detail", args=[partner.slug])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


# Signing in -------------------------------------------------------------------------------


def test_it_sends_a_session_without_the_second_factor_to_the_sign_in_page(
    django_user_model, zmina, petition
):
    user = django_user_model.objects.create_user("partner", password="x", is_staff=True)
    PartnerStaff.objects.create(user=user, partner=zmina, is_data_officer=True)
    client = Client()
    client.force_login(user)  # the password only
    for url in (reverse("partner_figures:list"), detail(zmina)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login") + "?next=")


def test_it_sends_anonymous_visitors_to_the_sign_in_page(client, zmina, petition):
    response = client.get(detail(zmina))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# Who sees which partner -----------------------------------------------------------------------


def test_a_partners_staff_go_straight_to_their_partners_figures(as_user, zmina, dignity):
    client = as_user(partner=zmina)
    response = client.get(reverse("partner_figures:list"))
    assert response.status_code == 302
    assert response["Location"] == detail(zmina)


def test_campaign_staff_choose_among_every_partner(as_user, zmina, dignity):
    response = as_user(group="Campaign staff").get(reverse("partner_figures:list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{detail(zmina)}"' in html and f'href="{detail(dignity)}"' in html
    assert_valid(html, "partner list")


def test_editors_see_no_partner(as_user, zmina, petition):
    client = as_user(group="Editors")
    response = client.get(reverse("partner_figures:list"))
    assert response.status_code == 200
    assert zmina.name not in response.content.decode()
    assert client.get(detail(zmina)).status_code == 404


def test_a_partners_staff_get_404_for_another_partner(as_user, zmina, dignity, petition):
    client = as_user(partner=zmina, officer=True)
    assert client.get(detail(zmina)).status_code == 200
    assert client.get(detail(dignity)).status_code == 404
    assert (
        client.get(reverse("partner_figures:detail", args=["no-such-partner"])).status_code == 404
    )


def test_the_admin_index_links_each_account_to_the_partners_it_may_see(as_user, zmina, dignity):
    index = reverse("admin:index")
    html = as_user(partner=zmina).get(index).content.decode()
    assert f'href="{detail(zmina)}"' in html
    assert f'href="{detail(dignity)}"' not in html
    assert dignity.name not in html
    html = as_user(group="Campaign staff").get(index).content.decode()
    assert f'href="{detail(zmina)}"' in html and f'href="{detail(dignity)}"' in html
    html = as_user(group="Editors").get(index).content.decode()
    assert reverse("partner_figures:list") not in html


def test_partners_access_names_the_permissions_petitions_access_checks(as_user):
    """partners.access names the petitions' permissions by string (it may not import them)."""
    assert partner_access.SIGNATURES_PERMISSION == access.SIGNATURES_PERMISSION
    assert set(partner_access.EXPORT_PERMISSIONS) == {
        access.EXPORT_PERMISSION,
        access.PERSONAL_DATA_PERMISSION,
    }


@pytest.mark.parametrize("group", ["Editors", "Campaign staff", "Data officers"])
def test_campaign_roles_see_and_export_partners_as_petitions_access_says(
    django_user_model, zmina, group
):
    user = django_user_model.objects.create_user(f"u-{group}", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    assert partner_access.may_see_figures(user, zmina) == access.can_see_signatures(user)
    assert partner_access.may_export(user, zmina) == access.can_export(user)


# The figures ---------------------------------------------------------------------------------


def test_the_page_shows_that_partners_figures_and_no_other_partners(
    as_user, zmina, dignity, petition, make_signature
):
    for _n in range(2):
        make_signature(petition, confirmed=True, partner=zmina)
    make_signature(petition, confirmed=True, partner=zmina, partner_updates=True)
    make_signature(petition, partner=zmina, partner_updates=True)  # pending
    fraud = make_signature(petition, confirmed=True, partner=zmina, partner_updates=True)
    mark_fraudulent(Signature.objects.filter(pk=fraud.pk))
    for _n in range(5):
        make_signature(petition, confirmed=True, partner=dignity, partner_updates=True)
    make_signature(petition, confirmed=True, partner=None, partner_updates=False)
    response = as_user(partner=zmina).get(detail(zmina))
    assert response.status_code == 200
    figures = response.context["figures"]
    assert (figures.confirmed, figures.pending, figures.consenting) == (3, 1, 1)
    assert figures.confirmed_percent == 75
    assert figures.last_days == 3
    html = response.content.decode()
    assert "3 confirmed signatures came in through ZMINA" in html
    assert "75% of the 4 signatures made through its link were confirmed" in html
    assert "1 confirmed signer agreed that ZMINA may email them." in html
    assert "ZMINA brought 3 confirmed signatures in the last 28 days." in html
    assert "Dignity" not in html
    assert_valid(html, "partner figures")


def test_a_consent_counts_only_while_the_signer_is_confirmed_and_not_erased(
    zmina, petition, make_signature
):
    kept = make_signature(petition, confirmed=True, partner=zmina, partner_updates=True)
    erased = make_signature(petition, confirmed=True, partner=zmina, partner_updates=True)
    erase_signatures(Signature.objects.filter(pk=erased.pk))
    make_signature(petition, partner=zmina, partner_updates=True)  # pending
    figures = partner_figures(partner=zmina, petition=petition)
    assert figures.consenting == 1
    assert kept.partner_updates
    # The erased signature still counts as confirmed, without its consent.
    assert figures.confirmed == 2


def test_per_day_it_counts_the_confirmations_of_each_of_the_last_28_days(
    zmina, dignity, petition, make_signature
):
    now = timezone.now()
    for days_ago, partner in [(0, zmina), (0, zmina), (3, zmina), (DAYS - 1, zmina),
                              (DAYS, zmina), (3, dignity), (3, None)]:  # fmt: skip
        signature = make_signature(petition, partner=partner)
        with at(now - dt.timedelta(days=days_ago)):
            confirm_signature(signature_id=signature.pk)
    figures = partner_figures(partner=zmina, petition=petition, now=now)
    today = timezone.localdate(now)
    assert len(figures.by_day) == DAYS
    assert figures.by_day[0] == (today - dt.timedelta(days=DAYS - 1), 1)
    assert figures.by_day[-1] == (today, 2)
    assert dict(figures.by_day)[today - dt.timedelta(days=3)] == 1
    assert figures.last_days == 4  # not the one 28 days ago, nor other partners'
    chart = figures.day_chart
    assert chart.kind == "columns"
    assert sum(value for _label, value in chart.rows) == 4


def test_it_reads_the_figures_for_the_petition_chosen_the_featured_one_by_default(
    as_user, zmina, petition, make_petition, make_signature
):
    older = make_petition(
        slug="older", title="An older petition", opens_at=petition.opens_at - dt.timedelta(days=5)
    )
    make_signature(petition, confirmed=True, partner=zmina)
    for _n in range(2):
        make_signature(older, confirmed=True, partner=zmina)
    client = as_user(partner=zmina)
    response = client.get(detail(zmina))
    assert response.context["petition"] == petition
    assert response.context["figures"].confirmed == 1
    html = response.content.decode()
    assert '<label for="partner-figures-petition">' in html
    assert '<option value="older">An older petition</option>' in html
    response = client.get(detail(zmina, petition="older"))
    assert response.context["figures"].confirmed == 2
    assert client.get(detail(zmina, petition="no-such-petition")).status_code == 404


def test_no_page_shows_any_signers_personal_data(as_user, zmina, petition, make_signature):
    make_signature(
        petition, confirmed=True, partner=zmina, partner_updates=True,
        first_name="Zelda", last_name="Quarantino", email="zelda.q@example.org",
    )  # fmt: skip
    for client in (as_user(partner=zmina, officer=True), as_user(group="Data officers")):
        html = client.get(detail(zmina)).content.decode()
        for secret in ("Zelda", "Quarantino", "zelda.q"):
            assert secret not in html


# By country: as protected as the public breakdown -------------------------------------------


def confirm_through(partner, petition, make_signature, moment, **countries) -> None:
    for country, count in countries.items():
        for _n in range(count):
            signature = make_signature(petition, partner=partner, country=country)
            with at(moment):
                confirm_signature(signature_id=signature.pk)


def test_by_country_names_no_country_under_the_threshold(
    settings, as_user, zmina, dignity, petition, make_signature
):
    settings.BREAKDOWN_ROUNDING, settings.BREAKDOWN_MIN_COUNT = 1, 3
    yesterday = timezone.now() - dt.timedelta(days=1, seconds=settings.BREAKDOWN_SNAPSHOT_SECONDS)
    confirm_through(zmina, petition, make_signature, yesterday, NL=3, KZ=2)
    confirm_through(dignity, petition, make_signature, yesterday, KZ=5)
    response = as_user(partner=zmina).get(detail(zmina))
    # Two from Kazakhstan: neither named nor counted as "Other countries" (under 3 as well).
    assert response.context["figures"].by_country == [CountryCount("NL", 3)]
    html = response.content.decode()
    assert "Netherlands" in html
    assert "Kazakhstan" not in html


def test_by_country_rounds_down_and_groups_the_small_countries(
    settings, zmina, petition, make_signature
):
    settings.BREAKDOWN_ROUNDING, settings.BREAKDOWN_MIN_COUNT = 5, 5
    earlier = timezone.now() - dt.timedelta(days=2)
    confirm_through(zmina, petition, make_signature, earlier, NL=7, KZ=3, AZ=3)
    figures = partner_figures(partner=zmina, petition=petition)
    assert figures.by_country == [CountryCount("NL", 5), CountryCount("", 5)]
    assert [name for name, _count in figures.country_chart.rows] == [
        "Netherlands",
        "Other countries",
    ]


def test_by_country_shows_no_change_before_the_next_period_starts(
    settings, as_user, zmina, petition, make_signature
):
    settings.BREAKDOWN_ROUNDING, settings.BREAKDOWN_MIN_COUNT = 1, 1
    period = dt.timedelta(seconds=settings.BREAKDOWN_SNAPSHOT_SECONDS)
    now = timezone.now()
    confirm_through(zmina, petition, make_signature, now - 2 * period, NL=1)
    confirm_through(zmina, petition, make_signature, now, KZ=1)
    client = as_user(partner=zmina)
    response = client.get(detail(zmina))
    # The signer from Kazakhstan who just confirmed is counted (the total is live) but not shown
    # by country: not until the period after theirs.
    assert response.context["figures"].confirmed == 2
    assert response.context["figures"].by_country == [CountryCount("NL", 1)]
    assert "Kazakhstan" not in response.content.decode()
    later = partner_figures(partner=zmina, petition=petition, now=period_start(now) + period)
    assert later.by_country == [CountryCount("KZ", 1), CountryCount("NL", 1)]
    just_before = partner_figures(
        partner=zmina, petition=petition, now=period_start(now) + period - dt.timedelta(seconds=1)
    )
    assert just_before.by_country == [CountryCount("NL", 1)]


def test_a_period_starts_at_a_multiple_of_the_period_since_1970(settings):
    settings.BREAKDOWN_SNAPSHOT_SECONDS = 6 * 3600
    moment = dt.datetime(2026, 3, 3, 14, 25, tzinfo=dt.UTC)
    assert period_start(moment) == dt.datetime(2026, 3, 3, 12, tzinfo=dt.UTC)
    assert period_start(dt.datetime(2026, 3, 3, 12, tzinfo=dt.UTC)) == period_start(moment)


def test_by_country_counts_no_hour_that_ended_after_the_period_start(
    settings, zmina, petition, make_signature
):
    """With a period that is not a whole number of hours, an hour the period starts in is not
    counted yet: its rollup row may hold confirmations from after the start."""
    settings.BREAKDOWN_ROUNDING, settings.BREAKDOWN_MIN_COUNT = 1, 1
    settings.BREAKDOWN_SNAPSHOT_SECONDS = 5400  # an hour and a half
    start = dt.datetime(2026, 3, 3, 13, 30, tzinfo=dt.UTC)  # 1970 + a multiple of 5400 s
    assert period_start(start) == start
    confirm_through(zmina, petition, make_signature, start - dt.timedelta(minutes=45), NL=1)
    confirm_through(zmina, petition, make_signature, start + dt.timedelta(minutes=10), KZ=1)
    figures = partner_figures(partner=zmina, petition=petition, now=start + dt.timedelta(hours=1))
    assert figures.by_country == [CountryCount("NL", 1)]


def test_before_any_petition_is_published_the_page_says_so(as_user, zmina, make_petition):
    make_petition(is_published=False)
    response = as_user(partner=zmina, officer=True).get(detail(zmina))
    assert response.status_code == 200
    assert response.context["figures"] is None
    html = response.content.decode()
    assert "No petition has been published yet" in html
    assert "Download the signers" not in html
    assert_valid(html, "partner figures without a petition")


def test_the_partners_page_gives_its_link_widget_and_badge_code(as_user, zmina, petition, settings):
    """What the partner copies onto its own pages credits it, and says where it may be framed."""
    zmina.frame_origins = "https://www.zmina.example"
    zmina.save()
    html = as_user(partner=zmina).get(detail(zmina)).content.decode()
    site = settings.SITE_URL
    assert f'value="{site}/petitions/{petition.slug}/?via=zmina"' in html
    assert f"{site}/petitions/{petition.slug}/embed/?via=zmina" in html
    assert "bringhumanrightshome:height" in html
    assert f"{site}/petitions/{petition.slug}/badge.svg" in html
    assert "It may be shown on: https://www.zmina.example." in html
