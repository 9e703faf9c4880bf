import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from petitions import services
from petitions.models import Signature
from petitions.services import WithdrawalState as State
from petitions.tokens import confirm_token, withdraw_token

pytestmark = pytest.mark.django_db


def withdraw_url(petition) -> str:
    return reverse("petitions:withdraw", kwargs={"slug": petition.slug})


def test_it_asks_before_withdrawing_and_changes_nothing_on_get(client, petition, make_signature):
    signature = make_signature(petition, confirmed=True)
    response = client.get(withdraw_url(petition), {"t": withdraw_token(signature.public_id)})
    assert response.status_code == 200
    assert "Withdraw my signature" in response.content.decode()
    assert Signature.objects.filter(pk=signature.pk).exists()
    assert petition.confirmed_count == 1


def test_it_deletes_the_signer_and_lowers_the_count(client, petition, make_signature):
    kept = make_signature(petition, confirmed=True)
    signature = make_signature(petition, confirmed=True, email="leaving@example.org")
    response = client.post(withdraw_url(petition), {"t": withdraw_token(signature.public_id)})
    assert response.status_code == 200
    assert "Your signature has been withdrawn" in response.content.decode()
    assert not Signature.objects.with_email("leaving@example.org").exists()
    assert list(Signature.objects.all()) == [kept]
    assert petition.confirmed_count == 1


def test_it_withdraws_a_pending_signature_without_touching_the_count(
    client, petition, make_signature
):
    make_signature(petition, confirmed=True)
    pending = make_signature(petition)
    client.post(withdraw_url(petition), {"t": withdraw_token(pending.public_id)})
    assert not Signature.objects.filter(pk=pending.pk).exists()
    assert petition.confirmed_count == 1


def test_it_erases_details_but_keeps_the_frozen_count_after_closing(
    client, petition, make_signature
):
    signature = make_signature(petition, confirmed=True)
    petition.closes_at = timezone.now() - dt.timedelta(seconds=1)
    petition.save()
    client.post(withdraw_url(petition), {"t": withdraw_token(signature.public_id)})
    signature.refresh_from_db()
    assert signature.erased_at is not None
    assert (signature.first_name, signature.last_name, signature.email) == ("", "", None)
    assert petition.confirmed_count == 1


def test_it_says_when_there_is_nothing_to_withdraw(client, petition, make_signature):
    signature = make_signature(petition, confirmed=True)
    token = withdraw_token(signature.public_id)
    client.post(withdraw_url(petition), {"t": token})
    again = client.post(withdraw_url(petition), {"t": token})
    assert again.status_code == 404
    assert "There is nothing to withdraw" in again.content.decode()
    confirm_link = client.post(withdraw_url(petition), {"t": confirm_token(signature.public_id)})
    assert confirm_link.status_code == 404
    assert petition.confirmed_count == 0


def test_it_finds_nothing_to_withdraw_through_another_petitions_page(
    client, petition, make_petition, make_signature
):
    signature = make_signature(petition, confirmed=True)
    other = make_petition()
    token = withdraw_token(signature.public_id)
    assert client.get(withdraw_url(other), {"t": token}).status_code == 404
    assert client.post(withdraw_url(other), {"t": token}).status_code == 404
    assert Signature.objects.filter(pk=signature.pk, erased_at__isnull=True).exists()
    assert petition.confirmed_count == 1


def test_it_decides_what_a_withdrawal_link_can_do_in_one_place(
    petition, make_petition, make_signature
):
    """The page a link opens (GET) and the button (POST) read the same state."""
    state = services.withdrawal_state
    pending = make_signature(petition)
    confirmed = make_signature(petition, confirmed=True)
    erased = make_signature(petition, confirmed=True)
    services.erase_personal_data(erased)
    assert state(signature_id=pending.pk, petition=petition) is State.DELETE
    assert state(signature_id=confirmed.pk, petition=petition) is State.DELETE
    assert state(signature_id=confirmed.public_id, petition=petition) is State.DELETE
    assert state(signature_id=erased.public_id, petition=petition) is State.NOT_FOUND
    assert state(signature_id=uuid.uuid4(), petition=petition) is State.NOT_FOUND
    assert state(signature_id=erased.pk, petition=petition) is State.NOT_FOUND
    assert state(signature_id=confirmed.pk, petition=make_petition()) is State.NOT_FOUND
    petition.closes_at = timezone.now() - dt.timedelta(seconds=1)
    petition.save()
    assert state(signature_id=confirmed.pk, petition=petition) is State.ERASE
    assert state(signature_id=pending.pk, petition=petition) is State.DELETE
    assert not services.withdraw_signature(signature_id=erased.pk, petition=petition)
