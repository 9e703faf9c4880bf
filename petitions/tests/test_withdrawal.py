import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from petitions.models import Signature
from petitions.tokens import confirm_token, withdraw_token

pytestmark = pytest.mark.django_db


def withdraw_url(petition) -> str:
    return reverse("petitions:withdraw", kwargs={"slug": petition.slug})


def test_it_asks_before_withdrawing_and_changes_nothing_on_get(client, petition, make_signature):
    signature = make_signature(petition, confirmed=True)
    response = client.get(withdraw_url(petition), {"t": withdraw_token(signature.pk)})
    assert response.status_code == 200
    assert "Withdraw my signature" in response.content.decode()
    assert Signature.objects.filter(pk=signature.pk).exists()
    assert petition.confirmed_count == 1


def test_it_deletes_the_signer_and_lowers_the_count(client, petition, make_signature):
    kept = make_signature(petition, confirmed=True)
    signature = make_signature(petition, confirmed=True, email="leaving@example.org")
    response = client.post(withdraw_url(petition), {"t": withdraw_token(signature.pk)})
    assert response.status_code == 200
    assert "Your signature has been withdrawn" in response.content.decode()
    assert not Signature.objects.filter(email="leaving@example.org").exists()
    assert list(Signature.objects.all()) == [kept]
    assert petition.confirmed_count == 1


def test_it_withdraws_a_pending_signature_without_touching_the_count(
    client, petition, make_signature
):
    make_signature(petition, confirmed=True)
    pending = make_signature(petition)
    client.post(withdraw_url(petition), {"t": withdraw_token(pending.pk)})
    assert not Signature.objects.filter(pk=pending.pk).exists()
    assert petition.confirmed_count == 1


def test_it_erases_details_but_keeps_the_frozen_count_after_closing(
    client, petition, make_signature
):
    signature = make_signature(petition, confirmed=True)
    petition.closes_at = timezone.now() - dt.timedelta(seconds=1)
    petition.save()
    client.post(withdraw_url(petition), {"t": withdraw_token(signature.pk)})
    signature.refresh_from_db()
    assert signature.erased_at is not None
    assert (signature.first_name, signature.last_name, signature.email) == ("", "", None)
    assert petition.confirmed_count == 1


def test_it_says_when_there_is_nothing_to_withdraw(client, petition, make_signature):
    signature = make_signature(petition, confirmed=True)
    token = withdraw_token(signature.pk)
    client.post(withdraw_url(petition), {"t": token})
    again = client.post(withdraw_url(petition), {"t": token})
    assert again.status_code == 404
    assert "There is nothing to withdraw" in again.content.decode()
    confirm_link = client.post(withdraw_url(petition), {"t": confirm_token(signature.pk)})
    assert confirm_link.status_code == 404
    assert petition.confirmed_count == 0
