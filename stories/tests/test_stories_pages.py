import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from partners.content import load_partners
from stories.content import STORIES, load_stories
from stories.models import Story

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign_stories():
    load_partners()
    load_stories()
    return list(Story.objects.all())


def test_it_lists_the_eight_stories_with_country_partner_and_teaser_on_the_home_page(
    client, campaign_stories
):
    response = client.get(reverse("stories:home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert len(campaign_stories) == 8
    for story in campaign_stories:
        assert story.get_absolute_url() in html
        assert story.partner.name in html
        assert str(story.country.name) in html
    assert "Baku Human Rights Club" in html


def test_it_renders_every_story_with_its_partner(client, campaign_stories):
    expected = {row["slug"]: row["partner"] for row in STORIES}
    for story in campaign_stories:
        response = client.get(story.get_absolute_url())
        assert response.status_code == 200
        html = response.content.decode()
        assert expected[story.slug] in html
        assert f'<h1 lang="en">{story.headline}</h1>' in html


def test_it_lists_published_stories_in_reading_order_on_the_index(client, make_story):
    second = make_story(sort_order=2, headline="Second")
    first = make_story(sort_order=1, headline="First")
    response = client.get(reverse("stories:list"))
    assert response.status_code == 200
    assert list(response.context["stories"]) == [first, second]


def test_it_marks_sample_stories_as_sample_text(client, campaign_stories):
    sample = Story.objects.get(slug="hungary")
    real = Story.objects.get(slug="azerbaijan")
    assert "Sample text:" in client.get(sample.get_absolute_url()).content.decode()
    assert "Sample text:" not in client.get(real.get_absolute_url()).content.decode()


def test_it_links_the_partner_when_it_has_a_website(client, make_story):
    story = make_story(partner_name="Partner X", partner_url="https://partner.example/x")
    html = client.get(story.get_absolute_url()).content.decode()
    assert '<a href="https://partner.example/x" rel="noopener noreferrer">Partner X</a>' in html


def test_it_links_previous_and_next_stories(client, make_story):
    first, middle, last = (make_story(sort_order=n) for n in (1, 2, 3))
    response = client.get(middle.get_absolute_url())
    assert response.context["previous"] == first
    assert response.context["next"] == last
    first_page = client.get(first.get_absolute_url())
    assert first_page.context["previous"] is None
    last_page = client.get(last.get_absolute_url())
    assert last_page.context["next"] is None


def test_it_skips_unpublished_stories_when_linking_neighbours(client, make_story):
    first = make_story(sort_order=1)
    make_story(sort_order=2, is_published=False)
    third = make_story(sort_order=3)
    assert client.get(first.get_absolute_url()).context["next"] == third


def test_it_answers_404_for_an_unpublished_story(client, make_story):
    hidden = make_story(is_published=False)
    response = client.get(hidden.get_absolute_url())
    assert response.status_code == 404
    assert hidden.headline not in response.content.decode()
    assert hidden not in client.get(reverse("stories:home")).context["stories"]
    assert hidden not in client.get(reverse("stories:list")).context["stories"]


def test_it_answers_404_for_a_story_scheduled_in_the_future(client, make_story):
    scheduled = make_story(published_at=timezone.now() + dt.timedelta(days=1))
    assert client.get(scheduled.get_absolute_url()).status_code == 404


def test_it_lets_staff_preview_an_unpublished_story(client_in_group, make_story):
    hidden = make_story(is_published=False)
    response = client_in_group("Editors").get(hidden.get_absolute_url())  # may view
    assert response.status_code == 200
    html = response.content.decode()
    assert "Preview: this story is not published" in html
    assert '<meta name="robots" content="noindex">' in html


def test_it_answers_404_to_staff_who_may_not_view_stories(client_in_group, make_story):
    hidden = make_story(is_published=False)
    scheduled = make_story(published_at=timezone.now() + dt.timedelta(days=1))
    exporter = client_in_group("Data officers")  # staff, with no story permissions
    assert exporter.get(hidden.get_absolute_url()).status_code == 404
    assert exporter.get(scheduled.get_absolute_url()).status_code == 404


def test_it_answers_404_for_an_unknown_story(client, db):
    response = client.get(reverse("stories:detail", kwargs={"slug": "nobody"}))
    assert response.status_code == 404
    assert "We cannot find that page" in response.content.decode()


def test_it_escapes_html_and_drops_scripts_from_story_text(client, make_story):
    story = make_story(
        headline="<script>alert('headline')</script>",
        teaser="<img src=x onerror=alert(1)>",
        body="Hello <script>alert('body')</script> [x](javascript:alert(1)) <b onclick=x>b</b>",
    )
    html = client.get(story.get_absolute_url()).content.decode()
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#x27;headline&#x27;)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "javascript:" not in html
    assert "onclick" not in html


def test_it_renders_markdown_paragraphs_and_links_safely(client, make_story):
    story = make_story(body="One **bold** line.\n\nA [link](https://example.org/).")
    html = client.get(story.get_absolute_url()).content.decode()
    assert "<p>One <strong>bold</strong> line.</p>" in html
    assert '<a href="https://example.org/" rel="noopener noreferrer nofollow">link</a>' in html


def test_it_gives_story_pages_their_own_metadata(client, make_story):
    story = make_story(headline="Headline for sharing", teaser="Teaser for sharing.")
    html = client.get(story.get_absolute_url()).content.decode()
    assert "<title>Headline for sharing · #BringHumanRightsHome</title>" in html
    assert '<meta name="description" content="Teaser for sharing.">' in html
    assert (
        f'<link rel="canonical" href="https://campaign.example{story.get_absolute_url()}">' in html
    )
    assert '<meta property="og:title" content="Headline for sharing">' in html
    assert '<meta property="og:description" content="Teaser for sharing.">' in html
    assert '<meta property="og:type" content="article">' in html
    assert '<meta name="twitter:card" content="summary_large_image">' in html
    assert 'og:image" content="https://campaign.example/static/img/share-card.png"' in html


def test_it_offers_share_links_for_a_story(client, make_story):
    story = make_story()
    html = client.get(story.get_absolute_url()).content.decode()
    for network in ("mailto:", "wa.me", "x.com/intent", "facebook.com/sharer", "bsky.app"):
        assert network in html


@pytest.mark.parametrize(
    "name", ["stories:home", "stories:list", "stories:milestones", "pages:about", "pages:privacy"]
)
def test_it_serves_each_page_with_landmarks_and_a_skip_link(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en" dir="ltr">' in html
    assert '<a class="skip-link" href="#main">' in html
    for landmark in ('<header class="site-header">', '<main id="main"', "<footer", "<nav"):
        assert landmark in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<link rel="canonical"' in html
    assert html.count("<h1") == 1


@pytest.mark.parametrize("name", ["stories:home", "stories:list", "pages:about"])
def test_it_refuses_to_change_state_on_a_read_only_page(client, db, name):
    assert client.post(reverse(name)).status_code == 405


def test_it_shows_milestones_in_date_order_with_sample_entries_marked(client, db):
    load_stories()
    response = client.get(reverse("stories:milestones"))
    milestones = list(response.context["milestones"])
    assert [m.date for m in milestones] == sorted(m.date for m in milestones)
    html = response.content.decode()
    assert '<time datetime="1998">1998</time>' in html
    assert '<time datetime="2018-12">December 2018</time>' in html
    assert "Sample text: the campaign team will replace this entry." in html
