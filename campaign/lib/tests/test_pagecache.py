"""First-time visitors' pages served from each worker's memory for a few seconds."""

import pytest
from django.urls import reverse

from petitions.models import Petition

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_cache(settings):
    settings.PAGE_CACHE_SECONDS = 60


def test_it_serves_a_public_page_again_without_running_the_view(
    client, page_cache, make_story, django_assert_num_queries
):
    story = make_story()
    first = client.get(story.get_absolute_url())
    with django_assert_num_queries(0):
        second = client.get(story.get_absolute_url())
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Content-Security-Policy"] == first["Content-Security-Policy"]
    assert second["Content-Language"] == "en"
    assert int(second["Content-Length"]) == len(second.content)


def test_it_gives_staff_and_people_with_a_session_a_fresh_page(
    staff_client, page_cache, make_story, django_assert_max_num_queries
):
    story = make_story()
    staff_client.get(story.get_absolute_url())
    with django_assert_max_num_queries(10) as queries:
        staff_client.get(story.get_absolute_url())
    assert len(queries) > 0


def test_it_never_keeps_errors_or_posts(client, page_cache, db):
    client.get("/no-such-page/")
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert client.post(reverse("stories:home")).status_code == 405


def test_it_keeps_the_petition_page_but_gives_each_visitor_a_fresh_token(
    client, page_cache, petition, django_assert_num_queries
):
    from django.test import Client

    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    first = client.get(url)
    other = Client()
    with django_assert_num_queries(0):
        second = other.get(url)
    token = 'name="csrfmiddlewaretoken" value="'
    first_token = first.content.decode().split(token)[1][:64]
    second_token = second.content.decode().split(token)[1][:64]
    assert first_token != second_token
    assert "__csrf_token_slot__" not in second.content.decode()
    assert "__form_timestamp_slot__" not in second.content.decode()
    assert second.cookies["csrftoken"].value  # the cookie that goes with the token
    assert int(second["Content-Length"]) == len(second.content)
    assert '<h1 lang="en">Protect defenders</h1>' in second.content.decode()


def test_it_signs_through_a_page_served_from_the_cache(page_cache, petition, sign_data):
    from django.test import Client

    from petitions.models import Signature

    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    Client().get(url)  # fills the cache
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(url).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = browser.post(
        reverse("petitions:sign", kwargs={"slug": petition.slug}),
        sign_data(csrfmiddlewaretoken=token),
    )
    assert response.status_code == 302
    assert Signature.objects.count() == 1


def test_it_stops_serving_an_unpublished_petition_once_the_cache_expires(
    client, settings, petition
):
    settings.PAGE_CACHE_SECONDS = 0  # as after the few seconds have passed
    Petition.objects.filter(pk=petition.pk).update(is_published=False)
    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    assert client.get(url).status_code == 404


def test_it_shows_the_signer_who_just_confirmed_a_count_that_includes_them(
    client, page_cache, petition, make_signature
):
    url = reverse("petitions:thanks", kwargs={"slug": petition.slug})
    assert "<strong>0</strong> signatures" in client.get(url).content.decode()
    make_signature(petition, confirmed=True)
    assert "<strong>1</strong> signature" in client.get(url).content.decode()
