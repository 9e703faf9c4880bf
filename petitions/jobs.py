"""The petitions' scheduled jobs, for `manage.py run_scheduled` and the systemd timers in
deploy/systemd/. Each returns counts only (they are logged), and each is safe to run again at
any time: a second run finds nothing left to do, or redoes the same work. The retention jobs
call only the services, which reach every place a signer's data can be, the spool of signings
taken while the database was away (petitions.spool) included.
"""

import datetime as dt

from django.conf import settings

from campaign.lib.scheduled import Job
from petitions import services
from petitions.models import BreakdownSnapshot, Petition


def purge_unconfirmed() -> dict[str, int]:
    deleted = services.purge_unconfirmed(
        older_than=dt.timedelta(days=settings.PURGE_UNCONFIRMED_DAYS)
    )
    return {"deleted": deleted}


def anonymise_closed() -> dict[str, int]:
    result = services.anonymise_closed(
        after=dt.timedelta(days=settings.ANONYMISE_CLOSED_AFTER_DAYS)
    )
    return {"petitions": len(result), "anonymised": sum(result.values())}


def snapshot_breakdown() -> dict[str, int]:
    taken = 0
    petition_ids = list(Petition.objects.published().values_list("pk", flat=True))
    for petition_id in petition_ids:
        before = BreakdownSnapshot.objects.latest_for(petition_id)
        snapshot = BreakdownSnapshot.objects.take(petition_id=petition_id)
        taken += before is None or snapshot.pk != before.pk
    return {"petitions": len(petition_ids), "taken": taken}


def check_counts() -> dict[str, int]:
    """A nightly check that each petition's count is that of its confirmed signatures, read
    without locking anything (services.count_is_exact): the log says how many differ, worth
    looking into when it is not 0; `manage.py recount_signatures` then repairs them (it holds
    the petition's confirmations while it recounts, so it is not run on a schedule)."""
    petitions = list(Petition.objects.all())
    wrong = sum(not services.count_is_exact(petition) for petition in petitions)
    return {"petitions": len(petitions), "wrong": wrong}


JOBS = (
    Job(
        "purge_unconfirmed",
        every=dt.timedelta(days=1),
        run=purge_unconfirmed,
        description="delete signatures unconfirmed for PURGE_UNCONFIRMED_DAYS",
    ),
    Job(
        "anonymise_closed",
        every=dt.timedelta(days=1),
        run=anonymise_closed,
        description="erase the signers' data of petitions closed ANONYMISE_CLOSED_AFTER_DAYS ago",
    ),
    Job(
        "snapshot_breakdown",
        every=dt.timedelta(minutes=10),
        run=snapshot_breakdown,
        description="take the public breakdown by country where it is due",
    ),
    Job(
        "check_counts",
        every=dt.timedelta(days=1),
        run=check_counts,
        description="check, without locks, that every petition's count is its confirmed signatures",
    ),
)
