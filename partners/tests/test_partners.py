"""The coalition: partner organisations, their seeding, their logos and the public page."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation
from PIL import Image

from partners.models import Partner, parse_origins
from stories.models import Story

pytestmark = pytest.mark.django_db

SEEDED = {
    "nhc": "Netherlands Helsinki Committee",
    "zmina": "ZMINA Human Rights Centre",
    "hungarian-helsinki-committee": "Hungarian Helsinki Committee",
    "monitoring-equal-rights": "Association for Monitoring Equal Rights",
    "dignity": "Public Association Dignity",
    "baku-human-rights-club": "Baku Human Rights Club",
    "memorial": "Human Rights Center Memorial",
    "helsinki-foundation": "Helsinki Foundation for Human Rights",
}


def test_the_loader_creates_the_eight_partners_led_by_the_nhc_once():
    call_command("load_campaign_content")
    call_command("load_campaign_content")
    assert dict(Partner.objects.values_list("slug", "name")) == SEEDED
    assert Partner.objects.get(is_lead=True).slug == "nhc"
    stories = Story.objects.select_related("partner")
    assert {story.slug: story.partner.slug for story in stories}["ukraine"] == "zmina"
    assert all(story.partner for story in stories)


def test_the_loader_keeps_staffs_edits_and_only_fills_what_is_empty():
    call_command("load_campaign_content")
    Partner.objects.filter(slug="zmina").update(name="ZMINA (staff's name)", short_name="")
    call_command("load_campaign_content")
    zmina = Partner.objects.get(slug="zmina")
    assert (zmina.name, zmina.short_name) == ("ZMINA (staff's name)", "ZMINA")
    assert Partner.objects.count() == 8


def test_only_one_partner_leads():
    call_command("load_campaign_content")
    with pytest.raises(IntegrityError), transaction.atomic():
        Partner.objects.filter(slug="zmina").update(is_lead=True)


def test_the_coalition_page_lists_public_partners_with_country_website_and_story(client):
    call_command("load_campaign_content")
    Partner.objects.filter(slug="zmina").update(
        website="https://zmina.example/", contact_email="press@zmina.example",
        contact_name="A contact",
    )  # fmt: skip
    Partner.objects.filter(slug="memorial").update(is_public=False)
    html = client.get(reverse("pages:coalition")).content.decode()
    assert '<h2 class="partner__name">ZMINA Human Rights Centre</h2>' in html
    assert 'href="https://zmina.example/"' in html
    assert 'href="/stories/ukraine/"' in html
    assert "Human Rights Center Memorial" not in html  # hidden
    assert "press@zmina.example" not in html and "A contact" not in html  # staff only
    assert html.index("Netherlands Helsinki Committee") < html.index("ZMINA")  # the lead first


@pytest.mark.parametrize("code", ["en", "nl", "az", "hu", "kk", "pl", "ru", "tr", "uk"])
def test_every_page_links_the_coalition_in_every_language(client, code):
    with translation.override(code):
        coalition = reverse("pages:coalition")
        home = reverse("stories:home")
    response = client.get(coalition)
    assert response.status_code == 200
    assert f'<html lang="{code}" dir="ltr">' in response.content.decode()
    assert f'href="{coalition}"' in client.get(home).content.decode()


@pytest.mark.parametrize(
    "text, origins",
    [
        ("https://partner.example\nhttps://WWW.Partner.example/", ["https://partner.example", "https://www.partner.example"]),
        ("", []),
        ("http://localhost:8001", ["http://localhost:8001"]),
    ],
)  # fmt: skip
def test_frame_origins_are_parsed_into_origins(text, origins):
    assert parse_origins(text) == origins


@pytest.mark.parametrize(
    "line",
    ["partner.example", "https://partner.example/page", "javascript:alert(1)", "https://",
     "https://user@partner.example", "https://partner.example/?a=1", "*"],
)  # fmt: skip
def test_anything_but_an_origin_is_refused_with_its_line(line):
    with pytest.raises(ValidationError) as error:
        parse_origins(f"https://ok.example\n{line}")
    assert line[:20] in str(error.value)


def png_with_metadata() -> SimpleUploadedFile:
    image = Image.new("RGB", (900, 300), "navy")
    exif = Image.Exif()
    exif[0x010F] = "A camera maker"
    data = io.BytesIO()
    image.save(data, "PNG", exif=exif)
    return SimpleUploadedFile("logo of a person.png", data.getvalue(), "image/png")


def test_a_logo_is_stored_re_encoded_without_metadata_and_needs_a_description(
    superuser_client, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    call_command("load_campaign_content")
    zmina = Partner.objects.get(slug="zmina")
    url = reverse("admin:partners_partner_change", args=[zmina.pk])
    form = {
        "name": zmina.name, "short_name": "ZMINA", "slug": "zmina", "country": "UA",
        "language": "en", "sort_order": "20", "is_public": "on",
    }  # fmt: skip
    refused = superuser_client.post(url, {**form, "logo": png_with_metadata()})
    assert refused.status_code == 200
    assert "Describe the logo" in refused.content.decode()
    response = superuser_client.post(
        url, {**form, "logo": png_with_metadata(), "logo_alt": "ZMINA"}
    )
    assert response.status_code == 302
    zmina.refresh_from_db()
    assert zmina.logo.name.startswith("logos/") and zmina.logo.name.endswith(".jpg")
    assert "person" not in zmina.logo.name
    assert (zmina.logo_width, zmina.logo_height) == (640, 213)
    with Image.open(zmina.logo.path) as stored:
        assert stored.format == "JPEG"
        assert not stored.getexif()
    assert (tmp_path / zmina.logo.name.replace(".jpg", "-160.webp")).exists()
