from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from petitions.models import Signature, SignatureTally
from petitions.services import erase_personal_data, withdraw_signature
from petitions.tests.helpers import failing_statements

pytestmark = pytest.mark.django_db


def real_count(petition) -> int:
    return Signature.objects.confirmed().filter(petition=petition).count()


def test_it_keeps_the_stored_count_equal_to_the_real_one(petition, make_signature):
    signatures = [
        make_signature(petition, confirmed=True, country=c) for c in ["NL", "NL", "BE", "DE"]
    ]
    make_signature(petition)  # pending
    assert petition.confirmed_count == real_count(petition) == 4
    withdraw_signature(signature_id=signatures[0].pk)
    assert petition.confirmed_count == real_count(petition) == 3
    erase_personal_data(signatures[1])  # erasure keeps the anonymous signature counted
    assert petition.confirmed_count == real_count(petition) == 3
    withdraw_signature(signature_id=signatures[2].pk)
    assert petition.confirmed_count == real_count(petition) == 2


def test_it_spreads_confirmations_over_several_rows(petition, make_signature):
    for _ in range(40):
        make_signature(petition, confirmed=True)
    shards = SignatureTally.objects.filter(petition=petition).values_list("shard", flat=True)
    assert len(set(shards)) > 1
    assert petition.confirmed_count == 40


def test_it_adds_to_a_shard_another_confirmation_created_first(petition):
    """Two first confirmations in one shard at once: the one that finds the row just created
    adds to it, and no statement fails (nothing for the database's error log)."""
    create_empty = SignatureTally.objects.bulk_create

    def created_meanwhile(objs, **options):
        SignatureTally.objects.create(petition=petition, country="NL", shard=3, count=5)
        return create_empty(objs, **options)

    with (
        mock.patch("petitions.models.random.randrange", return_value=3),
        mock.patch.object(SignatureTally.objects, "bulk_create", side_effect=created_meanwhile),
        failing_statements() as failed,
    ):
        SignatureTally.add(petition_id=petition.pk, country="NL", delta=1)
    assert failed == []
    assert SignatureTally.objects.get(petition=petition, country="NL", shard=3).count == 6


def shards(petition, country: str = "NL") -> dict[int, int]:
    rows = SignatureTally.objects.filter(petition=petition, country=country)
    return dict(rows.values_list("shard", "count"))


def test_it_never_takes_a_withdrawn_signature_below_zero(petition, make_signature):
    """The random shard is empty while another holds the signatures: the one taken is taken
    from there (before, the empty shard went to -1)."""
    with mock.patch("petitions.models.random.randrange", return_value=2):
        signatures = [make_signature(petition, confirmed=True) for _ in range(2)]
    SignatureTally.objects.create(petition=petition, country="NL", shard=5, count=0)
    with (
        mock.patch("petitions.models.random.randrange", return_value=5),
        failing_statements() as failed,
    ):
        assert withdraw_signature(signature_id=signatures[0].pk)
    assert failed == []
    assert shards(petition) == {2: 1, 5: 0}
    assert petition.confirmed_count == real_count(petition) == 1


def test_it_takes_from_the_random_shard_when_it_has_enough(petition):
    """Withdrawals spread over the shards like confirmations, so they seldom wait for one row."""
    SignatureTally.objects.create(petition=petition, country="NL", shard=1, count=1)
    SignatureTally.objects.create(petition=petition, country="NL", shard=4, count=3)
    with mock.patch("petitions.models.random.randrange", return_value=1):
        SignatureTally.add(petition_id=petition.pk, country="NL", delta=-1)
    assert shards(petition) == {1: 0, 4: 3}


def test_it_leaves_a_tally_that_is_already_short_and_says_so(petition, caplog):
    SignatureTally.objects.create(petition=petition, country="NL", shard=0, count=0)
    with failing_statements() as failed:
        SignatureTally.add(petition_id=petition.pk, country="NL", delta=-1)
    assert failed == []
    assert shards(petition) == {0: 0}
    assert "recount_signatures" in caplog.text


def test_it_reads_the_count_without_counting_signatures(client, petition, make_signature):
    for _ in range(3):
        make_signature(petition, confirmed=True)
    petition.forget_stats()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("petitions:detail", kwargs={"slug": petition.slug}))
    assert response.status_code == 200
    assert not [q["sql"] for q in queries if '"petitions_signature"' in q["sql"]]
    assert [q["sql"] for q in queries if '"petitions_signaturetally"' in q["sql"]]
    assert response.context["stats"].count == 3


def test_it_repairs_a_wrong_count(petition, make_signature):
    for country in ("NL", "NL", "BE"):
        make_signature(petition, confirmed=True, country=country)
    SignatureTally.objects.filter(petition=petition).update(count=7)
    petition.forget_stats()
    assert petition.confirmed_count != 3
    output = StringIO()
    call_command("recount_signatures", petition.slug, stdout=output)
    assert f"{petition.slug}: 3 confirmed" in output.getvalue()
    assert "repaired" in output.getvalue()
    assert petition.confirmed_count == 3
    assert SignatureTally.objects.by_country(petition.pk) == [("NL", 2), ("BE", 1)]
    output = StringIO()
    call_command("recount_signatures", stdout=output)
    assert "correct" in output.getvalue()


def test_it_refuses_to_recount_an_unknown_petition(db):
    with pytest.raises(CommandError, match="No petition with slug: nope"):
        call_command("recount_signatures", "nope")


def test_it_reads_the_stats_once_to_show_the_count_and_the_progress(
    client, petition, make_signature
):
    from unittest import mock

    from django.core.cache import cache

    make_signature(petition, confirmed=True)
    petition.forget_stats()
    key = f"petition:{petition.pk}:stats"
    with mock.patch.object(cache, "get", wraps=cache.get) as reads:
        html = client.get(
            reverse("petitions:thanks", kwargs={"slug": petition.slug})
        ).content.decode()
    assert [call.args[0] for call in reads.call_args_list].count(key) == 1
    assert '<progress class="count__bar" max="1000" value="1"' in html
    assert "0% of the goal of 1,000 signatures" in html
