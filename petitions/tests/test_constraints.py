"""What the code assumes, the database refuses to store otherwise."""

import threading
import time
from unittest import mock

import pytest
from django.db import IntegrityError, connection, connections, transaction

from petitions.models import ExportRecord, Signature, SignatureTally


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field,value",
    [("status", "withdrawn"), ("source", "newsletter")],
)
def test_it_refuses_a_signature_value_that_is_not_a_choice(petition, make_signature, field, value):
    signature = make_signature(petition)
    with pytest.raises(IntegrityError), transaction.atomic():
        Signature.objects.filter(pk=signature.pk).update(**{field: value})
    signature.refresh_from_db()
    assert getattr(signature, field) != value


@pytest.mark.django_db
def test_it_refuses_an_export_record_of_an_unknown_kind(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        ExportRecord.objects.create(kind="email", username="staff")
    ExportRecord.objects.create(kind=ExportRecord.Kind.HAND_IN, username="staff")


@pytest.mark.django_db
def test_it_refuses_a_negative_tally_shard(petition):
    with pytest.raises(IntegrityError), transaction.atomic():
        SignatureTally.objects.create(petition=petition, country="NL", shard=0, count=-1)
    SignatureTally.objects.create(petition=petition, country="NL", shard=0, count=0)


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgresql
@pytest.mark.parametrize("random_shard", [0, 7], ids=["random-shard", "fullest-shard"])
def test_it_never_takes_one_shards_last_signature_twice(petition, random_shard):
    """Two withdrawals race for the same shard, which holds one signature: the second waits
    for the first, finds the shard empty, and takes from the other one; no statement fails.
    (Shard 7 has no row, so both then go for the fullest shard, the same for both.)"""
    for shard in (0, 1):
        SignatureTally.objects.create(petition=petition, country="NL", shard=shard, count=1)
    first_took, second_started = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def withdraw(first: bool) -> None:
        try:
            if not first:
                first_took.wait(10)
            with transaction.atomic():
                if not first:
                    second_started.set()
                SignatureTally.add(petition_id=petition.pk, country="NL", delta=-1)
                if first:
                    first_took.set()
                    second_started.wait(10)
                    # Commit only once the second one is waiting for this row's lock.
                    deadline = time.monotonic() + 10
                    while not _waiting_for_a_lock() and time.monotonic() < deadline:
                        time.sleep(0.01)
        except BaseException as exc:  # asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    with mock.patch("petitions.models.random.randrange", return_value=random_shard):
        threads = [threading.Thread(target=withdraw, args=(first,)) for first in (True, False)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    counts = SignatureTally.objects.filter(petition=petition).values_list("shard", "count")
    assert dict(counts) == {0: 0, 1: 0}
