import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
XHTML = "{http://www.w3.org/1999/xhtml}"


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


def test_it_lists_every_page_in_all_nine_languages_with_their_alternates(client, make_story):
    make_story(slug="everywhere")
    sitemap = ET.fromstring(client.get(reverse("sitemap")).content)
    locations = {loc.text for loc in sitemap.iter(f"{SITEMAP}loc")}
    for code in ("nl", "az", "hu", "kk", "pl", "ru", "tr", "uk"):
        assert f"https://campaign.example/{code}/stories/everywhere/" in locations
        assert f"https://campaign.example/{code}/about/" in locations
    [entry] = [
        url
        for url in sitemap.iter(f"{SITEMAP}url")
        if url.find(f"{SITEMAP}loc").text == "https://campaign.example/kk/stories/everywhere/"
    ]
    alternates = {link.get("hreflang"): link.get("href") for link in entry.iter(f"{XHTML}link")}
    assert len(alternates) == 10  # nine languages and x-default
    assert alternates["x-default"] == "https://campaign.example/stories/everywhere/"
    assert alternates["ru"] == "https://campaign.example/ru/stories/everywhere/"


def test_it_has_a_stories_feed_per_language(client, make_story):
    make_story(
        slug="fed", headline="In English", headline_ru="По-русски", teaser_ru="Т", body_ru="Т"
    )
    response = client.get("/ru/stories/feed/")
    assert response.status_code == 200
    feed = ET.fromstring(response.content)
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "ru"
    assert [t.text for t in feed.iter(f"{ATOM}title")][1:] == ["По-русски"]
    links = [link.get("href") for link in feed.iter(f"{ATOM}link")]
    assert "https://campaign.example/ru/stories/fed/" in links
