"""Portraits are stored re-encoded (campaign/lib/images.py) and shown as responsive pictures."""

import io
import re
import struct
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from PIL import Image

from campaign.lib.tests.test_images import SECRET, bomb, photo
from stories.models import Story

pytestmark = pytest.mark.django_db

ALT = "A defender at her desk."


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored(media: Path) -> dict[str, bytes]:
    """Every file in MEDIA_ROOT, by its storage name."""
    return {
        p.relative_to(media).as_posix(): p.read_bytes() for p in media.rglob("*") if p.is_file()
    }


def upload(width: int = 1700, height: int = 1000, **options) -> SimpleUploadedFile:
    # The uploaded file's name is a person's: it must not survive either.
    return SimpleUploadedFile(f"{SECRET}.jpg", photo(width, height, **options), "image/jpeg")


def give_portrait(story: Story, portrait: SimpleUploadedFile) -> Story:
    story.portrait = portrait
    story.portrait_alt = ALT
    story.full_clean()
    story.save()
    return story


def renditions(story: Story, *widths: int) -> set[str]:
    stem = story.portrait.name.removesuffix(".jpg")
    return {story.portrait.name, *(f"{stem}-{width}.webp" for width in widths)}


def srcset(story: Story, *widths: int) -> str:
    stem = "/media/" + story.portrait.name.removesuffix(".jpg")
    return ", ".join(f"{stem}-{width}.webp {width}w" for width in widths)


def test_it_stores_an_upload_as_an_upright_jpeg_and_webp_renditions_without_metadata(
    make_story, media
):
    story = give_portrait(make_story(), upload(2400, 1800, orientation=6))
    assert re.fullmatch(r"portraits/[0-9a-f]{32}\.jpg", story.portrait.name)
    files = stored(media)
    assert set(files) == renditions(story, 480, 960, 1200)
    story.refresh_from_db()
    assert (story.portrait_width, story.portrait_height) == (1200, 1600)
    jpeg = Image.open(io.BytesIO(files[story.portrait.name]))
    assert jpeg.size == (1200, 1600)  # turned upright: it was 2400 wide, lying on its side
    red, green, blue = jpeg.getpixel((600, 10))
    assert red > 200 and blue < 60  # the left half of the sensor is at the top
    assert files[story.portrait.name].endswith(b"\xff\xd9")
    for name, data in files.items():
        image = Image.open(io.BytesIO(data))
        assert not image.getexif()
        assert not {"exif", "xmp", "icc_profile", "comment"} & image.info.keys()
        assert SECRET.encode() not in data
        assert b"SecretCam" not in data
        if name.endswith(".webp"):
            assert struct.unpack("<I", data[4:8])[0] + 8 == len(data)  # nothing appended
            assert image.width == int(name.removesuffix(".webp").rsplit("-", 1)[1])


def test_it_leaves_the_files_alone_when_a_story_is_saved_without_a_new_upload(
    make_story, media, django_capture_on_commit_callbacks
):
    story = give_portrait(make_story(), upload(600, 400))
    before = stored(media)
    story = Story.objects.get(pk=story.pk)
    story.headline = "A new headline"
    story.full_clean()
    with django_capture_on_commit_callbacks(execute=True):
        story.save()
    assert stored(media) == before
    story.refresh_from_db()
    assert set(before) == renditions(story, 480, 600)
    assert (story.portrait_width, story.portrait_height) == (600, 400)


def test_it_deletes_the_old_files_once_a_replacing_portrait_is_saved(
    make_story, media, django_capture_on_commit_callbacks
):
    story = give_portrait(make_story(), upload(1000, 600))
    old = set(stored(media))
    assert old == renditions(story, 480, 960, 1000)
    with django_capture_on_commit_callbacks() as after_commit:
        give_portrait(Story.objects.get(pk=story.pk), upload(500, 300))
    assert old < set(stored(media))  # still in use until the new name is committed
    for callback in after_commit:
        callback()
    story.refresh_from_db()
    assert set(stored(media)) == renditions(story, 480, 500)
    assert not old & set(stored(media))


def test_it_deletes_the_files_when_the_portrait_is_removed(
    make_story, media, django_capture_on_commit_callbacks
):
    story = give_portrait(make_story(), upload(600, 400))
    story = Story.objects.get(pk=story.pk)
    story.portrait = ""  # as the admin's "Clear" box leaves it
    story.portrait_alt = ""
    with django_capture_on_commit_callbacks(execute=True):
        story.save()
    assert stored(media) == {}
    story.refresh_from_db()
    assert (story.portrait_width, story.portrait_height) == (None, None)


def test_it_keeps_the_old_portrait_when_the_story_with_a_new_one_is_not_saved(
    make_story, media, django_capture_on_commit_callbacks
):
    story = give_portrait(make_story(), upload(600, 400))
    before = stored(media)
    story = Story.objects.get(pk=story.pk)
    story.portrait = upload(500, 300)
    story.portrait_alt = ""  # refused by the database
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(IntegrityError),
        transaction.atomic(),
    ):
        story.save()
    assert stored(media) == before
    story.refresh_from_db()
    assert set(before) == renditions(story, 480, 600)


def test_it_shows_the_portrait_with_its_webp_renditions_and_size_on_the_story_page(
    client, make_story
):
    story = give_portrait(make_story(), upload(1700, 1000))
    html = client.get(story.get_absolute_url()).content.decode()
    webp = srcset(story, 480, 960, 1600)
    assert f'<source type="image/webp" srcset="{webp}" sizes="' in html
    assert (
        f'<img src="/media/{story.portrait.name}" alt="{ALT}" width="1600" height="941"'
        ' decoding="async"></picture>'
    ) in html
    assert f'content="https://campaign.example/media/{story.portrait.name}"' in html  # og:image


def test_it_shows_lazy_portraits_on_story_cards_and_the_placeholder_without_one(client, make_story):
    with_portrait = give_portrait(make_story(sort_order=1), upload(1000, 600))
    make_story(sort_order=2)
    html = client.get(reverse("stories:list")).content.decode()
    webp = srcset(with_portrait, 480, 960, 1000)
    assert f'<picture class="picture"><source type="image/webp" srcset="{webp}"' in html
    assert (
        f'<img class="card__image" src="/media/{with_portrait.portrait.name}" alt="{ALT}"'
        ' width="1000" height="600" loading="lazy" decoding="async">'
    ) in html
    assert html.count("story-placeholder") == 1


def test_it_shows_a_portrait_stored_before_re_encoding_as_it_is_without_reading_it(
    client, make_story
):
    story = make_story()
    # Its file is not even there: loading the story must not open it to learn its size.
    Story.objects.filter(pk=story.pk).update(portrait="portraits/earlier.png", portrait_alt=ALT)
    html = client.get(story.get_absolute_url()).content.decode()
    assert (
        f'<picture class="picture"><img src="/media/portraits/earlier.png" alt="{ALT}"'
        ' decoding="async"></picture>'
    ) in html


def test_it_refuses_a_decompression_bomb_with_a_message(make_story, media):
    story = make_story()
    story.portrait = SimpleUploadedFile("bomb.png", bomb(), "image/png")
    story.portrait_alt = ALT
    with pytest.raises(ValidationError, match="too many pixels to be processed safely"):
        story.full_clean()
    assert stored(media) == {}


def admin_form(**fields) -> dict:
    return {
        "headline_en": "Uploaded in the admin",
        "slug": "uploaded-in-the-admin",
        "country": "NL",
        "defender_name": "A defender",
        "teaser_en": "A teaser.",
        "body_en": "A body.",
        "language": "en",
        "portrait_alt_en": ALT,
        "sort_order": "1",
        **fields,
    }


def test_it_re_encodes_a_portrait_uploaded_in_the_admin(superuser_client, media):
    response = superuser_client.post(
        reverse("admin:stories_story_add"), admin_form(portrait=upload(800, 600))
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    story = Story.objects.get(slug="uploaded-in-the-admin")
    assert (story.portrait_width, story.portrait_height) == (800, 600)
    assert set(stored(media)) == renditions(story, 480, 800)


def test_it_refuses_a_decompression_bomb_in_the_admin_with_a_message(superuser_client, media):
    response = superuser_client.post(
        reverse("admin:stories_story_add"),
        admin_form(portrait=SimpleUploadedFile("bomb.png", bomb(), "image/png")),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["portrait"] == [
        "This image has too many pixels to be processed safely; at most 40 megapixels, please."
    ]
    assert not Story.objects.exists()
    assert stored(media) == {}
