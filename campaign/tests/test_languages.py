"""The site in its nine languages: URLs, the interface, the switcher, the notice, formats and the
catalogues. (Content written per language: stories/tests/test_content_translations.py.)"""

import datetime as dt
import re
from pathlib import Path

import django
import pytest
from babel.messages.mofile import read_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from campaign import languages
from petitions.models import PetitionStats

pytestmark = pytest.mark.django_db

CODES = [code for code, _name in settings.LANGUAGES]
OTHERS = [code for code in CODES if code != "en"]
LOCALE = Path(settings.BASE_DIR) / "locale"
PAGES = ["stories:home", "stories:list", "stories:milestones", "pages:about", "pages:privacy"]
LOCAL_NAMES = {
    "en": "English",
    "nl": "Nederlands",
    "az": "Azərbaycanca",
    "hu": "Magyar",
    "kk": "Қазақша",
    "pl": "Polski",
    "ru": "Русский",
    "tr": "Türkçe",
    "uk": "Українська",
}


def url(name: str, code: str, **kwargs) -> str:
    with translation.override(code):
        return reverse(name, kwargs=kwargs or None)


def in_language(code: str, message: str) -> str:
    with translation.override(code):
        return translation.gettext(message)


def test_the_site_has_the_nine_campaign_languages_english_unprefixed():
    assert CODES == ["en", "nl", "az", "hu", "kk", "pl", "ru", "tr", "uk"]
    assert url("stories:home", "en") == "/"
    for code in OTHERS:
        assert url("stories:home", code) == f"/{code}/"
        assert url("stories:detail", code, slug="x") == f"/{code}/stories/x/"


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("name", PAGES)
def test_every_page_answers_in_every_language_with_its_lang_dir_and_interface(client, name, code):
    response = client.get(url(name, code))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{code}" dir="ltr">' in html
    skip_link = in_language(code, "Skip to content")
    assert f'class="skip-link" href="#main">{skip_link}</a>' in html
    if code != "en":
        assert skip_link != "Skip to content"
        assert "Skip to content" not in html


@pytest.mark.parametrize("code", CODES)
def test_the_story_and_petition_pages_answer_in_every_language(client, make_story, petition, code):
    story = make_story(slug="everywhere")
    for path in (
        url("stories:detail", code, slug=story.slug),
        url("petitions:detail", code, slug=petition.slug),
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert f'<html lang="{code}" dir="ltr">' in response.content.decode()


def test_every_page_names_its_nine_versions_and_a_default_for_search_engines(client, make_story):
    make_story(slug="linked")
    html = client.get("/ru/stories/linked/").content.decode()
    for code in OTHERS:
        expected = f'hreflang="{code}" href="https://campaign.example/{code}/stories/linked/"'
        assert f'<link rel="alternate" {expected}>' in html
    assert (
        '<link rel="alternate" hreflang="en" href="https://campaign.example/stories/linked/">'
        in html
    )
    assert (
        '<link rel="alternate" hreflang="x-default" '
        'href="https://campaign.example/stories/linked/">' in html
    )
    assert '<meta property="og:locale" content="ru_RU">' in html


def test_the_switcher_names_each_language_in_itself_and_stays_on_the_page(client, make_story):
    make_story(slug="switch-me")
    html = client.get("/tr/stories/switch-me/").content.decode()
    switcher = html[html.index('<details class="language-switcher">') :]
    switcher = switcher[: switcher.index("</details>")]
    # A disclosure: opens with the keyboard and without script; its button says what it is.
    label = in_language("tr", "Language:")
    assert (
        f'<summary><span class="visually-hidden">{label} </span><span lang="tr">Türkçe' in switcher
    )
    for code, name in LOCAL_NAMES.items():
        path = "/stories/switch-me/" if code == "en" else f"/{code}/stories/switch-me/"
        if code == "tr":
            assert f'<a href="{path}" aria-current="page" lang="tr">Türkçe</a>' in switcher
        else:
            assert f'<a href="{path}" hreflang="{code}" lang="{code}">{name}</a>' in switcher


def test_it_serves_english_at_the_root_whatever_the_browser_asks_for(client, db):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="ru,en;q=0.5")
    assert response.status_code == 200  # never a redirect by header
    assert '<html lang="en" dir="ltr">' in response.content.decode()
    russian = client.get("/ru/", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="ru" dir="ltr">' in russian.content.decode()


def test_english_pages_carry_an_offer_of_each_language_written_in_that_language(client, db):
    html = client.get("/").content.decode()
    notice = html[html.index("data-language-notice hidden>") :]
    notice = notice[: notice.index("</div>\n</div>")]
    for code in OTHERS:
        offer = re.search(
            rf'<p class="[^"]*" data-language="{code}" lang="{code}" hidden>(.*?)</p>', notice
        )
        assert offer, code
        with translation.override(code):
            sentence = translation.pgettext(
                "language notice", "This page is also in this language."
            )
            link = translation.pgettext("language notice", "Read it in this language")
        assert sentence in offer.group(1)
        assert f'<a href="/{code}/" hreflang="{code}">{link}</a>' in offer.group(1)
    # Only English pages: a reader on another language's page has chosen it.
    assert "data-language-notice" not in client.get("/ru/").content.decode()


def test_the_notice_texts_are_each_in_their_own_language():
    english = "This page is also in this language."
    sentences = {code: in_language_with_context(code, english) for code in OTHERS}
    assert english not in sentences.values()
    assert len(set(sentences.values())) == len(OTHERS)


def in_language_with_context(code: str, message: str) -> str:
    with translation.override(code):
        return translation.pgettext("language notice", message)


def count_html(code: str, count: int, *, goal: int = 100_000) -> str:
    petition = type(
        "P", (), {"has_closed": False, "closes_at": dt.datetime(2026, 11, 30, 14, 5, tzinfo=dt.UTC)}
    )
    stats = PetitionStats(count=count, goal=goal, petition_id=1)
    with translation.override(code), timezone.override(dt.UTC):
        return render_to_string("petitions/_count.html", {"stats": stats, "petition": petition})


@pytest.mark.parametrize(
    "code, forms",
    [
        ("ru", {1: "подпись", 2: "подписи", 5: "подписей", 21: "подпись", 22: "подписи"}),
        ("uk", {1: "підпис", 2: "підписи", 5: "підписів", 21: "підпис", 22: "підписи"}),
        ("pl", {1: "podpis", 2: "podpisy", 5: "podpisów", 21: "podpisów", 22: "podpisy"}),
        ("en", {1: "signature", 2: "signatures", 5: "signatures", 21: "signatures"}),
        ("nl", {1: "handtekening", 2: "handtekeningen", 21: "handtekeningen"}),
    ],
)
def test_the_count_reads_right_for_every_number(code, forms):
    for number, word in forms.items():
        assert f"<strong>{number}</strong> {word}</h2>" in count_html(code, number)


@pytest.mark.parametrize(
    "code, number, deadline",
    [
        ("en", "1,234,567", "30 November 2026, 14:05 UTC"),
        ("nl", "1.234.567", "30 november 2026 14:05 UTC"),
        ("ru", "1\xa0234\xa0567", "30 ноября 2026 г. 14:05 UTC"),
        ("pl", "1\xa0234\xa0567", "30 listopada 2026 14:05 UTC"),
        ("hu", "1\xa0234\xa0567", "2026. november 30. 14:05 UTC"),
        ("tr", "1.234.567", "30 Kasım 2026 14:05 UTC"),
        ("kk", "1\xa0234\xa0567", "2026 ж. 30 Қараша, 14:05 UTC"),
    ],
)
def test_numbers_and_dates_follow_each_languages_conventions(code, number, deadline):
    html = count_html(code, 1_234_567, goal=2_000_000)
    assert f"<strong>{number}</strong>" in html
    assert deadline in html


def test_country_names_follow_the_reader_in_every_language(client, petition):
    expected = {
        "az": "Qazaxıstan", "kk": "Қазақстан", "tr": "Kazakistan", "ru": "Казахстан",
        "uk": "Казахстан", "pl": "Kazachstan", "hu": "Kazahsztán", "nl": "Kazachstan",
    }  # fmt: skip
    for code, name in expected.items():
        html = client.get(url("petitions:detail", code, slug=petition.slug)).content.decode()
        assert f'<option value="KZ">{name}</option>' in html, code
    # Every country, not only the campaign's: from the Unicode CLDR where django-countries has none.
    with translation.override("kk"):
        from django_countries import countries

        assert countries.name("BR") == "Бразилия"


# The catalogues -----------------------------------------------------------------------------


def catalogue(code: str):
    with open(LOCALE / code / "LC_MESSAGES" / "django.po", "rb") as po:
        return read_po(po)


@pytest.mark.parametrize("code", OTHERS)
def test_every_catalogue_is_complete_with_every_plural_form(code):
    messages = catalogue(code)
    # As many forms as Django's own catalogue for the language (which it merges with ours),
    # and never fewer than the language has (CLDR: Russian, Ukrainian, Polish have three).
    with open(
        Path(django.__file__).parent / "conf" / "locale" / code / "LC_MESSAGES" / "django.po", "rb"
    ) as po:
        assert messages.num_plurals == read_po(po).num_plurals
    assert messages.num_plurals >= get_plural(code).num_plurals
    untranslated, fuzzy, short_plurals = [], [], []
    for message in messages:
        if not message.id:
            continue
        if message.fuzzy:
            fuzzy.append(message.id)
        if message.pluralizable:
            forms = message.string
            if len(forms) != messages.num_plurals or not all(forms):
                short_plurals.append(message.id)
        elif not message.string:
            untranslated.append(message.id)
    assert (untranslated, fuzzy, short_plurals) == ([], [], [])


@pytest.mark.parametrize("code", OTHERS)
def test_every_compiled_catalogue_matches_its_source(code):
    def entries(messages) -> dict:
        # Plural entries come back as tuples from .po files and as lists from .mo files.
        def plain(value):
            return tuple(value) if isinstance(value, list | tuple) else value

        return {(m.context, plain(m.id)): plain(m.string) for m in messages if m.id}

    with open(LOCALE / code / "LC_MESSAGES" / "django.mo", "rb") as mo:
        compiled = entries(read_mo(mo))
    assert compiled == entries(catalogue(code)), f"run `make messages` to recompile {code}"


def test_make_messages_covers_every_site_language():
    assert sorted(path.name for path in LOCALE.iterdir()) == sorted(OTHERS)
    assert [language.code for language in languages.SITE_LANGUAGES] == CODES


def test_no_page_says_it_varies_by_the_browsers_language(client, petition):
    for path in ("/", "/ru/", f"/tr/petitions/{petition.slug}/", "/admin/login/"):
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="kk")
        assert "accept-language" not in response.get("Vary", "").lower(), path
    assert client.get("/uk/").headers["Content-Language"] == "uk"
    assert client.get("/", HTTP_ACCEPT_LANGUAGE="uk").headers["Content-Language"] == "en"


def test_staff_open_the_admin_in_their_language(client):
    russian = client.get("/ru/admin/login/").content.decode()
    assert '<html lang="ru"' in russian
    assert in_language("ru", "Log in") in russian
    assert (
        '<html lang="en"' in client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    )
