import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_it_lists_stories_with_country_partner_order_and_a_site_link(superuser_client, make_story):
    story = make_story(partner_name="Listed Partner", is_published=False)
    response = superuser_client.get(reverse("admin:stories_story_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Listed Partner" in html
    assert "Netherlands" in html
    assert f'href="{story.get_absolute_url()}">preview</a>' in html
    assert 'name="form-0-sort_order"' in html


def test_it_searches_and_filters_stories(superuser_client, make_story):
    make_story(headline="Findable headline", country="PL")
    make_story(headline="Other headline", country="HU")
    url = reverse("admin:stories_story_changelist")
    found = superuser_client.get(url, {"q": "Findable"}).context["cl"].result_list
    assert [s.headline for s in found] == ["Findable headline"]
    filtered = superuser_client.get(url, {"country": "HU"}).context["cl"].result_list
    assert [s.headline for s in filtered] == ["Other headline"]


def test_it_prepopulates_the_slug_from_the_english_headline(superuser_client):
    response = superuser_client.get(reverse("admin:stories_story_add"))
    assert response.status_code == 200
    [prepopulated] = response.context["adminform"].prepopulated_fields
    assert prepopulated["field"].name == "slug"
    assert [field.name for field in prepopulated["dependencies"]] == ["headline_en"]


def test_it_escapes_html_in_the_admin_list(superuser_client, make_story):
    make_story(headline="<script>alert(1)</script>")
    html = superuser_client.get(reverse("admin:stories_story_changelist")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
