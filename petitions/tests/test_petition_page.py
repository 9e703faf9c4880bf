import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from petitions.content import SLUG, load_petition
from petitions.models import Petition

pytestmark = pytest.mark.django_db


def page(client, petition, **params):
    return client.get(reverse("petitions:detail", kwargs={"slug": petition.slug}), params)


def test_it_shows_the_call_the_count_the_progress_the_deadline_and_the_form(
    client, petition, make_signature
):
    for _ in range(3):
        make_signature(petition, confirmed=True)
    make_signature(petition)  # pending: not counted
    response = page(client, petition)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 lang="en">Protect defenders</h1>' in html
    assert "<strong>3</strong> signatures so far" in html
    assert "<h2>Our call</h2>" in html
    assert 'Addressed to: <strong lang="en">governments at the UN</strong>' in html
    assert "<li>Protect them.</li>" in html
    assert "<strong>3</strong> signatures" in html
    assert '<progress class="count__bar" max="1000" value="3"' in html
    assert "Open until" in html
    assert 'action="/petitions/protect-defenders/sign/"' in html
    for name in ("first_name", "last_name", "email", "country", "wants_updates", "hide_name"):
        assert f'name="{name}"' in html
    assert 'href="/privacy/#signing"' in html
    assert 'name="wants_updates" id="id_wants_updates"' in html
    assert 'name="wants_updates" id="id_wants_updates" checked' not in html


def test_it_pre_selects_the_country_only_from_a_configured_proxy_header(client, petition, settings):
    assert page(client, petition).context["form"].initial["country"] == ""
    settings.COUNTRY_HEADER = "CF-IPCountry"
    response = client.get(
        reverse("petitions:detail", kwargs={"slug": petition.slug}), HTTP_CF_IPCOUNTRY="pl"
    )
    assert response.context["form"].initial["country"] == "PL"
    assert '<option value="PL" selected>' in response.content.decode()


def test_it_carries_the_source_page_into_the_form(client, petition):
    html = page(client, petition, **{"from": "story:hungary"}).content.decode()
    assert 'name="source" value="story:hungary"' in html


def test_it_replaces_the_form_with_a_message_when_closed(client, make_petition, make_signature):
    closed = make_petition(closes_at=timezone.now() - dt.timedelta(hours=1))
    html = page(client, closed).content.decode()
    assert "This petition is closed" in html
    assert 'name="email"' not in html
    assert "Closed on" in html


def test_it_says_when_a_petition_opens(client, make_petition):
    future = make_petition(opens_at=timezone.now() + dt.timedelta(days=2))
    html = page(client, future).content.decode()
    assert "This petition is not open yet" in html
    assert 'name="email"' not in html


def test_it_hides_unpublished_petitions_from_the_public_but_not_from_staff(
    client_in_group, make_petition
):
    hidden = make_petition(is_published=False)
    assert page(Client(), hidden).status_code == 404
    preview = page(client_in_group("Campaign staff"), hidden)  # they may view petitions
    assert preview.status_code == 200
    html = preview.content.decode()
    assert "Preview: this petition is not published" in html
    assert 'name="email"' not in html


def test_it_hides_unpublished_petitions_from_staff_who_may_not_view_petitions(
    staff_client, make_petition
):
    hidden = make_petition(is_published=False)
    assert page(staff_client, hidden).status_code == 404


def test_it_shows_the_count_and_a_call_to_action_on_the_home_and_story_pages(
    client, petition, make_story, make_signature
):
    make_signature(petition, confirmed=True)
    story = make_story(slug="hungary")
    home = client.get(reverse("stories:home")).content.decode()
    assert "<strong>1</strong> person has signed" in home
    assert 'href="/petitions/protect-defenders/?from=home#sign"' in home
    story_page = client.get(story.get_absolute_url()).content.decode()
    assert "<strong>1</strong> person has signed" in story_page
    assert 'href="/petitions/protect-defenders/?from=story%3Ahungary#sign"' in story_page


def test_it_serves_the_count_as_json_for_partner_sites(client, petition, make_signature):
    make_signature(petition, confirmed=True)
    make_signature(petition)
    response = client.get(reverse("petitions:count_json", kwargs={"slug": petition.slug}))
    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "goal": 1000,
        "closes_at": petition.closes_at.isoformat(),
    }
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "public" in response["Cache-Control"]
    assert "max-age=15" in response["Cache-Control"]


def test_it_answers_404_for_the_count_of_an_unpublished_petition(client, make_petition):
    hidden = make_petition(is_published=False)
    url = reverse("petitions:count_json", kwargs={"slug": hidden.slug})
    assert client.get(url).status_code == 404


def test_it_loads_the_campaign_petition_open_with_a_goal_and_a_future_deadline():
    load_petition()
    load_petition()
    petition = Petition.objects.get()
    assert petition.slug == SLUG
    assert petition.is_open
    assert petition.goal > 0
    assert petition.closes_at > timezone.now()
    assert "foreign agents" in petition.intro
