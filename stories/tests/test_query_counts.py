"""The reading pages' queries, counted so that a regression fails CI (no timing in tests)."""

from unittest import mock

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(petition, make_story, make_signature):
    # Confirmations pick a random tally shard; pin it, so that the shard already exists and
    # the count is the steady state's, not the first confirmation's (which creates the row).
    with mock.patch("petitions.models.random.randrange", return_value=0):
        for n in range(8):
            make_story(slug=f"story-{n}")
        for country in ("NL", "BE", "NL"):
            make_signature(petition, confirmed=True, country=country)
        petition.forget_stats()
        yield petition


def test_home_page(client, campaign, django_assert_num_queries):
    # Stories; featured petition; its tally (then cached).
    with django_assert_num_queries(3):
        assert client.get(reverse("stories:home")).status_code == 200


def test_story_page(client, campaign, django_assert_num_queries):
    # The story, previous and next, the featured petition, its tally.
    with django_assert_num_queries(5):
        assert client.get("/stories/story-3/").status_code == 200
