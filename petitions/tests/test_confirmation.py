import datetime as dt
import uuid
from unittest import mock

import pytest
from django.core import mail, signing
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from petitions import services, views
from petitions.models import (
    Petition,
    Signature,
    SignatureRollup,
    SignatureTally,
    SignatureTimeline,
    SignatureTotals,
    start_of_hour,
)
from petitions.services import ConfirmationState as State
from petitions.tokens import CONFIRM_SALT, confirm_token

pytestmark = pytest.mark.django_db


def confirm_url(petition) -> str:
    return reverse("petitions:confirm", kwargs={"slug": petition.slug})


def test_it_shows_a_button_and_changes_nothing_on_get(client, petition, make_signature):
    signature = make_signature(petition)
    token = confirm_token(signature.public_id)
    response = client.get(confirm_url(petition), {"t": token})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Confirm my signature" in html
    assert f'<input type="hidden" name="t" value="{token}">' in html
    signature.refresh_from_db()
    assert signature.status == Signature.Status.PENDING
    assert petition.confirmed_count == 0
    assert "no-cache" in response["Cache-Control"]


def test_it_confirms_on_post_and_counts_the_signature(client, petition, make_signature):
    signature = make_signature(petition)
    response = client.post(confirm_url(petition), {"t": confirm_token(signature.public_id)})
    assert response.status_code == 302
    thanks = reverse("petitions:thanks", kwargs={"slug": petition.slug})
    assert response["Location"].startswith(thanks + "?t=")  # the receipt's page (test_receipts.py)
    signature.refresh_from_db()
    assert signature.status == Signature.Status.CONFIRMED
    assert signature.confirmed_at is not None
    assert petition.confirmed_count == 1


def test_it_counts_a_double_click_once(client, petition, make_signature):
    signature = make_signature(petition)
    token = confirm_token(signature.public_id)
    first = client.post(confirm_url(petition), {"t": token})
    second = client.post(confirm_url(petition), {"t": token})
    assert first["Location"] == second["Location"]
    assert petition.confirmed_count == 1


def test_it_says_a_used_link_is_already_counted(client, petition, make_signature):
    signature = make_signature(petition, confirmed=True)
    response = client.get(confirm_url(petition), {"t": confirm_token(signature.public_id)})
    assert response.status_code == 200
    assert "Your signature is already counted" in response.content.decode()


def test_it_offers_a_new_link_for_an_expired_one(client, petition, make_signature, settings):
    signature = make_signature(petition)
    token = confirm_token(signature.public_id)
    later = timezone.now() + dt.timedelta(seconds=settings.SIGNATURE_CONFIRM_MAX_AGE + 60)
    with mock.patch("django.core.signing.time.time", return_value=later.timestamp()):
        page = client.get(confirm_url(petition), {"t": token})
        refused = client.post(confirm_url(petition), {"t": token})
        renewed = client.post(
            reverse("petitions:new_link", kwargs={"slug": petition.slug}), {"t": token}
        )
    assert page.status_code == 410
    assert "This link has expired" in page.content.decode()
    assert "Email me a new link" in page.content.decode()
    assert refused.status_code == 410
    signature.refresh_from_db()
    assert signature.status == Signature.Status.PENDING
    assert renewed.status_code == 302
    [message] = mail.outbox
    assert message.to == [signature.email]
    assert "/confirm/?t=" in message.body


@pytest.mark.parametrize("token", ["", "garbage", "1:abc:def"])
def test_it_explains_a_broken_link_and_offers_to_send_a_new_one(client, petition, token):
    response = client.get(confirm_url(petition), {"t": token})
    assert response.status_code == 400
    html = response.content.decode()
    assert "This link does not work" in html
    assert 'name="email"' in html
    assert "sign the petition again" in html


def test_it_refuses_a_tampered_link(client, petition, make_signature):
    signature = make_signature(petition)
    other = make_signature(petition)
    token = confirm_token(signature.public_id)
    value, _sep, mac = token.partition(":")
    forged = signing.dumps(other.public_id.hex, salt="some other salt")
    for bad in (
        forged,
        token[:-2] + "xx",
        signing.dumps(other.public_id.hex, salt=CONFIRM_SALT + "x"),
    ):
        response = client.post(confirm_url(petition), {"t": bad})
        assert response.status_code == 400
    assert Signature.objects.confirmed().count() == 0


def test_it_sends_a_new_link_to_a_typed_address_only_if_it_has_signed(
    client, petition, make_signature
):
    make_signature(petition, email="known@example.org")
    url = reverse("petitions:new_link", kwargs={"slug": petition.slug})
    known = client.post(url, {"email": "Known@Example.org"})
    unknown = client.post(url, {"email": "unknown@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert [m.to for m in mail.outbox] == [["known@example.org"]]


@pytest.mark.parametrize("method", ["post", "get"])  # the button, and the link opened
def test_it_refuses_to_confirm_once_the_petition_has_closed(
    client, petition, make_signature, method
):
    signature = make_signature(petition)
    petition.closes_at = timezone.now() - dt.timedelta(seconds=1)
    petition.save()
    response = getattr(client, method)(
        confirm_url(petition), {"t": confirm_token(signature.public_id)}
    )
    assert response.status_code == 403
    assert "This petition is closed" in response.content.decode()
    assert "Confirm my signature" not in response.content.decode()
    assert petition.confirmed_count == 0
    signature.refresh_from_db()
    assert signature.status == Signature.Status.PENDING


def test_it_does_not_confirm_a_signature_through_another_petitions_page(
    client, petition, make_petition, make_signature
):
    signature = make_signature(petition)
    other = make_petition()
    response = client.post(confirm_url(other), {"t": confirm_token(signature.public_id)})
    assert response.status_code == 400
    assert petition.confirmed_count == 0


def test_it_thanks_the_signer_with_the_count_and_share_links(client, petition, make_signature):
    make_signature(petition, confirmed=True)
    response = client.get(reverse("petitions:thanks", kwargs={"slug": petition.slug}))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Thank you: your signature is counted" in html
    assert "<strong>1</strong> signature" in html
    for network in ("mailto:", "wa.me", "x.com/intent", "facebook.com/sharer", "bsky.app"):
        assert network in html
    assert 'data-copy-target="share-url-thanks"' in html
    assert '<meta property="og:title" content="Protect defenders">' in html
    assert "I have signed. Join me" in html


def test_it_decides_what_a_link_can_do_in_one_place(petition, make_petition, make_signature):
    """The page a link opens (GET) and the button (POST) read the same state."""
    state = services.confirmation_state
    pending = make_signature(petition)
    confirmed = make_signature(petition, confirmed=True)
    fraudulent = make_signature(petition, status=Signature.Status.FRAUDULENT)
    erased = make_signature(petition, confirmed=True)
    services.erase_personal_data(erased)
    other = make_petition()
    assert state(signature_id=pending.pk, petition=petition) is State.PENDING
    assert state(signature_id=pending.public_id, petition=petition) is State.PENDING
    assert state(signature_id=uuid.uuid4(), petition=petition) is State.NOT_FOUND
    assert state(signature_id=confirmed.pk, petition=petition) is State.ALREADY_CONFIRMED
    for signature in (fraudulent, erased):
        assert state(signature_id=signature.pk, petition=petition) is State.NOT_FOUND
    assert state(signature_id=pending.pk, petition=other) is State.NOT_FOUND
    assert state(signature_id=0) is State.NOT_FOUND
    petition.closes_at = timezone.now() - dt.timedelta(seconds=1)
    petition.save()
    assert state(signature_id=pending.pk, petition=petition) is State.CLOSED
    with pytest.raises(services.PetitionClosed):
        services.confirm_signature(signature_id=pending.pk, petition=petition)
    assert state(signature_id=confirmed.pk) is State.ALREADY_CONFIRMED


def csrf_form_token(response) -> str:
    return response.content.decode().split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]


def test_it_renders_the_button_page_once_and_fills_in_each_links_token(
    petition, make_signature, settings
):
    """Every signer opens a link: the page is the same for all but the two tokens."""
    settings.PAGE_CACHE_SECONDS = 60
    signatures = [make_signature(petition) for _ in range(2)]
    tokens = [confirm_token(signature.public_id) for signature in signatures]
    with mock.patch("petitions.views.render", wraps=views.render) as render:
        for signature, token, other in zip(signatures, tokens, tokens[::-1], strict=True):
            browser = Client(enforce_csrf_checks=True)
            page = browser.get(confirm_url(petition), {"t": token})
            html = page.content.decode()
            assert page.status_code == 200
            assert "no-cache" in page["Cache-Control"]
            assert f'<input type="hidden" name="t" value="{token}">' in html
            assert other not in html and "_slot__" not in html
            # The filled-in CSRF token goes with the cookie set beside it: the button works.
            form = {"t": token, "csrfmiddlewaretoken": csrf_form_token(page)}
            assert browser.post(confirm_url(petition), form).status_code == 302
            signature.refresh_from_db()
            assert signature.status == Signature.Status.CONFIRMED
    assert render.call_count == 1
    assert petition.confirmed_count == 2


def test_it_refuses_to_confirm_once_closed_though_the_worker_still_keeps_the_petition_open(
    client, petition, make_signature, settings
):
    """The closing moment is exact: the database decides, not the worker's copy."""
    settings.PAGE_CACHE_SECONDS = 60
    signature = make_signature(petition)
    token = confirm_token(signature.public_id)
    assert client.get(confirm_url(petition), {"t": token}).status_code == 200
    Petition.objects.filter(pk=petition.pk).update(
        closes_at=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.post(confirm_url(petition), {"t": token})
    assert response.status_code == 403
    signature.refresh_from_db()
    assert signature.status == Signature.Status.PENDING
    assert petition.confirmed_count == 0


def test_it_decides_in_the_database_which_petitions_are_open_as_the_petition_does(
    petition, make_petition
):
    now = timezone.now()
    others = [
        make_petition(is_published=False),
        make_petition(opens_at=now + dt.timedelta(hours=1)),
        make_petition(opens_at=now - dt.timedelta(days=2), closes_at=now - dt.timedelta(days=1)),
    ]
    assert [p.is_open for p in (petition, *others)] == [True, False, False, False]
    assert list(Petition.objects.open()) == [petition]


def test_it_credits_the_partner_on_the_second_click_too(client, petition, make_signature, zmina):
    signature = make_signature(petition, partner=zmina)
    token = confirm_token(signature.public_id)
    first = client.post(confirm_url(petition), {"t": token})
    second = client.post(confirm_url(petition), {"t": token})
    assert first["Location"] == second["Location"]
    assert "via=zmina" in first["Location"]
    assert petition.confirmed_count == 1


def test_it_files_the_confirmation_under_what_the_signature_says_in_every_count(
    client, petition, make_signature, zmina
):
    partner = zmina
    signature = make_signature(
        petition, country="PL", partner=partner, source="story", source_story="azerbaijan"
    )
    client.post(confirm_url(petition), {"t": confirm_token(signature.public_id)})
    signature.refresh_from_db()
    key = {"petition": petition, "partner": partner}
    hour = start_of_hour(signature.confirmed_at)
    page = {"country": "PL", "source": "story", "source_story": "azerbaijan"}
    assert SignatureTally.objects.get(petition=petition, country="PL").count == 1
    assert SignatureRollup.objects.get(**key, **page, hour=hour).count == 1
    assert SignatureTimeline.objects.get(**key, hour=hour).count == 1
    assert SignatureTotals.objects.get(**key, **page).count == 1
    assert services.recount_signatures(petition).was_correct


def test_it_counts_known_and_new_keys_alike_in_few_statements(
    client, petition, make_signature, django_assert_num_queries
):
    """A known key takes one statement for the four counts on PostgreSQL (one each elsewhere);
    a key's first confirmation creates the rows it needs."""
    confirm = lambda signature: client.post(  # noqa: E731
        confirm_url(petition), {"t": confirm_token(signature.public_id)}
    )
    with mock.patch("petitions.models.random.randrange", return_value=0):  # the tally's shard
        for country in ("NL", "BE"):
            confirm(make_signature(petition, country=country))
        known = make_signature(petition)
        with django_assert_num_queries(5 if connection.vendor == "postgresql" else 8):
            assert confirm(known).status_code == 302
    assert petition.confirmed_count == 3
    for rollup in (SignatureRollup, SignatureTotals):
        by_country = rollup.objects.values_list("country").annotate(total=Sum("count"))
        assert sorted(by_country) == [("BE", 1), ("NL", 2)]
    assert SignatureTimeline.objects.aggregate(total=Sum("count"))["total"] == 3
    assert services.recount_signatures(petition).was_correct
