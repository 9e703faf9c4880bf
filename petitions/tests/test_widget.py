"""The widget: the petition on a partner's site, framed only by that partner's origins, in the
language asked for, signing without cookies and protected by where the browser says it posts
from."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaign.lib.pagecache import TimedCache
from partners.models import Partner
from petitions.emails import send_one
from petitions.models import Signature

pytestmark = pytest.mark.django_db

SITE = "http://testserver"
PARTNER_SITE = "https://www.zmina.example"


@pytest.fixture
def zmina(zmina) -> Partner:
    """The partner, with the sites that may frame its widget."""
    zmina.frame_origins = f"{PARTNER_SITE}\nhttps://news.zmina.example"
    zmina.save()
    return zmina


def widget_url(petition, **query) -> str:
    url = reverse("petitions:widget", kwargs={"slug": petition.slug})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def sign_url(petition) -> str:
    return reverse("petitions:widget_sign", kwargs={"slug": petition.slug})


def frame_ancestors(response) -> str:
    return re.search(r"frame-ancestors ([^;]*)", response["Content-Security-Policy"]).group(1)


def test_the_widget_may_be_framed_by_the_partners_origins_only(client, petition, zmina):
    response = client.get(widget_url(petition, via="zmina"))
    assert response.status_code == 200
    assert frame_ancestors(response) == f"{PARTNER_SITE} https://news.zmina.example"
    assert "X-Frame-Options" not in response
    html = response.content.decode()
    assert "Protect defenders" in html
    assert '<progress class="count__bar"' in html
    assert 'name="via" value="zmina"' in html
    assert 'name="source" value="widget"' in html
    assert "With ZMINA Human Rights Centre" in html


@pytest.mark.parametrize("query", [{}, {"via": "unknown"}, {"via": "<script>"}])
def test_without_a_partners_link_nobody_may_frame_it(client, petition, zmina, query):
    response = client.get(widget_url(petition, **query))
    assert response.status_code == 200
    assert frame_ancestors(response) == "'none'"
    assert response["X-Frame-Options"] == "DENY"


def test_a_partner_without_origins_gets_no_framing(client, petition):
    Partner.objects.create(name="Dignity", slug="dignity", country="KZ")
    response = client.get(widget_url(petition, via="dignity"))
    assert frame_ancestors(response) == "'none'"


def test_every_other_page_still_refuses_framing(client, petition, zmina):
    response = client.get(
        reverse("petitions:detail", kwargs={"slug": petition.slug}) + "?via=zmina"
    )
    assert frame_ancestors(response) == "'none'"
    assert response["X-Frame-Options"] == "DENY"


def test_the_widget_sets_no_cookie_and_asks_for_none(client, petition, zmina):
    response = client.get(widget_url(petition, via="zmina"))
    assert not response.cookies
    html = response.content.decode()
    assert "csrfmiddlewaretoken" not in html
    assert f'action="{sign_url(petition)}"' in html


@pytest.mark.parametrize(
    ("lang", "text", "action_prefix"),
    [
        ("ru", "Подписать петицию", "/ru/"),
        ("uk", "Підписати петицію", "/uk/"),
        ("xx", "Sign the petition", "/"),
    ],
)
def test_lang_chooses_the_widgets_language(client, petition, zmina, lang, text, action_prefix):
    response = client.get(widget_url(petition, via="zmina", lang=lang))
    html = response.content.decode()
    assert text in html
    assert f'action="{action_prefix}petitions/{petition.slug}/embed/sign/"' in html
    assert response["Content-Language"] == (lang if lang != "xx" else "en")


def test_the_language_prefix_works_as_well(client, petition, zmina):
    html = client.get("/tr" + widget_url(petition, via="zmina")).content.decode()
    assert '<html lang="tr"' in html


def test_signing_in_the_widget_credits_the_partner_and_sends_the_email(
    client, petition, zmina, sign_data
):
    response = client.post(
        sign_url(petition),
        sign_data(source="widget", via="zmina", partner_updates="on"),
        headers={"Sec-Fetch-Site": "same-origin", "Origin": SITE},
    )
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("petitions:widget_check_inbox", kwargs={"slug": petition.slug}) + "?via=zmina"
    )
    signature = Signature.objects.get()
    assert (signature.partner, signature.source, signature.partner_updates) == (
        zmina, "widget", True
    )  # fmt: skip
    send_one(signature.pk)
    assert len(mail.outbox) == 1
    assert "/confirm/?t=" in mail.outbox[0].body

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Check your inbox" in page.content.decode()
    assert frame_ancestors(page) == f"{PARTNER_SITE} https://news.zmina.example"


def test_a_signing_in_another_language_is_stored_in_it(client, petition, zmina, sign_data):
    response = client.post(
        "/ru" + sign_url(petition), sign_data(via="zmina"), headers={"Origin": SITE}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/ru/")
    assert Signature.objects.get().language == "ru"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": PARTNER_SITE},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {},
    ],
)
def test_a_form_posted_from_elsewhere_is_not_saved_and_shown_again(
    client, petition, zmina, sign_data, headers
):
    response = client.post(sign_url(petition), sign_data(via="zmina"), headers=headers)
    assert response.status_code == 403
    assert not Signature.objects.exists()
    html = response.content.decode()
    assert "did not say where this form was sent from" in html
    assert 'value="ada@example.org"' in html  # nothing typed is lost
    assert frame_ancestors(response) == f"{PARTNER_SITE} https://news.zmina.example"


def test_mistakes_are_shown_in_the_frame(client, petition, zmina, sign_data):
    response = client.post(
        sign_url(petition), sign_data(via="zmina", email="not an address"), headers={"Origin": SITE}
    )
    assert response.status_code == 400
    assert 'class="error-summary"' in response.content.decode()
    assert frame_ancestors(response) == f"{PARTNER_SITE} https://news.zmina.example"


def test_too_many_signings_get_a_framed_429(client, petition, zmina, sign_data, settings):
    settings.RATE_LIMIT_SIGN = "1/m"
    headers = {"Origin": SITE}
    client.post(sign_url(petition), sign_data(via="zmina"), headers=headers)
    response = client.post(
        sign_url(petition), sign_data(via="zmina", email="b@example.org"), headers=headers
    )
    assert response.status_code == 429
    assert frame_ancestors(response) == f"{PARTNER_SITE} https://news.zmina.example"


def test_a_closed_petition_says_so_in_the_widget(client, make_petition, zmina, sign_data):
    closed = make_petition(closes_at=timezone.now() - dt.timedelta(minutes=1))
    html = client.get(widget_url(closed, via="zmina")).content.decode()
    assert "This petition is closed" in html
    assert "<form" not in html
    response = client.post(sign_url(closed), sign_data(via="zmina"), headers={"Origin": SITE})
    assert response.status_code == 403
    assert not Signature.objects.exists()


def test_the_widget_is_read_only_by_get(client, petition):
    assert client.post(widget_url(petition)).status_code == 405
    assert client.get(sign_url(petition)).status_code == 405


def test_the_cached_widget_keeps_each_partners_framing(client, petition, zmina, settings):
    settings.PAGE_CACHE_SECONDS = 30
    TimedCache.clear_all()
    Partner.objects.create(
        name="Dignity", slug="dignity", country="KZ", frame_origins="https://dignity.example"
    )
    for _round in range(2):  # the second round is served from the page cache
        zmina_page = client.get(widget_url(petition, via="zmina"))
        dignity_page = client.get(widget_url(petition, via="dignity"))
        plain_page = client.get(widget_url(petition))
        assert frame_ancestors(zmina_page).startswith(PARTNER_SITE)
        assert frame_ancestors(dignity_page) == "https://dignity.example"
        assert frame_ancestors(plain_page) == "'none'"
        assert not zmina_page.cookies
    # Each visitor gets a form timestamp of their own.
    stamps = {
        re.search(
            r'name="rendered_at" value="([^"]+)"', client.get(widget_url(petition)).content.decode()
        ).group(1)
        for _ in range(2)
    }
    assert len(stamps) == 2
