"""The cookie-less check of where a form was posted from (campaign.lib.csrf)."""

import pytest
from django.test import RequestFactory

from campaign.lib.csrf import is_same_origin_post

SITE = "http://testserver"


def post(**headers):
    return RequestFactory().post("/sign/", {"name": "x"}, headers=headers)


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        # Fetch Metadata decides when the browser sends it, whatever else it says.
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}, True),
        ({"Sec-Fetch-Site": "cross-site", "Origin": SITE}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Sec-Fetch-Site": "none"}, False),
        # Then the Origin header.
        ({"Origin": SITE}, True),
        ({"Origin": "HTTP://TESTSERVER"}, True),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "http://testserver.evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Origin": "null", "Referer": f"{SITE}/petitions/x/embed/"}, False),
        # Then the Referer, from the site's own pages only.
        ({"Referer": f"{SITE}/petitions/x/embed/?via=zmina"}, True),
        ({"Referer": "https://evil.example/"}, False),
        ({"Referer": "not a url"}, False),
        # A post that says nothing of where it comes from is refused.
        ({}, False),
    ],
)
def test_a_post_is_accepted_only_from_the_sites_own_pages(headers, allowed):
    assert is_same_origin_post(post(**headers)) is allowed


def test_trusted_origins_count_as_the_sites_own(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://www.campaign.example"]
    assert is_same_origin_post(post(Origin="https://www.campaign.example"))
    assert not is_same_origin_post(post(Origin="https://other.campaign.example"))
