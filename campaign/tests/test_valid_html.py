"""Every public page and error page is well-formed HTML5: the strict HTML5 parser finds no
parse error (misnested or stray tags, duplicate attributes, a missing doctype) and no id is
used twice."""

import re

import html5lib
import pytest
from django.core.management import call_command

from petitions.content import SLUG

pytestmark = pytest.mark.django_db

PETITION = f"/petitions/{SLUG}/"
PAGES = [
    ("/", 200),
    ("/stories/", 200),
    ("/stories/azerbaijan/", 200),
    ("/milestones/", 200),
    ("/about/", 200),
    ("/privacy/", 200),
    (PETITION, 200),
    (f"{PETITION}check-your-inbox/", 200),
    (f"{PETITION}thank-you/", 200),
    (f"{PETITION}thank-you/?via=zmina", 200),
    (f"{PETITION}embed/?via=zmina", 200),
    (f"{PETITION}embed/?via=zmina&lang=kk", 200),
    (f"{PETITION}embed/check-your-inbox/?via=zmina", 200),
    (f"{PETITION}confirm/?t=broken", 400),
    (f"{PETITION}withdraw/?t=broken", 404),
    (f"{PETITION}your-data/?t=broken", 400),
    ("/nl/", 200),
    ("/nl/stories/hungary/", 200),
    (f"/nl{PETITION}", 200),
    *((f"/{code}/", 200) for code in ("az", "hu", "kk", "pl", "ru", "tr", "uk")),
    ("/ru/stories/azerbaijan/", 200),
    ("/kk/stories/kazakhstan/", 200),
    (f"/tr{PETITION}", 200),
    ("/uk/milestones/", 200),
    ("/no-such-page/", 404),
]


@pytest.fixture
def content(db):
    call_command("load_campaign_content", verbosity=0)


def assert_valid(html: str, where: str) -> None:
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        parser.parse(html)
    except html5lib.html5parser.ParseError as error:
        pytest.fail(f"{where}: {error}")
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert sorted({i for i in ids if ids.count(i) > 1}) == [], where


@pytest.mark.parametrize("url,status", PAGES)
def test_every_page_is_well_formed_html5(client, content, url, status):
    response = client.get(url)
    assert response.status_code == status
    assert_valid(response.content.decode(), url)


def test_the_form_with_errors_is_well_formed_html5(client, content, sign_data):
    response = client.post(f"{PETITION}sign/", sign_data(email="bad", last_name=""))
    assert response.status_code == 400
    assert_valid(response.content.decode(), "form with errors")


def test_the_checker_rejects_broken_markup():
    with pytest.raises(pytest.fail.Exception):
        assert_valid("<!DOCTYPE html><html><head><title>x</title></head><body></span>", "bad")
