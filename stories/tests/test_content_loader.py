import pytest
from django.core.management import call_command

from stories.models import Milestone, Story

pytestmark = pytest.mark.django_db

COUNTRIES = {"AZ", "HU", "KZ", "NL", "PL", "RU", "TR", "UA"}
PARTNERS = {
    "AZ": "Baku Human Rights Club",
    "HU": "Hungarian Helsinki Committee",
    "KZ": "Public Association Dignity",
    "PL": "Helsinki Foundation for Human Rights",
    "RU": "Human Rights Center Memorial",
    "TR": "Association for Monitoring Equal Rights",
    "UA": "ZMINA Human Rights Centre",
    "NL": "Netherlands Helsinki Committee",
}


def test_it_loads_eight_published_stories_one_per_country_with_their_partners():
    call_command("load_campaign_content")
    stories = Story.objects.published()
    assert stories.count() == 8
    assert {s.country.code: s.partner.name for s in stories} == PARTNERS
    assert {s.country.code for s in stories} == COUNTRIES


def test_it_marks_every_story_but_the_real_one_as_sample_text():
    call_command("load_campaign_content")
    assert set(Story.objects.filter(is_sample=False).values_list("slug", flat=True)) == {
        "azerbaijan"
    }


def test_it_duplicates_nothing_when_run_twice():
    call_command("load_campaign_content")
    milestones = Milestone.objects.count()
    call_command("load_campaign_content")
    assert Story.objects.count() == 8
    assert Milestone.objects.count() == milestones


def test_it_keeps_staff_edits_unless_asked_to_reset():
    call_command("load_campaign_content")
    Story.objects.filter(slug="hungary").update(headline="Edited by staff")
    call_command("load_campaign_content")
    assert Story.objects.get(slug="hungary").headline == "Edited by staff"
    call_command("load_campaign_content", "--reset")
    assert Story.objects.get(slug="hungary").headline == "A story from Hungary"
    assert Story.objects.count() == 8
