"""The hot paths' queries, counted so that a regression fails CI (no timing in tests)."""

import pytest
from django.db import connection
from django.urls import reverse

from partners.models import Partner
from petitions.tokens import confirm_token, withdraw_token

pytestmark = pytest.mark.django_db


def test_petition_page(client, campaign, django_assert_num_queries):
    # The petition; its tally with the latest breakdown snapshot, in one query.
    with django_assert_num_queries(2):
        url = reverse("petitions:detail", kwargs={"slug": campaign.slug})
        assert client.get(url).status_code == 200


def test_a_partners_link_costs_no_query_once_partners_are_known(
    client, campaign, sign_data, django_assert_num_queries, settings
):
    # The partners are read once a minute per process (partners.models.partner_for); so are
    # the consent wordings once used. Then a partner's page and signing cost what others do.
    settings.EMAIL_QUEUE = "worker"
    Partner.objects.create(name="ZMINA", slug="zmina", country="UA")
    page = reverse("petitions:detail", kwargs={"slug": campaign.slug})
    sign = reverse("petitions:sign", kwargs={"slug": campaign.slug})
    data = sign_data(via="zmina", wants_updates="on", partner_updates="on")
    client.post(sign, {**data, "email": "first@example.org"})
    with django_assert_num_queries(2):
        assert client.get(page, {"via": "zmina"}).status_code == 200
    with django_assert_num_queries(2):
        assert client.post(sign, {**data, "email": "second@example.org"}).status_code == 302
    assert campaign.signatures.with_email("second@example.org").get().partner.slug == "zmina"


def test_sign_post(client, campaign, sign_data, django_assert_num_queries, settings):
    # As in production, where the email worker sends: the petition (which production keeps
    # in the worker's memory for a few seconds), then one INSERT that stores the signature and
    # queues its email, in autocommit.
    settings.EMAIL_QUEUE = "worker"
    url = reverse("petitions:sign", kwargs={"slug": campaign.slug})
    with django_assert_num_queries(2):
        assert client.post(url, sign_data(email="new@example.org")).status_code == 302
    assert campaign.signatures.with_email("new@example.org").get().email_due


def test_sign_post_again(client, campaign, sign_data, django_assert_num_queries, settings):
    # The same address again, the same work as a new one (test_link_privacy.py): the petition,
    # and the INSERT whose conflict updates the row there, emailing again or not.
    settings.EMAIL_QUEUE = "worker"
    url = reverse("petitions:sign", kwargs={"slug": campaign.slug})
    client.post(url, sign_data(email="new@example.org"))
    with django_assert_num_queries(2):
        assert client.post(url, sign_data(email="NEW@example.org")).status_code == 302
    assert campaign.signatures.with_email("new@example.org").count() == 1


def test_sign_post_sending_at_once(client, campaign, sign_data, django_assert_num_queries):
    # In development (EMAIL_QUEUE=immediate) the email goes out in the request: the petition,
    # the INSERT, then the sending in a transaction (a savepoint here): lock the signature,
    # mark it sent.
    url = reverse("petitions:sign", kwargs={"slug": campaign.slug})
    with django_assert_num_queries(6):
        assert client.post(url, sign_data(email="new@example.org")).status_code == 302


def test_confirm_post(client, campaign, make_signature, django_assert_num_queries):
    signature = make_signature(campaign)
    url = reverse("petitions:confirm", kwargs={"slug": campaign.slug})
    # The petition; in the transaction (a savepoint here, as tests run inside one): the
    # conditional UPDATE, which returns what the counts need and the partner's slug for the
    # thank-you page's address; then the tally shard's UPDATE and an UPDATE for each of the
    # three rollups, on PostgreSQL all four in one statement.
    with django_assert_num_queries(5 if connection.vendor == "postgresql" else 8):
        response = client.post(url, {"t": confirm_token(signature.public_id)})
    assert response.status_code == 302


def test_thanks_with_receipt(client, campaign, django_assert_num_queries):
    signature = campaign.signatures.confirmed().first()
    url = reverse("petitions:thanks", kwargs={"slug": campaign.slug})
    # The petition; the signature's receipt with its partner, in one query; the count with the
    # latest breakdown snapshot.
    with django_assert_num_queries(3):
        response = client.get(url, {"t": confirm_token(signature.public_id)})
    assert response.status_code == 200 and response.context["receipt"]


def test_confirm_get(client, campaign, make_signature, django_assert_num_queries):
    signature = make_signature(campaign)
    url = reverse("petitions:confirm", kwargs={"slug": campaign.slug})
    with django_assert_num_queries(2):  # the petition, the signature
        response = client.get(url, {"t": confirm_token(signature.public_id)})
    assert response.status_code == 200


def test_withdraw_post(client, campaign, django_assert_num_queries):
    signature = campaign.signatures.confirmed().first()
    url = reverse("petitions:withdraw", kwargs={"slug": campaign.slug})
    # Petition; in the transaction (a savepoint here): the signature locked, tally shard
    # UPDATE, an UPDATE for each of the three rollups, DELETE.
    with django_assert_num_queries(9):
        response = client.post(url, {"t": withdraw_token(signature.public_id)})
    assert response.status_code == 200


@pytest.mark.parametrize("email", ["signer@example.org", "stranger@example.org"])
def test_new_link_post(
    client, campaign, make_signature, email, django_assert_num_queries, settings
):
    settings.EMAIL_QUEUE = "worker"
    make_signature(campaign, email="signer@example.org")
    url = reverse("petitions:new_link", kwargs={"slug": campaign.slug})
    # For an address that has signed and one that has not alike: the petition; in the
    # transaction (a savepoint here), the commit that does not wait for the disk (PostgreSQL
    # only) and the conditional UPDATE.
    with django_assert_num_queries(5 if connection.vendor == "postgresql" else 4):
        assert client.post(url, {"email": email}).status_code == 302
    signer = campaign.signatures.with_email("signer@example.org").get()
    assert signer.email_due is (email == signer.email)
