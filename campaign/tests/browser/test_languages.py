"""The site in its nine languages, in Chromium: signing, confirming and withdrawing in Russian
and Turkish (and English and Dutch), the language notice, the switcher, text that fits on the
narrowest phones, and axe on the main pages in every language."""

import re

import pytest
from django.conf import settings
from django.core import mail
from django.utils import translation

from campaign.tests.browser.conftest import VIEWPORTS
from campaign.tests.browser.test_accessibility import assert_accessible
from petitions.content import SLUG
from petitions.models import Signature

pytestmark = pytest.mark.django_db(transaction=True)

CODES = [code for code, _name in settings.LANGUAGES]


def prefix(code: str) -> str:
    return "" if code == "en" else f"/{code}"


def said(code: str, message: str) -> str:
    with translation.override(code):
        return translation.gettext(message)


def link_in_last_email(kind: str) -> str:
    return re.search(rf"https?://\S+/{kind}/\?t=\S+", mail.outbox[-1].body).group(0)


@pytest.mark.parametrize("code", ["ru", "tr", "en", "nl"])
def test_a_signer_signs_confirms_and_withdraws_in_their_language(tab, code):
    page = tab.page
    page.goto(f"{prefix(code)}/petitions/{SLUG}/")
    assert page.locator("h1").get_attribute("lang") == code  # the call, translated
    page.locator("#id_first_name").fill("Ada")
    page.locator("#id_last_name").fill("Lovelace")
    page.locator("#id_email").fill(f"ada-{code}@example.org")
    page.locator("#id_country").select_option("TR")
    page.locator(".sign-form button[type=submit]").click()
    page.wait_for_url(f"**{prefix(code)}/petitions/{SLUG}/check-your-inbox/")
    assert page.get_by_role("heading", name=said(code, "Check your inbox")).is_visible()
    assert Signature.objects.get().language == code

    page.goto(link_in_last_email("confirm"))
    assert page.locator("html").get_attribute("lang") == code
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"**{prefix(code)}/petitions/{SLUG}/thank-you/**")
    heading = said(code, "Thank you: your signature is counted")
    assert page.get_by_role("heading", name=heading).is_visible()
    assert Signature.objects.get().status == Signature.Status.CONFIRMED

    page.goto(link_in_last_email("withdraw"))
    assert page.get_by_role("heading", name=said(code, "Withdraw your signature")).is_visible()
    page.get_by_role("button", name=said(code, "Withdraw my signature")).click()
    page.wait_for_load_state()
    done = said(code, "Your signature has been withdrawn")
    assert page.get_by_role("heading", name=done).is_visible()
    assert not Signature.objects.exists()


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_an_english_page_offers_the_browsers_language_until_dismissed(browser, site, viewport):
    context = browser.new_context(viewport=VIEWPORTS["phone"], base_url=site.url, locale="ru-RU")
    page = context.new_page()
    page.goto("/stories/")
    offer = page.locator('[data-language="ru"]')
    assert offer.is_visible()
    assert offer.get_attribute("lang") == "ru"
    with translation.override("ru"):
        read = translation.pgettext("language notice", "Read it in this language")
        no = translation.pgettext("language notice", "No, thanks")
    assert offer.get_by_role("link", name=read).get_attribute("href") == "/ru/stories/"
    assert page.locator("[data-language-notice] p:visible").count() == 1  # one offer only
    page.get_by_role("button", name=no).click()
    assert not offer.is_visible()
    page.reload()
    assert not page.locator('[data-language="ru"]').is_visible()  # remembered
    context.close()

    english = browser.new_context(base_url=site.url, locale="en-GB")
    page = english.new_page()
    page.goto("/")
    assert not page.locator("[data-language-notice]").is_visible()
    english.close()


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_the_switcher_works_by_keyboard_and_without_script(tab, tab_without_javascript):
    for page in (tab.page, tab_without_javascript.page):
        page.goto("/stories/azerbaijan/")
        summary = page.locator(".language-switcher summary")
        summary.focus()
        page.keyboard.press("Enter")
        link = page.get_by_role("link", name="Українська")
        assert link.is_visible()
        link.focus()
        page.keyboard.press("Enter")
        page.wait_for_url("**/uk/stories/azerbaijan/")
        assert page.locator("html").get_attribute("lang") == "uk"


OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const problems = [];
    if (document.documentElement.scrollWidth > width) problems.push('page wider than screen');
    for (const el of document.querySelectorAll(
        'button, .button, .card, .site-nav a, .language-switcher summary, .language-switcher a,'
        + ' h1, h2, label, .count, .cta, .story-nav__link')) {
        const box = el.getBoundingClientRect();
        if (!box.width || el.closest('[aria-hidden=true]')) continue;  // not shown to anyone
        if (box.right > width + 0.5 || box.left < -0.5)
            problems.push('outside the screen: ' + el.outerHTML.slice(0, 80));
        if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
            problems.push('clipped: ' + el.outerHTML.slice(0, 80));
    }
    return problems;
}"""


@pytest.mark.parametrize("width", [320, 360])
def test_every_language_fits_the_narrowest_phones(browser, site, width):
    context = browser.new_context(viewport={"width": width, "height": 740}, base_url=site.url)
    page = context.new_page()
    problems = {}
    for code in CODES:
        for path in ("/", f"/petitions/{SLUG}/", "/stories/hungary/", "/stories/", "/coalition/"):
            page.goto(prefix(code) + path)
            page.locator(".language-switcher summary").click()  # the open menu must fit too
            found = page.evaluate(OVERFLOW)
            if found:
                problems[prefix(code) + path] = found
    context.close()
    assert problems == {}


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
@pytest.mark.parametrize("code", CODES)
def test_the_main_pages_have_no_wcag_violations_in_every_language(tab, code):
    for path in ("/", "/stories/azerbaijan/", f"/petitions/{SLUG}/"):
        tab.page.goto(prefix(code) + path)
        assert_accessible(tab, prefix(code) + path)


# Each character of the page drawn in the page's font stack; a character no installed font has
# draws the same "missing glyph" box as characters no font has (a private-use one, an unassigned
# one). The control below proves the check can see a missing glyph.
MISSING_GLYPHS = """() => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 48;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    ctx.font = '32px ' + getComputedStyle(document.body).fontFamily;
    const draw = (c) => {
        ctx.clearRect(0, 0, 48, 48);
        ctx.fillText(c, 4, 38);
        return ctx.getImageData(0, 0, 48, 48).data.join('');
    };
    const missing = [draw('\\uE000'), draw('\\u0378')];
    const chars = [...new Set([...document.body.innerText])].filter((c) => c.trim());
    return chars.filter((c) => missing.includes(draw(c)));
}"""


def test_every_language_renders_with_no_missing_glyph(browser, site):
    context = browser.new_context(base_url=site.url)
    page = context.new_page()
    page.set_content("<body>abc \ue001 \u0378</body>")
    assert page.evaluate(MISSING_GLYPHS) == ["\ue001", "\u0378"]  # the check sees a gap
    missing = {}
    for code in CODES:
        for path in ("/", f"/petitions/{SLUG}/", "/stories/azerbaijan/", "/stories/"):
            page.goto(prefix(code) + path)
            if found := page.evaluate(MISSING_GLYPHS):
                missing[prefix(code) + path] = found
    context.close()
    assert missing == {}
