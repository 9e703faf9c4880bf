"""End-to-end tests in Debian's Chromium, driven by Playwright, against a live test server.

Marked `browser` by their folder (below) and skipped, with one reason in the summary, when
Chromium is not installed
(`apt-get install chromium`); `.ci/run` installs it, so CI always runs them. No browser is
ever downloaded.
"""

import os
from pathlib import Path

import pytest
from django.core.management import call_command

from campaign.tests.browser import CHROMIUM

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS = {
    "desktop": {"width": 1280, "height": 900},
    "phone": {"width": 360, "height": 740},
}
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """Every test in this folder is marked `browser`, by its place, never by its name; the
    root conftest skips the marked tests where Chromium is missing."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright():
    """One Playwright for the session (its sync API runs an event loop in this thread, and a
    second one cannot start beside it); every browser is launched from it. The ORM calls the
    tests make around it are ordinary synchronous ones."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(scope="session")
def browser(playwright):
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield chromium
    chromium.close()


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


@pytest.fixture
def site(live_server, settings, transactional_db):
    """The live site with the campaign content, its links pointing at itself."""
    settings.SITE_URL = live_server.url
    # A script fills the form faster than any person; the timing check is tested elsewhere.
    settings.SIGNATURE_MIN_FORM_SECONDS = 0
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    call_command("load_campaign_content", verbosity=0)
    return live_server


class Tab:
    """A browser page that remembers console messages and fails on CSP violations."""

    def __init__(self, page, viewport: str) -> None:
        self.page = page
        self.viewport = viewport
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(message.text))

    def csp_violations(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{name}-{self.viewport}.png", full_page=True)


def _open(browser, site, viewport: str, **options):
    context = browser.new_context(
        viewport=VIEWPORTS[viewport], base_url=site.url, locale="en-GB", **options
    )
    context.set_default_timeout(10_000)
    return context, Tab(context.new_page(), viewport)


@pytest.fixture
def tab(browser, site, viewport):
    context, tab = _open(browser, site, viewport, accept_downloads=True)
    yield tab
    context.close()
    assert tab.csp_violations() == []


@pytest.fixture
def tab_without_javascript(browser, site, viewport):
    context, tab = _open(browser, site, viewport, java_script_enabled=False)
    yield tab
    context.close()


def focus_is_visible(page) -> bool:
    """The focused element, or the card around it, draws a visible focus indicator."""
    return page.evaluate(
        """() => {
            let el = document.activeElement;
            for (let i = 0; el && i < 4; i++, el = el.parentElement) {
                const s = getComputedStyle(el);
                const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
                if (outline || (s.boxShadow && s.boxShadow !== 'none')) return true;
            }
            return false;
        }"""
    )
