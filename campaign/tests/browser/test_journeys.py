"""The journeys of the site's users, each on desktop and on a 360-pixel-wide phone."""

import csv
import datetime as dt
import io
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from campaign.tests.browser.conftest import focus_is_visible
from petitions.content import SLUG
from petitions.models import Petition, Signature
from stories.models import Story

pytestmark = pytest.mark.django_db(transaction=True)

PETITION = f"/petitions/{SLUG}/"


def count_on_page(page) -> int:
    text = page.locator(".count__number strong").first.inner_text()
    return int(re.sub(r"\D", "", text))


def confirm_link() -> str:
    body = mail.outbox[-1].body
    return re.search(r"https?://\S+/confirm/\?t=\S+", body).group(0)


def test_a_supporter_reads_every_story_in_order_and_switches_language(tab):
    page = tab.page
    page.goto("/")
    tab.screenshot("home")
    titles = [Story.objects.published().first().headline]
    page.locator(".card__title a").first.click()
    page.wait_for_url("**/stories/*/")
    tab.screenshot("story")
    while page.locator("a[rel=next]").count():
        page.locator("a[rel=next]").click()
        page.wait_for_load_state()
        titles.append(page.locator("h1").inner_text())
    assert titles == [story.headline for story in Story.objects.published()]
    assert len(titles) == 8

    page.locator(".language-switcher summary").click()
    page.get_by_role("link", name="Nederlands").click()
    page.wait_for_url("**/nl/stories/*/")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.get_by_role("link", name="Alle verhalen").is_visible()
    page.locator(".language-switcher summary").click()
    page.get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r".*/stories/[^/]+/$"))
    assert "/nl/" not in page.url
    assert page.locator("html").get_attribute("lang") == "en"


def sign(page, *, email="ada@example.org", first="Ada", last="Lovelace", country="NL"):
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Country", exact=True).select_option(country)
    page.get_by_role("button", name="Sign the petition").click()


def test_a_signer_corrects_a_mistake_confirms_and_sees_the_count_rise(tab):
    page = tab.page
    page.goto("/stories/azerbaijan/")
    page.get_by_role("link", name="Sign the petition").click()
    page.wait_for_url(f"**{PETITION}?from=story%3Aazerbaijan#sign")
    before = count_on_page(page)
    tab.screenshot("petition")

    sign(page, email="ada@example")
    error = page.locator("#id_email_error")
    assert "check the part after the @" in error.inner_text()
    assert page.locator(".error-summary").is_visible()
    assert page.get_by_label("Email address", exact=True).input_value() == "ada@example"
    assert page.get_by_label("First name").input_value() == "Ada"
    tab.screenshot("petition-errors")

    page.get_by_label("Email address", exact=True).fill("ada@example.org")
    page.get_by_role("button", name="Sign the petition").click()
    page.wait_for_url(f"**{PETITION}check-your-inbox/")
    assert page.get_by_role("heading", name="Check your inbox").is_visible()
    assert Signature.objects.get().source_story == "azerbaijan"

    page.goto(confirm_link())
    assert Signature.objects.get().status == Signature.Status.PENDING
    page.get_by_role("button", name="Confirm my signature").click()
    page.wait_for_url(f"**{PETITION}thank-you/**")
    tab.screenshot("thanks")
    assert page.get_by_role("heading", name="Thank you: your signature is counted").is_visible()
    page.goto(PETITION)
    assert count_on_page(page) == before + 1


def test_a_signer_who_signs_again_sees_no_difference_and_is_counted_once(tab):
    page = tab.page
    page.goto(PETITION)
    sign(page)
    page.goto(confirm_link())
    page.get_by_role("button", name="Confirm my signature").click()
    page.wait_for_url("**/thank-you/**")
    page.goto(PETITION)
    counted = count_on_page(page)
    first_page = None
    for email in ("ada@example.org", "ADA@Example.org"):
        page.goto(PETITION)
        sign(page, email=email, first="Someone else")
        page.wait_for_url("**/check-your-inbox/")
        text = page.locator("main").inner_text()
        first_page = first_page or text
        assert text == first_page
    page.goto(PETITION)
    assert count_on_page(page) == counted
    assert Signature.objects.count() == 1
    assert "already counted" in mail.outbox[-1].subject


def test_a_signer_on_a_closed_petition_sees_that_it_is_closed(tab):
    now = timezone.now()
    Petition.objects.update(
        opens_at=now - dt.timedelta(days=9), closes_at=now - dt.timedelta(minutes=1)
    )
    page = tab.page
    page.goto(PETITION)
    assert page.get_by_role("heading", name="This petition is closed").is_visible()
    assert page.get_by_label("Email address", exact=True).count() == 0
    tab.screenshot("petition-closed")


def test_the_signing_journey_works_with_the_keyboard_alone(tab):
    page = tab.page
    page.goto(PETITION)
    focused = None
    for _ in range(60):
        page.keyboard.press("Tab")
        assert focus_is_visible(page), page.evaluate("document.activeElement.outerHTML")
        focused = page.evaluate("document.activeElement.id")
        if focused == "id_first_name":
            break
    assert focused == "id_first_name"
    page.keyboard.type("Ada")
    page.keyboard.press("Tab")
    page.keyboard.type("Lovelace")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "id_first_name"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("keys@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type("Netherlands")
    assert page.get_by_label("Country", exact=True).input_value() == "NL"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_wants_updates"
    assert focus_is_visible(page)
    page.keyboard.press("Space")
    assert page.get_by_label("Email me news about this campaign").is_checked()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "submit":
            break
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_url("**/check-your-inbox/")
    assert Signature.objects.get().wants_updates is True

    page.goto(confirm_link())
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Confirm my signature":
            break
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_url("**/thank-you/**")
    assert Signature.objects.get().status == Signature.Status.CONFIRMED


def test_reading_and_signing_work_without_javascript(tab_without_javascript):
    page = tab_without_javascript.page
    page.goto("/")
    page.locator(".card__title a").first.click()
    assert page.locator(".story__body").is_visible()
    page.get_by_role("link", name="Sign the petition").click()
    sign(page, email="nojs@example.org")
    page.wait_for_url("**/check-your-inbox/")
    page.goto(confirm_link())
    page.get_by_role("button", name="Confirm my signature").click()
    page.wait_for_url("**/thank-you/**")
    assert Signature.objects.get().status == Signature.Status.CONFIRMED
    # The copy-link button needs a script, so it stays hidden; the link is there to copy.
    assert not page.get_by_role("button", name="Copy link").is_visible()
    assert page.locator("#share-url-thanks").input_value().endswith(PETITION)


def test_staff_filter_signatures_by_country_and_export_exactly_those(tab, tmp_path):
    petition = Petition.objects.get()
    people = [("NL", True), ("NL", True), ("NL", False), ("BE", True)]
    for n, (country, confirmed) in enumerate(people):
        signature = Signature.objects.create(
            petition=petition,
            first_name=f"Person{n}",
            last_name="Test",
            email=f"person{n}@example.org",
            country=country,
        )
        if confirmed:
            from petitions.services import confirm_signature

            confirm_signature(signature_id=signature.pk)
    staff = User.objects.create_user("staff", password="a long staff password", is_staff=True)
    app = TOTPDevice.objects.create(user=staff, name="app", confirmed=True)
    # What the "Data officers" group grants for this (the flush between browser tests removes
    # groups that migrations created; permissions are recreated). An export carries names and
    # addresses, so it takes the permission to see them too.
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="petitions",
            codename__in=[
                "view_petition",
                "view_signature",
                "view_personal_data",
                "export_signatures",
            ],
        )
    )

    page = tab.page
    page.goto("/admin/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("a long staff password")
    page.get_by_label("Code").fill(f"{totp(app.bin_key):06d}")
    page.get_by_role("button", name="Log in").click()
    page.goto("/admin/petitions/signature/")
    filters = page.locator("#changelist-filter")
    if not filters.is_visible():  # the phone layout folds the filters away
        page.locator("#changelist-filter-toggle, .changelist-filter-toggle").first.click()
    filters.get_by_role("link", name="Netherlands").click()
    page.wait_for_url("**country__exact=NL**")
    tab.screenshot("admin-export")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV (confirmed)").click()
    target = tmp_path / "export.csv"
    download.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    expected = Signature.objects.confirmed().filter(country="NL")
    # By name: their addresses were forgotten when they were confirmed (no updates asked for).
    assert sorted(r["first_name"] for r in rows) == sorted(s.first_name for s in expected)
    assert len(rows) == 2
