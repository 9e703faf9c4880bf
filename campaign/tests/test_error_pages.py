from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_it_shows_the_404_page_in_the_site_design(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "We cannot find that page" in html
    assert '<a class="skip-link" href="#main">' in html


def test_it_shows_the_dutch_404_page_under_nl(client):
    response = client.get("/nl/no-such-page/")
    assert response.status_code == 404
    assert '<html lang="nl" dir="ltr">' in response.content.decode()


def test_it_shows_a_calm_500_page_without_details(client, settings):
    client.raise_request_exception = False
    with mock.patch("stories.views.Story.objects.published", side_effect=RuntimeError("boom")):
        response = client.get(reverse("stories:home"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "boom" not in html and "Traceback" not in html


def test_it_shows_a_503_page_when_the_database_is_lost_during_a_request(client):
    with mock.patch(
        "stories.views.Story.objects.published", side_effect=OperationalError("server closed")
    ):
        response = client.get(reverse("stories:home"))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    html = response.content.decode()
    assert "cannot reach its database" in html
    assert "server closed" not in html


def test_it_explains_an_expired_form_instead_of_the_default_csrf_page(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("admin:login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert "The form has expired" in response.content.decode()
