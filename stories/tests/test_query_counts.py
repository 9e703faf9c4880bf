"""The reading pages' queries, counted so that a regression fails CI (no timing in tests)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_home_page(client, campaign, django_assert_num_queries):
    # Stories; featured petition; its tally (then cached).
    with django_assert_num_queries(3):
        assert client.get(reverse("stories:home")).status_code == 200


def test_story_page(client, campaign, django_assert_num_queries):
    # The story, previous and next, the featured petition, its tally.
    with django_assert_num_queries(5):
        assert client.get("/stories/story-3/").status_code == 200
