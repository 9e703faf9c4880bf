"""The count as an SVG badge, for newsletters and partners' sites without scripts."""

import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


def badge(client, petition, code="en"):
    with translation.override(code):
        url = reverse("petitions:badge", kwargs={"slug": petition.slug})
    return client.get(url)


def test_the_badge_is_an_svg_image_of_the_count_cached_briefly(client, petition, make_signature):
    for _ in range(3):
        make_signature(petition, confirmed=True)
    response = badge(client, petition)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert "max-age=60" in response["Cache-Control"] and "public" in response["Cache-Control"]
    assert response["Access-Control-Allow-Origin"] == "*"
    svg = ET.fromstring(response.content)
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "3 signatures: Protect defenders"
    assert [t.text for t in svg.iter(f"{SVG}text")] == ["3", "signatures"]


def test_the_badge_speaks_the_language_of_its_address(client, petition, make_signature):
    make_signature(petition, confirmed=True)
    svg = ET.fromstring(badge(client, petition, "uk").content)
    assert svg.get("lang") == "uk"
    with translation.override("uk"):
        label = translation.ngettext("signature", "signatures", 1)
    assert [t.text for t in svg.iter(f"{SVG}text")] == ["1", label]
    assert label != "signature"


def test_a_draft_petition_has_no_badge(client, make_petition):
    draft = make_petition(is_published=False)
    assert badge(client, draft).status_code == 404
