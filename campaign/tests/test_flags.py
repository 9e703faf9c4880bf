"""Country flags: SVG static files with hashed names, beside stories' and partners' countries."""

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse
from django_countries import countries

from campaign.templatetags.flags import flag_path

pytestmark = pytest.mark.django_db

FLAG = re.compile(r'<img class="flag" src="([^"]+)" alt="" width="16" height="12">')


@pytest.fixture
def manifest_storage(settings, tmp_path):
    """The static files collected under a manifest storage, as in production."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    return tmp_path


def test_it_has_a_flag_for_every_country():
    missing = [code for code, _name in countries if not finders.find(flag_path(code))]
    assert missing == []
    assert Path(finders.find(flag_path("NL"))).read_text().startswith("<svg")


def test_it_shows_a_story_s_flag_under_a_hashed_name(client, make_story, manifest_storage):
    story = make_story(country="UA")
    for url in (reverse("stories:home"), story.get_absolute_url()):
        sources = FLAG.findall(client.get(url).content.decode())
        assert sources, url
        hashed = re.fullmatch(r"/static/(img/flags/ua\.[0-9a-f]{12}\.svg)", sources[0])
        assert hashed, sources[0]
        assert (manifest_storage / hashed.group(1)).read_bytes().startswith(b"<svg")


def test_it_shows_the_partners_flags(client, zmina, dignity, manifest_storage):
    page = client.get(reverse("pages:coalition")).content.decode()
    codes = [re.fullmatch(r"/static/img/flags/([a-z]{2})\.[0-9a-f]{12}\.svg", source).group(1)
             for source in FLAG.findall(page)]  # fmt: skip
    assert sorted(codes) == ["kz", "ua"]
    assert ".gif" not in page


def test_it_serves_the_flags_unhashed_in_development(client, make_story):
    """With DEBUG's plain storage the same tag names the file as it is in static/, which
    runserver serves."""
    story = make_story(country="NL")
    sources = FLAG.findall(client.get(story.get_absolute_url()).content.decode())
    assert sources == ["/static/img/flags/nl.svg"]
