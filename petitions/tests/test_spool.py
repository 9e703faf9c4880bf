"""Signing through a database outage: signings the database cannot take are spooled, sealed, in
Redis and written once it is back (petitions.spool). These run against the local Redis, each
test under its own keys; the database's outage is simulated by refusing every statement."""

import contextlib
import datetime as dt
import logging
import os
import uuid

import pytest
import redis
from django.core import mail
from django.core.cache import cache
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone, translation

from campaign.lib.pagecache import TimedCache
from petitions import models, services, spool
from petitions.emails import run_worker, send_one
from petitions.models import Signature

pytestmark = pytest.mark.django_db

SPOOL_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
def spool_redis(settings, monkeypatch):
    """A spool on the local Redis, under keys of this test's own. Skipped where no Redis
    answers, unless REQUIRE_REDIS is set (as .ci/run does): there a missing Redis fails."""
    settings.SPOOL_URL = SPOOL_URL
    client = redis.Redis.from_url(SPOOL_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        if os.environ.get("REQUIRE_REDIS"):
            pytest.fail(f"REQUIRE_REDIS is set but Redis does not answer: {error}")
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test-spool:{uuid.uuid4().hex}"
    monkeypatch.setattr(spool, "PREFIX", prefix)
    monkeypatch.setattr(spool, "_last_warnings", {})  # each test hears the outage said
    yield client
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.fixture
def site(settings, client, petition):
    """The site in its production form as far as an outage goes: workers keep the published
    petition and the page for a few seconds. The petition page has been read once."""
    settings.PAGE_CACHE_SECONDS = 5
    assert client.get(detail_url(petition)).status_code == 200
    return client


@contextlib.contextmanager
def database_down():
    """Every statement refused as by a PostgreSQL that went away, for longer than the workers
    keep what they read for seconds or a minute (the petition, the page, the partners, the
    high-risk countries): those entries have expired."""

    def refuse(execute, sql, params, many, context):
        raise OperationalError("the database does not answer")

    for kept in [kept for kept in TimedCache.instances if kept.lifetime <= 60]:
        kept.entries.update((key, (0.0, value)) for key, (_t, value) in kept.entries.items())
    with connection.execute_wrapper(refuse):
        yield


def detail_url(petition, query: str = "") -> str:
    return reverse("petitions:detail", kwargs={"slug": petition.slug}) + query


def sign_url(petition) -> str:
    return reverse("petitions:sign", kwargs={"slug": petition.slug})


def inbox_url(petition) -> str:
    return reverse("petitions:check_inbox", kwargs={"slug": petition.slug})


def raw_entries(client) -> list[bytes]:
    return client.lrange(f"{spool.PREFIX}:entries", 0, -1) + client.lrange(
        f"{spool.PREFIX}:aside", 0, -1
    )


def sign_while_down(site, petition, data):
    with database_down():
        return site.post(sign_url(petition), data)


def test_it_spools_a_signing_and_shows_check_your_inbox(site, petition, sign_data, spool_redis):
    response = sign_while_down(site, petition, sign_data())
    assert response.status_code == 302
    assert response["Location"] == inbox_url(petition)
    assert spool.waiting() == 1
    assert not Signature.objects.exists()
    assert mail.outbox == []
    with database_down():
        page = site.get(inbox_url(petition))
    assert page.status_code == 200
    assert "Check your inbox" in page.content.decode()


def test_the_spool_holds_ciphertext_only(site, petition, sign_data, spool_redis):
    sign_while_down(site, petition, sign_data(first_name="Zénobie", last_name="Quartermaine"))
    [entry] = raw_entries(spool_redis)
    for plain in (b"ada@example.org", b"example.org", "Zénobie".encode(), b"Quartermaine"):
        assert plain not in entry


def test_the_worker_drains_it_once_the_database_is_back_with_one_email(
    site, petition, sign_data, spool_redis, settings
):
    settings.EMAIL_QUEUE = "worker"
    sign_while_down(site, petition, sign_data(wants_updates="on", hide_name="on"))
    assert run_worker(once=True) == 1
    signature = Signature.objects.get()
    assert (signature.first_name, signature.last_name) == ("Ada", "Lovelace")
    assert signature.email == "ada@example.org"
    assert (signature.country, signature.language) == ("NL", "en")
    assert signature.wants_updates and signature.hide_name
    assert signature.updates_wording is not None
    assert signature.status == Signature.Status.PENDING
    assert spool.waiting() == 0
    [message] = mail.outbox
    assert message.to == ["ada@example.org"]
    assert "Please confirm your signature" in message.subject
    assert run_worker(once=True) == 0
    assert len(mail.outbox) == 1


def later(monkeypatch, **delta) -> None:
    """The database back after a while: the drain's clock moved on."""
    now = timezone.now() + dt.timedelta(**delta)
    monkeypatch.setattr(services.timezone, "now", lambda: now)


def test_it_keeps_the_time_it_was_signed_at(site, petition, sign_data, spool_redis, monkeypatch):
    before = timezone.now()
    sign_while_down(site, petition, sign_data())
    after = timezone.now()
    later(monkeypatch, hours=1)
    spool.drain()
    signature = Signature.objects.get()
    assert before <= signature.created_at <= after
    assert signature.email_requested_at == signature.created_at


def test_a_partners_link_and_consent_are_kept(site, petition, sign_data, spool_redis, zmina):
    sign_while_down(site, petition, sign_data(via="zmina", partner_updates="on"))
    spool.drain()
    signature = Signature.objects.get()
    assert signature.partner == zmina
    assert signature.partner_updates
    assert "ZMINA may email me" in signature.partner_updates_wording.text


def test_it_keeps_the_signers_language(site, petition, sign_data, spool_redis):
    with database_down():
        response = site.post("/ru" + sign_url(petition), sign_data(wants_updates="on"))
    assert response.status_code == 302
    translation.activate("en")  # the worker's own language
    spool.drain()
    signature = Signature.objects.get()
    assert signature.language == "ru"
    assert signature.updates_wording.language == "ru"


def test_two_signings_of_one_address_during_the_outage_make_one_row_and_one_email(
    site, petition, sign_data, spool_redis, settings
):
    settings.EMAIL_QUEUE = "worker"
    sign_while_down(site, petition, sign_data())
    sign_while_down(site, petition, sign_data(email="ADA@Example.org", first_name="Other"))
    assert spool.waiting() == 2
    run_worker(once=True)
    signature = Signature.objects.get()
    assert signature.first_name == "Ada"  # a second signing never changes the first
    assert len(mail.outbox) == 1


def test_a_drain_killed_before_removing_an_entry_writes_it_again_into_the_same_row(
    site, petition, sign_data, spool_redis, monkeypatch, settings
):
    settings.EMAIL_QUEUE = "worker"
    sign_while_down(site, petition, sign_data())
    real_lrem = spool_redis.__class__.lrem

    def killed(self, *args):
        raise SystemExit("killed between the insert and the removal")

    monkeypatch.setattr(spool_redis.__class__, "lrem", killed)
    with pytest.raises(SystemExit):
        spool.drain()
    monkeypatch.setattr(spool_redis.__class__, "lrem", real_lrem)
    assert Signature.objects.count() == 1
    assert spool.waiting() == 1
    assert send_one() == "sent"
    # The next drain, minutes later (the killed one's lock has expired).
    spool_redis.delete(f"{spool.PREFIX}:lock")
    later(monkeypatch, minutes=5)
    run_worker(once=True)
    assert spool.waiting() == 0
    assert Signature.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_signer_who_signed_before_the_outage_is_not_emailed_twice_in_the_interval(
    site, petition, sign_data, spool_redis
):
    site.post(sign_url(petition), sign_data())
    assert len(mail.outbox) == 1
    sign_while_down(site, petition, sign_data())
    spool.drain()
    assert Signature.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_drain_while_the_database_is_still_away_keeps_the_entry(
    site, petition, sign_data, spool_redis
):
    sign_while_down(site, petition, sign_data())
    with database_down(), pytest.raises(OperationalError):
        spool.drain()
    assert spool.waiting() == 1
    assert spool.drain() == 1
    assert Signature.objects.count() == 1


def test_a_signing_for_a_petition_closed_since_is_dropped(site, petition, sign_data, spool_redis):
    sign_while_down(site, petition, sign_data())
    petition.closes_at = timezone.now() - dt.timedelta(seconds=1)
    petition.save()
    assert spool.drain() == 1
    assert spool.waiting() == 0
    assert not Signature.objects.exists()


def test_an_entry_that_cannot_be_opened_is_set_aside_not_retried(
    site, petition, sign_data, spool_redis, settings
):
    sign_while_down(site, petition, sign_data())
    from cryptography.fernet import Fernet

    settings.SIGNER_DATA_KEY = [Fernet.generate_key().decode()]
    assert spool.drain() == 1
    assert spool.waiting() == 0
    assert len(spool_redis.lrange(f"{spool.PREFIX}:aside", 0, -1)) == 1
    assert not Signature.objects.exists()


def test_in_a_batch_only_the_entry_that_cannot_be_opened_is_set_aside(
    site, petition, sign_data, spool_redis, settings
):
    settings.EMAIL_QUEUE = "worker"  # batches are written in one transaction
    sign_while_down(site, petition, sign_data(email="lost.key@example.org"))
    from cryptography.fernet import Fernet

    settings.SIGNER_DATA_KEY = [Fernet.generate_key().decode()]
    sign_while_down(site, petition, sign_data())
    assert spool.drain() == 2
    assert [s.email for s in Signature.objects.all()] == ["ada@example.org"]
    assert len(spool_redis.lrange(f"{spool.PREFIX}:aside", 0, -1)) == 1


def test_checks_still_apply_while_the_database_is_away(
    site, petition, sign_data, spool_redis, settings
):
    settings.RATE_LIMIT_SIGN = "2/m"
    honeypot = sign_while_down(site, petition, sign_data(website="http://spam.example"))
    assert honeypot.status_code == 302
    invalid = sign_while_down(site, petition, sign_data(email="not-an-email"))
    assert invalid.status_code == 400
    limited = sign_while_down(site, petition, sign_data())
    assert limited.status_code == 429
    assert spool.waiting() == 0


def test_a_form_sent_too_fast_is_shown_again_not_spooled(site, petition, sign_data, spool_redis):
    from petitions.forms import form_timestamp

    response = sign_while_down(site, petition, sign_data(rendered_at=form_timestamp()))
    assert response.status_code == 400
    assert spool.waiting() == 0


def test_with_redis_away_too_it_is_the_503_page(site, petition, sign_data, settings):
    settings.SPOOL_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    response = sign_while_down(site, petition, sign_data())
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "cannot reach its database" in response.content.decode()


def test_without_a_spool_it_is_the_503_page(site, petition, sign_data, settings):
    settings.SPOOL_URL = ""
    response = sign_while_down(site, petition, sign_data())
    assert response.status_code == 503


def test_the_petition_page_shows_while_the_database_is_away(site, petition, zmina, make_signature):
    make_signature(petition, confirmed=True)
    petition.stats()  # read by another worker: this one finds the count in the shared cache
    models._stats_while_down.clear()
    assert site.get(detail_url(petition, "?via=zmina")).status_code == 200
    cache.clear()  # the count read afresh, as after the cache's few seconds
    with database_down():
        response = site.get(detail_url(petition, "?via=zmina"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="email"' in body
    assert petition.title in body
    assert "ZMINA may email me" in body
    assert response.context["stats"].count == 1


def test_a_petition_never_read_by_this_worker_is_the_503_page(site, make_petition):
    other = make_petition()
    with database_down():
        response = site.get(detail_url(other))
    assert response.status_code == 503


def test_erase_signer_removes_spooled_signings(site, petition, sign_data, spool_redis):
    sign_while_down(site, petition, sign_data())
    sign_while_down(site, petition, sign_data(email="grace@example.org"))
    assert services.erase_signer("ADA@EXAMPLE.ORG") == 1
    assert spool.waiting() == 1
    spool.drain()
    assert [s.email for s in Signature.objects.all()] == ["grace@example.org"]


def test_a_signers_own_erasure_removes_their_spooled_signings(
    site, petition, make_petition, sign_data, spool_redis, make_signature
):
    """Signed once (the link's signature), then again on another petition while the database
    was away: erasing from the email's link reaches the spooled one too."""
    signed = make_signature(petition, email="ada@example.org", confirmed=True)
    other = make_petition()
    models._stats_while_down.clear()
    site.get(detail_url(other))  # this worker has read the other petition
    sign_while_down(site, other, sign_data())
    sign_while_down(site, other, sign_data(email="grace@example.org"))
    assert services.erase_own_data(signature_id=signed.public_id, petition=petition) == 2
    assert spool.waiting() == 1
    spool.drain()
    assert Signature.objects.with_email("ada@example.org").count() == 0


def test_erase_signer_also_reaches_entries_set_aside(
    site, petition, sign_data, spool_redis, settings
):
    sign_while_down(site, petition, sign_data())
    from cryptography.fernet import Fernet

    keys = settings.SIGNER_DATA_KEY
    settings.SIGNER_DATA_KEY = [Fernet.generate_key().decode()]
    spool.drain()
    settings.SIGNER_DATA_KEY = keys
    assert services.erase_signer("ada@example.org") == 1
    assert raw_entries(spool_redis) == []


def test_purge_unconfirmed_removes_spooled_signings_older_than_its_window(
    site, petition, sign_data, spool_redis
):
    sign_while_down(site, petition, sign_data())
    assert services.purge_unconfirmed(older_than=dt.timedelta(days=7)) == 0
    assert spool.waiting() == 1
    assert services.purge_unconfirmed(older_than=dt.timedelta(0)) == 1
    assert raw_entries(spool_redis) == []


def test_anonymise_closed_removes_the_closed_petitions_spooled_signings(
    site, petition, sign_data, spool_redis, make_petition
):
    sign_while_down(site, petition, sign_data())
    Signature.objects.all().delete()
    petition.opens_at = timezone.now() - dt.timedelta(days=200)
    petition.closes_at = timezone.now() - dt.timedelta(days=100)
    petition.save()
    assert services.anonymise_closed(after=dt.timedelta(days=90)) == {petition.slug: 1}
    assert raw_entries(spool_redis) == []


def test_nothing_personal_is_logged(site, petition, sign_data, spool_redis, caplog, settings):
    settings.EMAIL_QUEUE = "worker"
    with caplog.at_level(logging.DEBUG):
        sign_while_down(site, petition, sign_data(first_name="Zénobie", email="zq@example.org"))
        with database_down(), contextlib.suppress(OperationalError):
            spool.drain()
        run_worker(once=True)
        sign_while_down(site, petition, sign_data(first_name="Zénobie", email="zq@example.org"))
        services.erase_signer("zq@example.org")
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert "spool" in messages  # the outage is said
    for secret in ("zq@example.org", "example.org", "Zénobie", "Lovelace"):
        assert secret not in messages
    assert len(mail.outbox) == 1
