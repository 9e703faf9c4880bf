"""Stories, milestones and pages written per language: what a reader is shown, what the
page says about it, what staff see, and the seeded translations."""

import re

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from campaign.lib.pagecache import TimedCache
from stories.models import Milestone, Page, Story

pytestmark = pytest.mark.django_db

CODES = ["en", "nl", "az", "hu", "kk", "pl", "ru", "tr", "uk"]


def story_in(code: str, slug: str) -> str:
    with translation.override(code):
        return reverse("stories:detail", kwargs={"slug": slug})


def test_a_translated_story_is_shown_whole_in_the_readers_language_and_says_so(client, make_story):
    make_story(
        slug="baku",
        headline="Singing in Baku",
        teaser="An English teaser.",
        body="An English body.",
        headline_ru="Песни в Баку",
        teaser_ru="Русский анонс.",
        body_ru="Русский текст.",
    )
    html = client.get("/ru/stories/baku/").content.decode()
    assert '<h1 lang="ru">Песни в Баку</h1>' in html
    assert "Русский текст." in html and "An English body." not in html
    with translation.override("ru"):
        note = translation.gettext("Translation. Original language: %(language)s.") % {
            "language": translation.gettext("English")
        }
        original = translation.gettext("Read the original")
    assert note in html
    assert f'<a href="/stories/baku/" hreflang="en">{original}</a>' in html
    english = client.get("/stories/baku/").content.decode()
    assert '<h1 lang="en">Singing in Baku</h1>' in english
    assert 'class="translation-note"' not in english


def test_a_missing_translation_shows_the_original_with_its_language(client, make_story):
    make_story(
        slug="budapest",
        language="hu",
        headline_hu="Egy történet",
        teaser_hu="Magyar bevezető.",
        body_hu="Magyar szöveg.",
        headline_en="A story",
        teaser_en="English teaser.",
        body_en="English body.",
    )
    polish = client.get("/pl/stories/budapest/").content.decode()
    assert '<h1 lang="hu">Egy történet</h1>' in polish
    assert '<div class="story__body prose" lang="hu">' in polish
    with translation.override("pl"):
        note = translation.gettext(
            "Not yet translated into this language: shown in %(language)s, as written."
        ) % {"language": translation.gettext("Hungarian")}
    assert note in polish
    # English readers get the English translation, with a link to the Hungarian original.
    english = client.get("/stories/budapest/").content.decode()
    assert '<h1 lang="en">A story</h1>' in english
    assert '<a href="/hu/stories/budapest/" hreflang="hu">Read the original</a>' in english


def test_a_partial_translation_is_not_mixed_into_the_page(client, make_story):
    make_story(slug="half", headline="English headline", headline_tr="Türkçe başlık")
    html = client.get("/tr/stories/half/").content.decode()
    assert '<h1 lang="en">English headline</h1>' in html
    assert "Türkçe başlık" not in html


def test_cards_mark_each_story_with_the_language_it_is_shown_in(client, make_story):
    make_story(slug="translated", headline_uk="Українською", teaser_uk="Т", body_uk="Т")
    make_story(slug="untranslated", headline="Only English")
    html = client.get("/uk/stories/").content.decode()
    assert re.search(r'<article class="card" lang="uk">', html)
    assert re.search(r'<article class="card" lang="en">', html)


def test_milestones_are_translated_or_shown_as_written(client):
    Milestone.objects.create(
        key="m", date="2018-12-01", title="At the UN", description="English.",
        title_kk="БҰҰ-да", description_kk="Қазақша.",
    )  # fmt: skip
    html = client.get("/kk/milestones/").content.decode()
    assert '<h2 class="timeline__title" lang="kk">БҰҰ-да</h2>' in html
    assert (
        '<h2 class="timeline__title" lang="en">At the UN</h2>'
        in client.get("/az/milestones/").content.decode()
    )


def test_staff_write_only_the_original_and_see_which_translations_are_missing(
    make_story, superuser_client
):
    story = Story(
        slug="s", country="HU", defender_name="D", language="hu", headline_en="Only English"
    )
    with pytest.raises(ValidationError) as error:
        story.clean()
    assert set(error.value.message_dict) == {"headline_hu", "teaser_hu", "body_hu"}
    make_story(slug="listed", headline="Listed", headline_nl="Vermeld", teaser_nl="T", body_nl="B")
    listing = superuser_client.get(reverse("admin:stories_story_changelist")).content.decode()
    assert "az hu kk pl ru tr uk" in listing  # missing: all but English and Dutch
    form = superuser_client.get(reverse("admin:stories_story_add")).content.decode()
    for code in CODES:
        assert f'name="headline_{code}"' in form


def test_the_loader_writes_the_real_story_in_all_nine_languages():
    call_command("load_campaign_content")
    story = Story.objects.get(slug="azerbaijan")
    for code in CODES:
        assert story.has_translation(code), code
    assert story.language == "en"
    with translation.override("ru"):
        assert story.headline != story.text_in("headline", "en")
        assert "Расул" in story.body


@pytest.mark.parametrize(
    "slug, language",
    [("netherlands", "nl"), ("ukraine", "uk"), ("hungary", "hu"), ("turkey", "tr"),
     ("kazakhstan", "kk"), ("russia", "ru"), ("poland", "pl")],
)  # fmt: skip
def test_each_sample_story_is_written_in_its_countrys_language_and_in_english(slug, language):
    call_command("load_campaign_content")
    story = Story.objects.get(slug=slug)
    assert story.language == language
    assert story.is_sample
    assert {code for code in CODES if story.has_translation(code)} == {language, "en"}


def test_the_loader_adds_missing_translations_and_keeps_staffs_text():
    call_command("load_campaign_content")
    Story.objects.filter(slug="azerbaijan").update(headline_ru="Staff's own", headline_pl=None)
    call_command("load_campaign_content")
    story = Story.objects.get(slug="azerbaijan")
    assert story.headline_ru == "Staff's own"
    assert story.headline_pl  # seeded again where it had gone
    call_command("load_campaign_content", "--reset")
    assert Story.objects.get(slug="azerbaijan").headline_ru != "Staff's own"


def test_staff_write_the_about_page_per_language_once_published(client):
    built_in = client.get("/ru/about/").content.decode()
    page = Page.objects.create(
        key="about", title_en="About us", body_en="Our **own** words.", language="en",
        title_uk="Про нас", body_uk="Наші *власні* слова.",
    )  # fmt: skip
    assert client.get("/ru/about/").content.decode() == built_in  # not yet published
    Page.objects.filter(pk=page.pk).update(is_published=True)
    cache.clear()
    TimedCache.clear_all()  # first-time visitors' pages are kept a few seconds
    ukrainian = client.get("/uk/about/").content.decode()
    assert '<h1 lang="uk">Про нас</h1>' in ukrainian
    assert "<em>власні</em>" in ukrainian
    russian = client.get("/ru/about/").content.decode()
    assert '<h1 lang="en">About us</h1>' in russian  # no Russian yet: the original, marked
    assert "<strong>own</strong>" in russian
    assert client.get("/privacy/").status_code == 200  # the other page keeps its built-in text


def test_editors_may_write_the_pages(client_in_group):
    editor = client_in_group("Editors")
    assert editor.get(reverse("admin:stories_page_add")).status_code == 200
    staff = client_in_group("Campaign staff", username="staff")
    assert staff.get(reverse("admin:stories_page_add")).status_code == 403
