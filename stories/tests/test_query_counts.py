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


@pytest.mark.parametrize("prefix", ["/ru", "/kk"])
@pytest.mark.parametrize("path, queries", [("/", 3), ("/stories/story-3/", 5)])
def test_pages_in_another_language_cost_the_same_queries(
    client, campaign, django_assert_num_queries, prefix, path, queries
):
    # Translations are columns of the same rows: no join, no prefetch, no extra query.
    with django_assert_num_queries(queries):
        assert client.get(prefix + path).status_code == 200
