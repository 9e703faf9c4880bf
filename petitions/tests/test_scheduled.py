"""The scheduled jobs (`manage.py run_scheduled`, petitions/jobs.py): each runs when due, under
its own lock, and logs counts, never a signer."""

import datetime as dt
import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.utils import timezone

from campaign.lib.locks import try_lock
from petitions import jobs
from petitions.models import BreakdownSnapshot, Signature, SignatureTally

pytestmark = pytest.mark.django_db

SIGNER_EMAIL, SIGNER_NAME = "scheduled.signer@example.org", "Scheduledname"


def days_ago(n: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


def run(*args: str) -> str:
    output = StringIO()
    call_command("run_scheduled", *args, stdout=output)
    return output.getvalue()


@pytest.fixture
def retention_work(make_petition, make_signature):
    """An unconfirmed signature past PURGE_UNCONFIRMED_DAYS, and a petition closed for longer
    than ANONYMISE_CLOSED_AFTER_DAYS with a confirmed signature on it."""
    open_petition = make_petition()
    stale = make_signature(
        open_petition, created_at=days_ago(8), email=SIGNER_EMAIL, first_name=SIGNER_NAME
    )
    closed = make_petition(opens_at=days_ago(200))
    signed = make_signature(closed, confirmed=True, last_name=SIGNER_NAME)
    closed.closes_at = days_ago(91)
    closed.save()
    return open_petition, stale, closed, signed


def test_it_runs_every_job_when_due_and_logs_counts_only(retention_work, caplog):
    open_petition, stale, closed, signed = retention_work
    with caplog.at_level(logging.INFO, logger="campaign.lib.scheduled"):
        output = run()

    assert not Signature.objects.filter(pk=stale.pk).exists()
    signed.refresh_from_db()
    assert signed.erased_at is not None and signed.email is None
    assert BreakdownSnapshot.objects.latest_for(open_petition.pk) is not None
    assert "purge_unconfirmed: done (deleted 1)" in output
    assert "anonymise_closed: done (petitions 1, anonymised 1)" in output
    assert "snapshot_breakdown: done" in output
    assert "check_counts: done (petitions 2, wrong 0)" in output
    log = "\n".join(record.getMessage() for record in caplog.records)
    assert "job purge_unconfirmed done" in log and "deleted 1" in log
    assert "job anonymise_closed done" in log and "anonymised 1" in log
    for personal in (SIGNER_EMAIL, SIGNER_NAME, "scheduled.signer"):
        assert personal.lower() not in (log + output).lower()


def test_it_runs_a_job_again_only_when_due_or_asked(retention_work, make_signature):
    open_petition, *_ = retention_work
    run()
    stale_again = make_signature(open_petition, created_at=days_ago(9))

    output = run()
    assert "purge_unconfirmed: not due" in output
    assert Signature.objects.filter(pk=stale_again.pk).exists()

    output = run("--job", "purge_unconfirmed")
    assert output.strip() == "purge_unconfirmed: done (deleted 1)"
    assert not Signature.objects.filter(pk=stale_again.pk).exists()


def test_it_reads_the_retention_settings(petition, make_signature, settings):
    settings.PURGE_UNCONFIRMED_DAYS = 3
    four_days = make_signature(petition, created_at=days_ago(4))
    two_days = make_signature(petition, created_at=days_ago(2))
    run("--job", "purge_unconfirmed")
    assert list(Signature.objects.values_list("pk", flat=True)) == [two_days.pk]
    assert four_days.pk != two_days.pk


def test_it_skips_a_job_running_elsewhere(retention_work, caplog):
    _open_petition, stale, *_ = retention_work
    with (
        try_lock("scheduled:purge_unconfirmed") as held,
        caplog.at_level(logging.INFO, logger="campaign.lib.scheduled"),
    ):
        assert held
        output = run("--all")

    assert "purge_unconfirmed: skipped" in output
    assert "anonymise_closed: done" in output  # each job has its own lock
    assert Signature.objects.filter(pk=stale.pk).exists()
    assert "job purge_unconfirmed skipped: it is running elsewhere" in caplog.text
    # Not recorded as run: the next call still finds it due.
    assert "purge_unconfirmed: done (deleted 1)" in run()


def test_a_failing_job_is_logged_without_its_message_and_the_others_still_run(
    retention_work, caplog, monkeypatch
):
    _open_petition, stale, *_ = retention_work

    def fails(**_kwargs):
        raise ValueError(f"refused a row for {SIGNER_EMAIL}")

    monkeypatch.setattr(jobs.services, "anonymise_closed", fails)
    with (
        caplog.at_level(logging.INFO, logger="campaign.lib.scheduled"),
        pytest.raises(CommandError, match="Failed: anonymise_closed"),
    ):
        run()

    assert not Signature.objects.filter(pk=stale.pk).exists()
    assert "job anonymise_closed failed" in caplog.text
    assert "ValueError at test_scheduled.py:" in caplog.text
    assert SIGNER_EMAIL not in caplog.text


def test_it_lists_the_jobs():
    output = run("--list")
    assert [line.split(":")[0] for line in output.splitlines()] == [job.name for job in jobs.JOBS]
    assert "snapshot_breakdown: every 10 minutes;" in output


def test_the_nightly_check_reports_a_count_that_differs_and_changes_nothing(
    petition, make_signature
):
    make_signature(petition, confirmed=True)
    assert "check_counts: done (petitions 1, wrong 0)" in run("--job", "check_counts")
    SignatureTally.objects.filter(petition=petition).update(count=F("count") + 1)
    assert "check_counts: done (petitions 1, wrong 1)" in run("--job", "check_counts")
    # Reported, not repaired: staff recount (recount_signatures holds confirmations meanwhile).
    assert (
        sum(SignatureTally.objects.filter(petition=petition).values_list("count", flat=True)) == 2
    )
