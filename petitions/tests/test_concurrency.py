"""Races that only a real database can show: run on PostgreSQL (left out on SQLite)."""

import threading

import pytest
from django.db import connections

from petitions.models import Signature
from petitions.services import confirm_signature, sign_petition

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgresql,
]

THREADS = 20


def run_together(target, count: int) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            target(n)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_it_keeps_one_row_when_twenty_threads_sign_with_the_same_email(petition, settings):
    settings.SIGNATURE_EMAIL_INTERVAL = 0

    def sign(n: int) -> None:
        sign_petition(
            petition=petition,
            first_name=f"Twin {n}",
            last_name="Racer",
            email="Race@Example.org" if n % 2 else "race@example.ORG",
            country="NL",
        )

    errors = run_together(sign, THREADS)
    assert errors == []
    assert Signature.objects.filter(petition=petition).count() == 1


def test_it_counts_concurrent_confirmations_exactly(petition, make_signature):
    signatures = [make_signature(petition) for _ in range(THREADS)]
    errors = run_together(lambda n: confirm_signature(signature_id=signatures[n].pk), THREADS)
    assert errors == []
    petition.forget_stats()
    assert petition.confirmed_count == THREADS
    assert Signature.objects.confirmed().count() == THREADS


def test_it_counts_one_signature_confirmed_by_twenty_clicks_once(petition, make_signature):
    signature = make_signature(petition)
    errors = run_together(lambda n: confirm_signature(signature_id=signature.pk), THREADS)
    assert errors == []
    petition.forget_stats()
    assert petition.confirmed_count == 1
