"""The rollups the dashboards read (SignatureRollup, SignatureTimeline, SignatureTotals):
confirmed signatures summed by hour, country, partner and page, kept exact with every change to
the count, rebuilt by the recount and first filled by their migration."""

import datetime as dt
import importlib
import logging
from collections import Counter
from io import StringIO
from unittest import mock

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from petitions.models import (
    ROLLUPS,
    Signature,
    SignatureRollup,
    SignatureTimeline,
    SignatureTotals,
    start_of_hour,
)
from petitions.services import (
    erase_signatures,
    mark_fraudulent,
    recount_signatures,
    withdraw_signature,
)
from petitions.tests.helpers import failing_statements

pytestmark = pytest.mark.django_db

migration = importlib.import_module("petitions.migrations.0018_signaturerollup")
backfill = migration.backfill

KEY = ("hour", "country", "partner_id", "source", "source_story")


def rollup(petition, key=None, model=SignatureRollup) -> Counter:
    """A rollup's totals per key (its own, unless given; shards summed), leaving out keys that
    sum to nothing."""
    key = key or [name for name in model.KEY if name != "petition_id"]
    rows = (
        model.objects.filter(petition=petition)
        .values_list(*key)
        .annotate(total=Sum("count"))
        .order_by()
    )
    return Counter({tuple(row[:-1]): row[-1] for row in rows if row[-1]})


def counted(petition, stories: dict[int, str] | None = None, key=KEY) -> Counter:
    """The confirmed signatures per key, counted one by one; `stories` gives the story of a
    signature whose data was erased (the row no longer says)."""
    stories = stories or {}
    result: Counter = Counter()
    for signature in Signature.objects.confirmed().filter(petition=petition):
        values = {
            "hour": start_of_hour(signature.confirmed_at),
            "country": signature.country,
            "partner_id": signature.partner_id,
            "source": signature.source,
            "source_story": stories.get(signature.pk, signature.source_story),
        }
        result[tuple(values[name] for name in key)] += 1
    return result


def assert_exact(petition, stories: dict[int, str] | None = None, *, story_known=True) -> None:
    """Every rollup holds the confirmed signatures per its key (per the rest of it, when an
    erased signature's story is not known)."""
    for model in ROLLUPS:
        key = [name for name in model.KEY if name != "petition_id"]
        if not story_known and "source_story" in key:
            key.remove("source_story")
        assert rollup(petition, key, model) == counted(petition, stories, key), model.__name__


@pytest.fixture
def signed(petition, make_signature, zmina) -> list[Signature]:
    """Confirmed signatures of several countries, partners and pages, and a pending one."""
    make_signature(petition, country="HU", source="story", source_story="hungary")  # pending
    return [
        make_signature(petition, confirmed=True, country="NL", source="home"),
        make_signature(petition, confirmed=True, country="NL", source="home"),
        make_signature(petition, confirmed=True, country="UA", partner=zmina, source="petition"),
        make_signature(petition, confirmed=True, country="HU", source="story",
                       source_story="hungary"),
        make_signature(petition, confirmed=True, country="HU", source="story",
                       source_story="ukraine", partner=zmina),
        make_signature(petition, confirmed=True, country="BE", source="story",
                       source_story="poland"),
    ]  # fmt: skip


def test_it_counts_each_confirmation_under_its_hour_country_partner_and_page(petition, signed):
    assert_exact(petition)
    assert sum(rollup(petition).values()) == 6
    nl_home = rollup(petition, key=("country", "source"))[("NL", "home")]
    assert nl_home == 2


def test_it_files_a_confirmation_under_the_utc_hour_it_was_confirmed_in(
    petition, make_signature, monkeypatch, settings
):
    settings.TIME_ZONE = "Asia/Almaty"
    moment = dt.datetime(2026, 3, 3, 14, 37, 12, 345, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    petition.opens_at = moment - dt.timedelta(days=1)
    petition.closes_at = moment + dt.timedelta(days=1)
    petition.save()
    make_signature(petition, confirmed=True)
    row = SignatureRollup.objects.get(petition=petition)
    assert row.hour == dt.datetime(2026, 3, 3, 14, tzinfo=dt.UTC)
    assert row.count == 1


def test_it_takes_a_withdrawn_or_fraudulent_signature_out_of_its_own_key(petition, signed):
    assert withdraw_signature(signature_id=signed[0].pk)
    assert mark_fraudulent(Signature.objects.filter(pk=signed[3].pk)) == 1
    assert_exact(petition)
    assert sum(rollup(petition).values()) == 4
    assert rollup(petition, key=("country", "source_story"))[("HU", "hungary")] == 0


def test_it_leaves_the_rollup_alone_for_pending_and_already_fraudulent_signatures(
    petition, signed, make_signature
):
    before = rollup(petition)
    pending = make_signature(petition, country="DE")
    withdraw_signature(signature_id=pending.pk)
    mark_fraudulent(Signature.objects.filter(pk=signed[1].pk))
    mark_fraudulent(Signature.objects.filter(pk=signed[1].pk))  # a second time: nothing more
    before[(start_of_hour(signed[1].confirmed_at), "NL", None, "home", "")] -= 1
    assert rollup(petition) == +before


def test_erasure_keeps_the_figures_and_a_later_change_still_finds_them(petition, signed):
    """Erasing the signer's data forgets the story on the signature, not in the rollup; taking
    the signature out afterwards takes it from the same hour, country, partner and page."""
    stories = {signed[3].pk: "hungary", signed[5].pk: "poland"}
    erase_signatures(Signature.objects.filter(pk__in=stories))
    assert Signature.objects.get(pk=signed[3].pk).source_story == ""
    assert_exact(petition, stories)
    with failing_statements() as failed:
        assert mark_fraudulent(Signature.objects.filter(pk=signed[3].pk)) == 1
    assert failed == []
    assert_exact(petition, stories)
    assert rollup(petition, key=("source_story",))[("hungary",)] == 0


def test_without_its_story_it_takes_from_another_story_of_the_same_key(petition, make_signature):
    """Two stories in one hour, country and page: the erased signature's story is unknown, so
    one of the two is taken from; every total but the story's stays exact."""
    hungary = make_signature(petition, confirmed=True, source="story", source_story="hungary")
    make_signature(petition, confirmed=True, source="story", source_story="poland")
    make_signature(petition, confirmed=True, source="story", source_story="poland")
    erase_signatures(Signature.objects.filter(pk=hungary.pk))
    with failing_statements() as failed:
        mark_fraudulent(Signature.objects.filter(pk=hungary.pk))
    assert failed == []
    assert_exact(petition, story_known=False)
    for model in ROLLUPS:
        assert sum(rollup(petition, model=model).values()) == 2
        assert not model.objects.filter(count__lt=0).exists()


def test_confirmations_that_do_not_meet_share_one_row_per_key(petition, make_signature):
    """A rollup adds to the first shard no other transaction holds: one after the other, all
    confirmations of a key land in one row (the tally spreads them, test_counting.py)."""
    signatures = [make_signature(petition, confirmed=True) for _ in range(30)]
    for model in ROLLUPS:
        assert list(model.objects.values_list("count", flat=True)) == [30], model.__name__
    with failing_statements() as failed:
        for signature in signatures:
            withdraw_signature(signature_id=signature.pk)
    assert failed == []
    for model in ROLLUPS:
        assert set(model.objects.values_list("count", flat=True)) == {0}


def test_it_adds_to_another_shard_when_none_is_free(petition, make_signature):
    """Where every shard of the key is held by another transaction (SKIP LOCKED finds none),
    it adds to a random one, creating it if need be."""
    with mock.patch("petitions.models.random.randrange", return_value=0):
        signature = make_signature(petition, confirmed=True)
    with (
        mock.patch.object(SignatureTimeline, "_add_to_a_free_shard", return_value=False),
        mock.patch("petitions.models.random.randrange", return_value=3),
        failing_statements() as failed,
    ):
        SignatureTimeline.count_signature(signature, delta=1)  # creates shard 3
        SignatureTimeline.count_signature(signature, delta=1)  # shard 3 is there: adds to it
    assert failed == []
    shards = SignatureTimeline.objects.filter(petition=petition).values_list("shard", "count")
    assert sorted(shards) == [(0, 1), (3, 2)]


def test_a_new_key_costs_one_statement_more_than_a_known_one(petition, make_signature):
    signature = make_signature(petition, confirmed=True)
    with CaptureQueriesContext(connection) as known:
        SignatureRollup.count_signature(signature, delta=1)
    signature.country = "BE"
    with CaptureQueriesContext(connection) as new:
        SignatureRollup.count_signature(signature, delta=1)
    assert [q["sql"].split()[0] for q in known] == ["UPDATE"]
    assert [q["sql"].split()[0] for q in new] == ["UPDATE", "INSERT"]
    assert rollup(petition, key=["country"]) == Counter({("NL",): 2, ("BE",): 1})


def test_it_never_takes_a_rollup_below_zero_taking_from_the_fullest_shard(petition, make_signature):
    signature = make_signature(petition, confirmed=True)
    SignatureRollup.objects.filter(petition=petition).update(shard=1)
    empty = SignatureRollup.objects.create(
        petition=petition, hour=start_of_hour(signature.confirmed_at), country="NL",
        source="other", shard=3, count=0,
    )  # fmt: skip
    with (
        mock.patch("petitions.models.random.randrange", return_value=3),
        failing_statements() as failed,
    ):
        withdraw_signature(signature_id=signature.pk)
    assert failed == []
    empty.refresh_from_db()
    assert empty.count == 0
    assert SignatureRollup.objects.get(petition=petition, shard=1).count == 0


def test_a_rollup_already_short_is_left_and_says_so(petition, make_signature, caplog):
    signature = make_signature(petition, confirmed=True, wants_updates=True)  # address kept
    SignatureTimeline.objects.filter(petition=petition).update(count=0)
    with caplog.at_level(logging.WARNING), failing_statements() as failed:
        assert withdraw_signature(signature_id=signature.pk)
    assert failed == []
    assert "SignatureTimeline" in caplog.text and "recount_signatures" in caplog.text
    assert signature.email not in caplog.text
    assert not Signature.objects.filter(pk=signature.pk).exists()
    assert sum(rollup(petition).values()) == 0  # the others are taken from all the same


def test_the_recount_rebuilds_the_same_rollups_as_the_ones_kept(petition, signed):
    withdraw_signature(signature_id=signed[1].pk)
    kept = [rollup(petition, model=model) for model in ROLLUPS]
    result = recount_signatures(petition)
    assert [rollup(petition, model=model) for model in ROLLUPS] == kept
    assert_exact(petition)
    assert result.after == 5 and result.rollups_before == (5, 5, 5)
    assert result.was_correct
    for model in ROLLUPS:
        assert set(model.objects.values_list("shard", flat=True)) == {0}


def test_the_recount_repairs_wrong_rollups(petition, signed, make_petition, make_signature):
    other = make_petition()
    make_signature(other, confirmed=True, country="PL")
    SignatureRollup.objects.filter(petition=petition, country="NL").update(count=0)
    SignatureTotals.objects.filter(petition=petition, country="BE").delete()
    SignatureTimeline.objects.filter(petition=other).update(count=7)
    output = StringIO()
    call_command("recount_signatures", petition.slug, stdout=output)
    assert "dashboards' figures 4/6/5, repaired" in output.getvalue()
    assert_exact(petition)
    # Another petition's rows are left as they are, until it is recounted itself.
    assert sum(rollup(other, model=SignatureTimeline).values()) == 7
    output = StringIO()
    call_command("recount_signatures", stdout=output)
    assert f"{other.slug}: 1 confirmed (stored count was 1, dashboards' figures 1/7/1, " \
           "repaired)" in output.getvalue()  # fmt: skip
    assert_exact(other)
    output = StringIO()
    call_command("recount_signatures", stdout=output)
    assert "repaired" not in output.getvalue()


def test_the_migration_fills_the_rollups_from_the_signatures_already_confirmed(
    petition, signed, make_petition, make_signature
):
    other = make_petition()
    make_signature(other, confirmed=True, country="PL")
    withdraw_signature(signature_id=signed[0].pk)
    # Confirmed in different hours: one row for each in the rollup, one for them all in the
    # totals.
    earlier = signed[1].confirmed_at - dt.timedelta(hours=5)
    Signature.objects.filter(pk__in=[signed[1].pk, signed[2].pk]).update(confirmed_at=earlier)
    for model in ROLLUPS:
        model.objects.all().delete()
    backfill(apps, None)
    assert_exact(petition)
    assert_exact(other)
    assert SignatureRollup.objects.filter(petition=petition).count() == 5
    assert SignatureTimeline.objects.filter(petition=petition).count() == 4
    assert SignatureTotals.objects.filter(petition=petition).count() == 5
    for model in ROLLUPS:
        assert set(model.objects.values_list("shard", flat=True)) == {0}


def test_the_migration_fills_in_batches(petition, make_signature):
    for country in ["NL", "BE", "DE", "FR", "PL"]:
        make_signature(petition, confirmed=True, country=country)
    SignatureTotals.objects.all().delete()
    created = []
    real = SignatureTotals.objects.bulk_create
    with (
        mock.patch.object(
            migration, "KEYS", {"SignatureTotals": migration.KEYS["SignatureTotals"]}
        ),
        mock.patch.object(migration, "BATCH", 2),
        mock.patch.object(
            SignatureTotals.objects,
            "bulk_create",
            side_effect=lambda objs, **kw: created.append(len(objs)) or real(objs, **kw),
        ),
    ):
        backfill(apps, None)
    assert created == [2, 2, 1]
    assert_exact(petition)


def test_the_migration_keys_the_rollups_as_the_models_do():
    assert {name: key for name, key in migration.KEYS.items()} == {
        model.__name__: model.KEY for model in ROLLUPS
    }


@pytest.mark.parametrize("model", ROLLUPS, ids=lambda model: model.__name__)
def test_it_keeps_one_row_per_key_and_shard_with_or_without_a_partner(petition, zmina, model):
    values = {"hour": start_of_hour(timezone.now()), "country": "NL", "source": "home"}
    row = {name: values[name] for name in model.KEY if name in values}
    for partner in (None, zmina):
        model.objects.create(petition=petition, **row, partner=partner, shard=0, count=1)
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.create(petition=petition, **row, partner=partner, shard=0, count=1)
        model.objects.create(petition=petition, **row, partner=partner, shard=1, count=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(petition=petition, **row, shard=2, count=-1)


def test_a_partner_with_figures_cannot_be_deleted(petition, signed, zmina):
    with pytest.raises(ProtectedError):
        zmina.delete()
    assert Signature.objects.filter(partner=zmina).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgresql
def test_concurrent_confirmations_keep_every_rollup_exact(petition, make_signature):
    """Twenty confirmations of one key at once: those that find every shard held add to
    another (SKIP LOCKED), none fails, and every rollup holds them all."""
    from petitions.services import confirm_signature
    from petitions.tests.test_concurrency import THREADS, run_together

    signatures = [make_signature(petition) for _ in range(THREADS)]
    errors = run_together(lambda n: confirm_signature(signature_id=signatures[n].pk), THREADS)
    assert errors == []
    assert_exact(petition)
    for model in ROLLUPS:
        rows = model.objects.filter(petition=petition)
        assert sum(rows.values_list("count", flat=True)) == THREADS
        assert rows.count() <= model.SHARDS
