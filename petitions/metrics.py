"""The petition's figures for the metrics endpoint (campaign.lib.metrics, METRICS_COLLECTORS).

Read from the database when Prometheus asks, so that every instance reports the same figures
and no worker keeps a count of its own; each read is cheap whatever the number of signatures
(bench/METRICS.md measures them on a million):
- signings: the highest signature id, which only grows (a rate of it is the signing rate;
  it also counts, once each, the ids used by a second signing with the same address);
- confirmed signatures per petition: the tally the public count reads (a few dozen rows per
  country), whose rise is the confirmation rate;
- the outbox: how many emails are due and since when the oldest has waited, from the partial
  index on due emails (only the waiting rows are in it);
- emails set aside: no index finds them (they are rare, and an index on every signature for
  them would cost each signing), so they are counted at most once per
  METRICS_SET_ASIDE_SECONDS per process, by a scan of the table.
No label names a signer: petitions are labelled by their slug.
"""

import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from petitions.models import Signature, SignatureTally

_set_aside = {"at": float("-inf"), "count": 0}
_set_aside_lock = threading.Lock()


def set_aside_count() -> int:
    with _set_aside_lock:
        now = time.monotonic()
        if now - _set_aside["at"] >= settings.METRICS_SET_ASIDE_SECONDS:
            _set_aside["count"] = Signature.objects.filter(email_set_aside_at__isnull=False).count()
            _set_aside["at"] = now
        return _set_aside["count"]


def collect() -> Iterable[Metric]:
    signings = CounterMetricFamily(
        "campaign_signings",
        "Signatures written since the site began (the highest signature id): its rate is the "
        "signing rate.",
    )
    signings.add_metric([], Signature.objects.aggregate(last=Max("pk"))["last"] or 0)
    yield signings

    confirmed = GaugeMetricFamily(
        "campaign_signatures_confirmed",
        "Confirmed signatures per petition (the public count): its rise is the confirmation rate.",
        labels=["petition"],
    )
    totals = (
        SignatureTally.objects.values_list("petition__slug")
        .annotate(total=Sum("count"))
        .order_by("petition__slug")
    )
    for slug, total in totals:
        confirmed.add_metric([slug], total)
    yield confirmed

    # COUNT(*), not of a column the index lacks: an index-only scan of the due emails' index
    # (30 ms for 100,000 due, where counting ids read the whole table: bench/METRICS.md).
    outbox = Signature.objects.filter(email_due=True).aggregate(
        due=Count("*"), oldest=Min("email_requested_at")
    )
    backlog = GaugeMetricFamily("campaign_outbox_due", "Emails waiting in the outbox.")
    backlog.add_metric([], outbox["due"])
    yield backlog
    oldest = GaugeMetricFamily(
        "campaign_outbox_oldest_due_seconds",
        "How long the oldest email waiting in the outbox has waited (0 when none waits).",
    )
    waited = (timezone.now() - outbox["oldest"]).total_seconds() if outbox["oldest"] else 0
    oldest.add_metric([], max(waited, 0))
    yield oldest

    set_aside = GaugeMetricFamily(
        "campaign_emails_set_aside",
        "Emails set aside: refused for good, unbuildable, or failed every attempt.",
    )
    set_aside.add_metric([], set_aside_count())
    yield set_aside
