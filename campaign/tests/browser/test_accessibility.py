"""axe-core on every public page and every error state: no WCAG 2.1 A or AA violation."""

import datetime as dt
from unittest import mock

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.core import mail
from django.utils import timezone

from petitions.content import SLUG
from petitions.models import Petition, Signature
from petitions.services import confirm_signature
from petitions.tokens import confirm_token, withdraw_token

pytestmark = pytest.mark.django_db(transaction=True)

PETITION = f"/petitions/{SLUG}/"
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
AXE = Axe()


def assert_accessible(tab, what: str) -> None:
    results = AXE.run(tab.page, options=WCAG_21_AA)
    problems = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]
    assert problems == [], f"{what} [{tab.viewport}]:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/stories/",
        "/stories/azerbaijan/",
        "/stories/hungary/",
        "/milestones/",
        "/about/",
        "/privacy/",
        "/coalition/",
        PETITION,
        f"{PETITION}check-your-inbox/",
        f"{PETITION}thank-you/",
        "/nl/",
        "/nl/stories/azerbaijan/",
        f"/nl{PETITION}",
        "/no-such-page/",
    ],
)
def test_every_public_page_has_no_wcag_violations(tab, path):
    response = tab.page.goto(path)
    assert response.status in (200, 404)
    assert_accessible(tab, path)


def test_the_form_with_errors_has_no_wcag_violations(tab):
    tab.page.goto(PETITION)
    tab.page.get_by_label("Email address", exact=True).fill("not an email")
    tab.page.get_by_role("button", name="Sign the petition").click()
    assert tab.page.locator(".error-summary").is_visible()
    assert_accessible(tab, "form errors")


def test_the_link_pages_have_no_wcag_violations(tab):
    petition = Petition.objects.get()
    signature = Signature.objects.create(
        petition=petition, first_name="A", last_name="B", email="a@example.org", country="NL"
    )
    token = confirm_token(signature.public_id)
    tab.page.goto(f"{PETITION}confirm/?t={token}")
    assert_accessible(tab, "confirm page")
    tab.page.goto(f"{PETITION}confirm/?t=broken")
    assert_accessible(tab, "broken link")
    later = timezone.now() + dt.timedelta(seconds=settings.SIGNATURE_CONFIRM_MAX_AGE + 60)
    with mock.patch("django.core.signing.time.time", return_value=later.timestamp()):
        response = tab.page.goto(f"{PETITION}confirm/?t={token}")
    assert response.status == 410
    assert_accessible(tab, "expired link")
    confirm_signature(signature_id=signature.pk)
    tab.page.goto(f"{PETITION}confirm/?t={token}")
    assert_accessible(tab, "used link")
    tab.page.goto(f"{PETITION}withdraw/?t={withdraw_token(signature.public_id)}")
    assert_accessible(tab, "withdraw page")
    assert mail.outbox == []


def test_the_rate_limit_page_has_no_wcag_violations(tab, settings):
    settings.RATE_LIMIT_SIGN = "1/h"
    for _ in range(2):
        tab.page.goto(PETITION)
        tab.page.get_by_label("First name").fill("Ada")
        tab.page.get_by_role("button", name="Sign the petition").click()
    assert tab.page.get_by_role("heading", name="Please wait a moment").is_visible()
    assert_accessible(tab, "429 page")


def test_a_closed_petition_has_no_wcag_violations(tab):
    now = timezone.now()
    Petition.objects.update(opens_at=now - dt.timedelta(days=9), closes_at=now)
    tab.page.goto(PETITION)
    assert_accessible(tab, "closed petition")
