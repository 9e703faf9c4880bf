"""A partner's site frames the widget: another site (127.0.0.1 against the campaign's
localhost), third-party cookies blocked, on desktop and on a 360-pixel phone. A supporter signs
in the frame, confirms through the emailed link and the partner is credited."""

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from axe_playwright_python.sync_playwright import Axe

from campaign.tests.browser import CHROMIUM
from campaign.tests.browser.conftest import ARGS, VIEWPORTS
from partners.models import Partner
from petitions.content import SLUG
from petitions.models import Petition, Signature
from petitions.widget import widget_snippet

pytestmark = pytest.mark.django_db(transaction=True)

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


class PartnerSite:
    """A partner's page on another site, with the widget code pasted in."""

    def __init__(self) -> None:
        self.body = b""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the standard library's name)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(site.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def show(self, snippet: str) -> None:
        page = f"<!DOCTYPE html><html lang=en><title>Partner</title><h1>Our news</h1>{snippet}"
        self.body = page.encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partner_site():
    site = PartnerSite()
    yield site
    site.close()


@pytest.fixture(scope="module")
def cookieless_browser(playwright):
    """Chromium with third-party cookies blocked, as many people's browsers are."""
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*ARGS, "--test-third-party-cookie-phaseout"]
    )
    yield chromium
    chromium.close()


@pytest.fixture
def partner_page(cookieless_browser, site, viewport):
    context = cookieless_browser.new_context(viewport=VIEWPORTS[viewport], locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.console = console
    yield page
    context.close()


def frame_of(page):
    page.wait_for_function("document.querySelector('iframe').contentWindow !== null")
    return page.frame_locator("iframe")


def test_a_supporter_signs_in_a_partners_frame_and_confirms(site, partner_site, partner_page):
    from django.core import mail

    zmina = Partner.objects.get(slug="zmina")
    zmina.frame_origins = partner_site.origin
    zmina.save()
    petition = Petition.objects.get(slug=SLUG)
    partner_site.show(widget_snippet(petition, zmina))

    page = partner_page
    page.goto(partner_site.origin + "/")
    frame = frame_of(page)
    frame.get_by_role("button", name="Sign the petition").wait_for()
    # This browser blocks third-party cookies: the framed widget can keep none.
    widget = page.frames[1]
    assert widget.url.startswith(site.url)
    cookie = widget.evaluate(
        "() => { document.cookie = 'probe=1; SameSite=None; Secure'; return document.cookie; }"
    )
    assert cookie == ""
    # The frame grew to the widget's height (the height message and the snippet's listener).
    page.wait_for_function("document.querySelector('iframe').height !== '760'")
    height = int(page.locator("iframe").get_attribute("height"))
    content = widget.evaluate("Math.ceil(document.documentElement.getBoundingClientRect().height)")
    assert height == content
    assert "With ZMINA Human Rights Centre" in frame.locator(".sign-form__partner").inner_text()
    # It fits: nothing wider than the frame.
    assert widget.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    frame.get_by_label("First name").fill("Olena")
    frame.get_by_label("Last name").fill("Example")
    frame.get_by_label("Email address", exact=True).fill("olena@example.org")
    frame.get_by_label("Country", exact=True).select_option("UA")
    frame.get_by_label("ZMINA may email me about its work").check()
    frame.get_by_role("button", name="Sign the petition").click()
    frame.get_by_role("heading", name="Check your inbox").wait_for()

    signature = Signature.objects.with_email("olena@example.org").get()
    assert (signature.partner_id, signature.source, signature.partner_updates) == (
        zmina.pk, "widget", True
    )  # fmt: skip
    assert signature.status == Signature.Status.PENDING

    # The emailed link opens in the browser's own tab, as for any signer.
    link = re.search(r"https?://\S+/confirm/\?t=\S+", mail.outbox[-1].body).group(0)
    assert link.startswith(site.url)
    confirm = page.context.new_page()
    confirm.goto(link)
    confirm.get_by_role("button", name="Confirm my signature").click()
    confirm.wait_for_url("**/thank-you/**")
    signature.refresh_from_db()
    assert signature.status == Signature.Status.CONFIRMED
    assert signature.partner_id == zmina.pk
    # The thank-you page's share links keep crediting the partner.
    assert "?via=zmina" in confirm.url
    assert "via%3Dzmina" in confirm.locator(".share").first.inner_html()
    assert [text for text in page.console if "Content Security Policy" in text] == []


def test_a_site_the_partner_did_not_list_cannot_frame_it(site, partner_site, partner_page):
    zmina = Partner.objects.get(slug="zmina")
    zmina.frame_origins = "https://www.zmina.example"
    zmina.save()
    partner_site.show(widget_snippet(Petition.objects.get(slug=SLUG), zmina))
    page = partner_page
    page.goto(partner_site.origin + "/")
    page.wait_for_timeout(500)
    assert page.frame_locator("iframe").get_by_role("button", name="Sign the petition").count() == 0
    assert any("frame-ancestors" in text for text in page.console)


def test_the_widget_is_accessible(site, partner_page):
    zmina = Partner.objects.get(slug="zmina")
    page = partner_page
    for path in (f"/petitions/{SLUG}/embed/?via={zmina.slug}", f"/ru/petitions/{SLUG}/embed/"):
        page.goto(site.url + path)
        results = Axe().run(page, options=WCAG_21_AA)
        assert [v["id"] for v in results.response["violations"]] == [], path
    page.goto(site.url + f"/petitions/{SLUG}/embed/check-your-inbox/?via=zmina")
    results = Axe().run(page, options=WCAG_21_AA)
    assert [v["id"] for v in results.response["violations"]] == []
