import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def test_it_lists_published_stories_in_the_atom_feed(client, make_story):
    shown = make_story(headline="In the feed")
    hidden = make_story(headline="Not yet", is_published=False)
    response = client.get(reverse("stories:feed"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    titles = [entry.findtext(f"{ATOM}title") for entry in feed.iter(f"{ATOM}entry")]
    assert titles == [shown.headline]
    links = [link.get("href") for link in feed.iter(f"{ATOM}link")]
    assert f"https://campaign.example{shown.get_absolute_url()}" in links
    assert hidden.headline not in response.content.decode()


def test_it_lists_stories_and_pages_in_both_languages_in_the_sitemap(client, make_story):
    shown = make_story(slug="shown")
    make_story(slug="hidden", is_published=False)
    response = client.get(reverse("sitemap"))
    assert response.status_code == 200
    locations = {loc.text for loc in ET.fromstring(response.content).iter(f"{SITEMAP}loc")}
    assert f"https://campaign.example{shown.get_absolute_url()}" in locations
    assert "https://campaign.example/nl/stories/shown/" in locations
    for path in ("/", "/nl/", "/about/", "/nl/about/", "/privacy/", "/milestones/"):
        assert f"https://campaign.example{path}" in locations
    assert not any("hidden" in loc for loc in locations)


def test_it_points_robots_to_the_sitemap_without_naming_the_admin(client, settings):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    body = response.content.decode()
    assert "Sitemap: https://campaign.example/sitemap.xml" in body
    assert settings.ADMIN_URL not in body
    assert "Disallow: /petitions/*/confirm/" in body
    assert "Disallow: /nl/petitions/*/withdraw/" in body


def test_it_lists_published_petitions_in_both_languages(client, make_petition):
    make_petition(slug="open-call")
    make_petition(slug="draft-call", is_published=False)
    locations = {
        loc.text
        for loc in ET.fromstring(client.get(reverse("sitemap")).content).iter(f"{SITEMAP}loc")
    }
    assert "https://campaign.example/petitions/open-call/" in locations
    assert "https://campaign.example/nl/petitions/open-call/" in locations
    assert not any("draft-call" in loc for loc in locations)
