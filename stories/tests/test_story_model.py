import io
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from PIL import Image

from stories.models import Milestone, Story
from stories.validators import validate_portrait_file

pytestmark = pytest.mark.django_db


def png_bytes(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "navy").save(buffer, format="PNG")
    return buffer.getvalue()


def test_it_sets_the_publication_date_when_a_story_is_published(make_story):
    story = make_story(is_published=False)
    assert story.published_at is None
    story.is_published = True
    story.save()
    assert story.published_at is not None
    assert story.is_live


def test_it_refuses_a_portrait_without_alt_text_in_the_database(make_story):
    story = make_story()
    story.portrait = "portraits/x.png"
    story.portrait_alt = ""
    with pytest.raises(IntegrityError):
        story.save()


def test_it_explains_a_missing_alt_text_in_validation(make_story):
    story = make_story()
    story.portrait = "portraits/x.png"
    with pytest.raises(ValidationError, match="Describe the portrait"):
        story.validate_constraints()


def test_it_keeps_slugs_unique(make_story):
    make_story(slug="same")
    with pytest.raises(IntegrityError):
        make_story(slug="same")


def test_it_accepts_a_small_png_portrait_under_a_random_name(make_story, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    story = make_story()
    story.portrait = SimpleUploadedFile("Real Name.png", png_bytes(), content_type="image/png")
    story.portrait_alt = "A person standing in front of a courthouse."
    story.full_clean()
    story.save()
    assert story.portrait.name.startswith("portraits/")
    assert "Real Name" not in story.portrait.name
    assert story.portrait.name.endswith(".jpg")  # re-encoded as JPEG


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("notes.txt", b"plain text", "File extension"),
        ("fake.png", b"not an image at all", "not an image that can be read"),
    ],
)
def test_it_refuses_files_that_are_not_images(make_story, name, content, message):
    story = make_story()
    story.portrait = SimpleUploadedFile(name, content)
    story.portrait_alt = "Alt text."
    with pytest.raises(ValidationError, match=message):
        story.full_clean()


def test_it_refuses_portraits_over_five_megabytes():
    upload = SimpleUploadedFile("big.png", png_bytes())
    upload.size = 6 * 1024 * 1024
    with pytest.raises(ValidationError, match="the limit is 5 MB"):
        validate_portrait_file(upload)


def test_it_refuses_portraits_with_too_many_pixels():
    upload = SimpleUploadedFile("wide.png", png_bytes(width=6001, height=10))
    with pytest.raises(ValidationError, match="at most 6000 on each side"):
        validate_portrait_file(upload)


def test_it_orders_stories_by_display_order(make_story):
    b = make_story(sort_order=20)
    a = make_story(sort_order=10)
    assert list(Story.objects.published()) == [a, b]


def test_it_refuses_a_milestone_date_precision_that_is_not_a_choice():
    fields = {"key": "founded", "date": date(2020, 5, 1), "title": "Founded", "description": "."}
    with pytest.raises(IntegrityError), transaction.atomic():
        Milestone.objects.create(precision="week", **fields)
    milestone = Milestone.objects.create(precision=Milestone.Precision.MONTH, **fields)
    assert milestone.iso_date == "2020-05"
