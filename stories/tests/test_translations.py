from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "nl" / "LC_MESSAGES"
PAGES = ["stories:home", "stories:list", "stories:milestones", "pages:about", "pages:privacy"]


def dutch(name: str, **kwargs) -> str:
    with translation.override("nl"):
        return reverse(name, kwargs=kwargs or None)


def test_it_keeps_english_unprefixed_and_dutch_under_nl():
    assert reverse("stories:home") == "/"
    assert dutch("stories:home") == "/nl/"
    assert dutch("stories:detail", slug="x") == "/nl/stories/x/"


@pytest.mark.parametrize("name", PAGES)
def test_it_serves_dutch_pages_in_dutch(client, name):
    response = client.get(dutch(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="nl" dir="ltr">' in html
    assert "Naar de inhoud" in html  # the skip link
    assert "Skip to content" not in html
    assert 'hreflang="en"' in html


def test_it_translates_the_home_page_and_country_names(client, make_story):
    make_story(country="HU", partner_name="Hungarian Helsinki Committee")
    html = client.get("/nl/").content.decode()
    assert "Mensenrechten beginnen thuis" in html
    assert "Hongarije" in html
    assert "Human rights start at home" not in html


def test_it_marks_english_story_text_as_english_on_dutch_pages(client, make_story):
    story = make_story(headline="An English headline")
    html = client.get(dutch("stories:detail", slug=story.slug)).content.decode()
    assert '<html lang="nl" dir="ltr">' in html
    assert '<h1 lang="en">An English headline</h1>' in html
    assert '<div class="story__body prose" lang="en">' in html
    assert "Alle verhalen" in html  # the navigation, in Dutch
    assert "All stories" not in html


def test_it_switches_language_on_the_same_page(client, make_story):
    story = make_story(slug="switch-me")
    english = client.get(story.get_absolute_url()).content.decode()
    assert '<a href="/nl/stories/switch-me/" hreflang="nl" lang="nl">Nederlands</a>' in english
    dutch_page = client.get("/nl/stories/switch-me/").content.decode()
    assert '<a href="/stories/switch-me/" hreflang="en" lang="en">English</a>' in dutch_page


def test_it_shows_english_at_the_root_whatever_the_browser_asks_for(client, db):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 200
    assert '<html lang="en" dir="ltr">' in response.content.decode()


def test_it_has_a_complete_dutch_catalogue():
    with open(CATALOGUE / "django.po", "rb") as po:
        catalogue = read_po(po)
    untranslated = [m.id for m in catalogue if m.id and not m.string]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert untranslated == []
    assert fuzzy == []


def _entries(messages) -> dict:
    # Plural entries come back as tuples from .po files and as lists from .mo files.
    def plain(value):
        return tuple(value) if isinstance(value, list | tuple) else value

    return {plain(m.id): plain(m.string) for m in messages if m.id}


def test_it_ships_a_compiled_catalogue_that_matches_the_source():
    with open(CATALOGUE / "django.po", "rb") as po:
        source = _entries(read_po(po))
    with open(CATALOGUE / "django.mo", "rb") as mo:
        compiled = _entries(read_mo(mo))
    assert compiled == source, "run `make messages` to recompile locale/nl"
