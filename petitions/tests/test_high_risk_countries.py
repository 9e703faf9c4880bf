"""High-risk countries: kept by staff in the admin, one click per country; for signers from them
the form says what is kept and who sees it and leaves their name out of the hand-in by default,
and the public breakdown counts them by region, never by name."""

import re

import pytest
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django_countries.data import COUNTRIES

from campaign.tests.test_valid_html import assert_valid
from petitions.models import (
    BreakdownSnapshot,
    CountryCount,
    HighRiskCountry,
    SignatureTally,
    public_figures,
)
from petitions.regions import REGION_OF, REGIONS
from petitions.reports import petition_report

pytestmark = pytest.mark.django_db

ADMIN = reverse("admin:petitions_highriskcountry_changelist")
TOGGLE = reverse("admin:petitions_highriskcountry_toggle")
ROW = re.compile(r'<tr><th scope="row">([^<]+)</th><td class="num">([^<]+)</td></tr>')


def mark(*codes: str) -> None:
    for code in codes:
        HighRiskCountry.objects.mark(country=code, username="someone")


def confirmed(petition, **countries: int) -> None:
    """Confirmed signatures already in the tally, e.g. RU=60."""
    for code, count in countries.items():
        SignatureTally.objects.create(petition=petition, country=code, shard=0, count=count)


def detail_url(petition) -> str:
    return reverse("petitions:detail", kwargs={"slug": petition.slug})


def page(client, petition, **headers) -> str:
    response = client.get(detail_url(petition), **headers)
    assert response.status_code == 200
    return response.content.decode()


def breakdown(html: str) -> list[tuple[str, str]]:
    if '<table class="breakdown__table">' not in html:
        return []
    return ROW.findall(html[html.index('<table class="breakdown__table">') :])


def without_country_list(html: str) -> str:
    """The page but for the form's list of every country (and the codes it carries)."""
    return re.sub(r"<select.*?</select>", "", html, flags=re.S)


# The admin: one click per country ---------------------------------------------------------------


def test_campaign_staff_mark_and_remove_a_country_with_one_click_each(client_in_group):
    staff = client_in_group("Campaign staff", username="campaigner")
    assert f'href="{ADMIN}"' in staff.get(reverse("admin:index")).content.decode()
    listing = staff.get(ADMIN)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert len(re.findall(r'<tr id="country-[A-Z]{2}">', html)) == len(COUNTRIES)
    assert "None: no country is marked as high-risk." in html

    response = staff.post(TOGGLE, {"country": "RU", "action": "mark"})
    assert response.status_code == 302
    assert response["Location"] == f"{ADMIN}#country-RU"
    high_risk = HighRiskCountry.objects.get()
    assert (high_risk.country, high_risk.added_by) == ("RU", "campaigner")
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_repr) == (ADDITION, "Russia (RU)")
    assert entry.user.username == "campaigner"
    html = staff.get(ADMIN).content.decode()
    assert "Russia is now a high-risk country." in html
    row = re.search(r'<tr id="country-RU">.*?</tr>', html, flags=re.S).group()
    assert "High-risk" in row and 'value="remove"' in row

    assert staff.post(TOGGLE, {"country": "RU", "action": "remove"}).status_code == 302
    assert not HighRiskCountry.objects.exists()
    removal = LogEntry.objects.latest("pk")
    assert (removal.action_flag, removal.object_repr) == (DELETION, "Russia (RU)")
    assert "Russia is no longer a high-risk country." in staff.get(ADMIN).content.decode()


def test_a_second_click_on_the_same_country_changes_nothing(client_in_group):
    staff = client_in_group("Campaign staff")
    staff.post(TOGGLE, {"country": "BY", "action": "mark"})
    staff.post(TOGGLE, {"country": "BY", "action": "mark"})
    assert HighRiskCountry.objects.count() == 1
    assert LogEntry.objects.count() == 1
    staff.post(TOGGLE, {"country": "BY", "action": "remove"})
    staff.post(TOGGLE, {"country": "BY", "action": "remove"})
    assert LogEntry.objects.count() == 2


def test_it_refuses_get_unknown_countries_and_unknown_actions(client_in_group):
    staff = client_in_group("Campaign staff")
    assert staff.get(TOGGLE, {"country": "RU", "action": "mark"}).status_code == 405
    assert staff.post(TOGGLE, {"country": "XX", "action": "mark"}).status_code == 400
    assert staff.post(TOGGLE, {"country": "ru", "action": "mark"}).status_code == 400
    assert staff.post(TOGGLE, {"country": "RU", "action": "flip"}).status_code == 400
    assert not HighRiskCountry.objects.exists()


def test_it_needs_the_csrf_token(sign_in_staff, django_user_model):
    user = django_user_model.objects.create_user("strict", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Campaign staff"))
    strict = sign_in_staff(user, on=Client(enforce_csrf_checks=True))
    assert strict.post(TOGGLE, {"country": "RU", "action": "mark"}).status_code == 403
    assert not HighRiskCountry.objects.exists()
    html = strict.get(ADMIN).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = strict.post(
        TOGGLE, {"country": "RU", "action": "mark", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert HighRiskCountry.objects.filter(country="RU").exists()


def test_marking_needs_add_and_removing_delete_permission(sign_in_staff, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_highriskcountry"))
    viewer = sign_in_staff(user)
    html = viewer.get(ADMIN).content.decode()
    assert 'value="mark"' not in html
    assert viewer.post(TOGGLE, {"country": "RU", "action": "mark"}).status_code == 403
    assert not HighRiskCountry.objects.exists()
    mark("RU")
    assert 'value="remove"' not in viewer.get(ADMIN).content.decode()
    assert viewer.post(TOGGLE, {"country": "RU", "action": "remove"}).status_code == 403
    assert HighRiskCountry.objects.filter(country="RU").exists()


def test_staff_without_the_permissions_cannot_see_or_change_the_list(client_in_group):
    editor = client_in_group("Editors")
    assert editor.get(ADMIN).status_code == 403
    assert editor.post(TOGGLE, {"country": "RU", "action": "mark"}).status_code == 403
    assert not HighRiskCountry.objects.exists()


# The list of codes, kept per process -----------------------------------------------------------


def test_the_codes_are_read_once_and_forgotten_on_each_change(django_assert_num_queries):
    assert HighRiskCountry.objects.codes() == frozenset()
    with django_assert_num_queries(0):
        assert HighRiskCountry.objects.codes() == frozenset()
    mark("RU", "BY")
    assert HighRiskCountry.objects.codes() == {"RU", "BY"}
    HighRiskCountry.objects.get(country="BY").delete()
    assert HighRiskCountry.objects.codes() == {"RU"}


def test_no_code_is_high_risk_until_staff_say_so():
    assert not HighRiskCountry.objects.exists()
    assert HighRiskCountry.objects.codes() == frozenset()


# The form -------------------------------------------------------------------------------------


@pytest.fixture
def country_header(settings):
    settings.COUNTRY_HEADER = "CF-IPCountry"


def notice(html: str) -> str:
    return re.search(r"<div [^>]*data-high-risk-notice[^>]*>", html).group()


def hide_name_box(html: str) -> str:
    return re.search(r'<input type="checkbox" name="hide_name"[^>]*>', html).group()


def test_a_visitor_from_a_high_risk_country_sees_the_note_and_the_box_ticked(
    client, petition, country_header
):
    mark("RU", "BY")
    html = page(client, petition, HTTP_CF_IPCOUNTRY="RU")
    assert " hidden" not in notice(html)
    assert "What we keep and who sees it" in html
    assert "checked" in hide_name_box(html)
    assert 'data-high-risk="BY RU"' in html
    assert 'href="/privacy/#high-risk"' in html
    assert_valid(html, "the petition page for a visitor from a high-risk country")


def test_a_visitor_from_elsewhere_gets_the_note_hidden_and_the_box_unticked(
    client, petition, country_header
):
    mark("RU")
    html = page(client, petition, HTTP_CF_IPCOUNTRY="NL")
    assert notice(html).endswith(" hidden>")
    assert "checked" not in hide_name_box(html)
    assert 'data-high-risk="RU"' in html  # for the script, should they choose it


def test_the_widget_does_the_same(client, petition, country_header):
    mark("RU")
    response = client.get(
        reverse("petitions:widget", kwargs={"slug": petition.slug}), HTTP_CF_IPCOUNTRY="RU"
    )
    html = response.content.decode()
    assert " hidden" not in notice(html)
    assert "checked" in hide_name_box(html)


def test_a_form_sent_back_with_a_high_risk_country_keeps_the_signers_choice(
    client, petition, sign_data
):
    mark("RU")
    url = reverse("petitions:sign", kwargs={"slug": petition.slug})
    response = client.post(url, sign_data(country="RU", first_name=""))
    assert response.status_code == 400
    html = response.content.decode()
    assert " hidden" not in notice(html)
    assert "checked" not in hide_name_box(html)  # they left it unticked
    html = client.post(url, sign_data(country="RU", first_name="", hide_name="on")).content
    assert "checked" in hide_name_box(html.decode())
    html = client.post(url, sign_data(country="NL", first_name="")).content.decode()
    assert notice(html).endswith(" hidden>")


# The public breakdown -----------------------------------------------------------------------------


def test_every_country_has_one_region():
    assert set(REGION_OF) == set(COUNTRIES)
    members = [code for _name, codes in REGIONS.values() for code in codes.split()]
    assert len(members) == len(set(members))


def test_high_risk_countries_are_counted_by_region_and_never_named(client, petition):
    mark("RU", "BY")
    confirmed(petition, RU=60, BY=5, UA=70, NL=57)
    html = page(client, petition)
    # Russia and Belarus: 65, shown as 60; Ukraine, not high-risk, keeps its name.
    assert breakdown(html) == [("Ukraine", "70"), ("Eastern Europe", "60"), ("Netherlands", "50")]
    assert "counted by region, without naming the country" in html
    rest = without_country_list(html)
    assert "Russia" not in rest and "Belarus" not in rest
    assert BreakdownSnapshot.objects.get().countries == [["UA", 70], ["151", 60], ["NL", 50]]
    assert_valid(html, "the petition page with a region in its breakdown")


def test_a_region_under_the_minimum_goes_into_other_countries(client, petition):
    mark("RU")
    confirmed(petition, RU=49, NL=57, BE=3)
    html = page(client, petition)
    assert breakdown(html) == [("Netherlands", "50"), ("Other countries", "50")]
    assert "Eastern Europe" not in html
    assert "counted by region" not in html


def test_a_country_marked_after_the_snapshot_is_no_longer_named_at_once(client, petition):
    confirmed(petition, RU=60, UA=55, NL=57)
    assert breakdown(page(client, petition)) == [("Russia", "60"), ("Netherlands", "50"),
                                                 ("Ukraine", "50")]  # fmt: skip
    mark("RU", "UA")
    assert breakdown(page(client, petition)) == [("Eastern Europe", "110"), ("Netherlands", "50")]
    assert BreakdownSnapshot.objects.count() == 1  # the same snapshot, regrouped


def test_regions_are_named_in_the_readers_language():
    assert CountryCount("151", 60).name == "Eastern Europe"
    assert CountryCount("151", 60).is_region
    assert not CountryCount("RU", 60).is_region


def test_partners_figures_group_them_too():
    mark("KZ")
    figures = public_figures([("KZ", 80), ("UZ", 3), ("NL", 57)], rounding=10, min_count=50)
    assert figures == [["143", 80], ["NL", 50]]
    figures = public_figures([("KZ", 80)], rounding=10, min_count=50, high_risk=set())
    assert figures == [["KZ", 80]]


def test_no_other_public_page_names_them(client, petition, make_signature):
    mark("RU")
    for _ in range(3):
        make_signature(petition, confirmed=True, country="RU")
    slug = {"slug": petition.slug}
    for url in (
        reverse("petitions:count_json", kwargs=slug),
        reverse("petitions:badge", kwargs=slug),
        reverse("pages:coalition"),
        reverse("stories:home"),
    ):
        body = client.get(url).content.decode()
        assert "Russia" not in body and '"RU"' not in body, url


def test_staff_reports_stay_exact(petition, make_signature):
    mark("RU")
    for country in ("RU", "RU", "NL"):
        make_signature(petition, confirmed=True, country=country)
    assert petition_report(petition).by_country.rows == [("Russia (RU)", 2),
                                                         ("Netherlands (NL)", 1)]  # fmt: skip


# What it costs ------------------------------------------------------------------------------


def test_the_petition_page_costs_no_query_more_once_the_codes_are_known(
    client, campaign, country_header, django_assert_num_queries
):
    mark("RU")
    page(client, campaign, HTTP_CF_IPCOUNTRY="RU")  # the codes are read once per process
    # The petition; its tally with the latest breakdown snapshot (test_query_counts.py).
    for country, shown in (("RU", True), ("NL", False)):
        campaign.forget_stats()
        with django_assert_num_queries(2):
            html = page(client, campaign, HTTP_CF_IPCOUNTRY=country)
        assert (" hidden" not in notice(html)) is shown
