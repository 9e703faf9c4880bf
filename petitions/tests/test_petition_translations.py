"""The petition's text in the reader's language, with English the text handed in."""

import pytest
from django.core.management import call_command
from django.utils import translation

from petitions.models import Petition

pytestmark = pytest.mark.django_db

CODES = ["en", "nl", "az", "hu", "kk", "pl", "ru", "tr", "uk"]


def test_the_petition_says_in_every_language_that_english_is_handed_in(client, petition):
    Petition.objects.filter(pk=petition.pk).update(
        title_tr="Savunucuları koruyun", intro_tr="Giriş.", demands_tr="- Talep.",
        addressees_tr="Hükümetler",
    )  # fmt: skip
    html = client.get(f"/tr/petitions/{petition.slug}/").content.decode()
    assert '<h1 lang="tr">Savunucuları koruyun</h1>' in html
    with translation.override("tr"):
        assert translation.gettext("The English text is the one handed in.") in html


def test_the_loader_writes_the_call_in_all_nine_languages_english_authoritative():
    call_command("load_campaign_content")
    petition = Petition.objects.get()
    assert petition.language == "en"
    for code in CODES:
        assert petition.has_translation(code), code
    with translation.override("pl"):
        assert petition.title != petition.text_in("title", "en")


def test_the_loader_keeps_staffs_translation_and_fills_a_missing_one():
    call_command("load_campaign_content")
    Petition.objects.update(title_ru="Staff's own title", title_pl=None)
    call_command("load_campaign_content")
    petition = Petition.objects.get()
    assert petition.title_ru == "Staff's own title"
    assert petition.title_pl
