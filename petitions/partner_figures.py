"""What a partner organisation's staff see of the signatures it brought: figures, never a signer.

Who may see which partner is partners.access's to decide; this module only counts, for one
partner and one petition:
- confirmed signatures per day over the last weeks, from the hourly rollup;
- by country, protected like the public breakdown (see petitions.models.public_figures): the
  exact totals up to the start of the current snapshot period only, rounded and grouped, so
  that the partner's staff cannot watch one signer from a small country arrive;
- the share of the signatures made through its link that were confirmed;
- how many of its confirmed signers agreed to hear from it.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaign.lib.charts import Chart, figure
from partners.models import Partner
from petitions.models import (
    CountryCount,
    Petition,
    Signature,
    SignatureRollup,
    SignatureTimeline,
    public_figures,
)

DAYS = 28
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_HOUR = dt.timedelta(hours=1)


def period_start(now: dt.datetime) -> dt.datetime:
    """The start of the snapshot period `now` falls in: BREAKDOWN_SNAPSHOT_SECONDS windows
    counted from the epoch, the same for every reader."""
    period = settings.BREAKDOWN_SNAPSHOT_SECONDS
    elapsed = int((now - _EPOCH).total_seconds())
    return _EPOCH + dt.timedelta(seconds=elapsed // period * period)


@dataclass(frozen=True)
class PartnerFigures:
    partner: Partner
    petition: Petition
    by_day: list[tuple[dt.date, int]]  # oldest first, every day of the last DAYS
    by_country: list[CountryCount]  # rounded and grouped like the public breakdown
    counted_until: dt.datetime  # the end of what by_country counts
    confirmed: int  # confirmed signatures made through the partner's link
    pending: int  # and those still waiting for their signer to confirm
    consenting: int  # confirmed, not erased, and agreed to hear from the partner

    @property
    def next_update(self) -> dt.datetime:
        """When by_country next changes."""
        return self.counted_until + dt.timedelta(seconds=settings.BREAKDOWN_SNAPSHOT_SECONDS)

    @property
    def rounding(self) -> int:
        return settings.BREAKDOWN_ROUNDING

    @property
    def min_count(self) -> int:
        return settings.BREAKDOWN_MIN_COUNT

    @property
    def last_days(self) -> int:
        return sum(count for _day, count in self.by_day)

    @property
    def held(self) -> int:
        """Signatures through the partner's link that the site still holds, confirmed or not
        (withdrawn ones are deleted, unconfirmed ones after some days, and fraudulent ones are
        counted nowhere)."""
        return self.confirmed + self.pending

    @property
    def confirmed_percent(self) -> int | None:
        """Confirmed per hundred held, rounded down; None before anyone signed."""
        return self.confirmed * 100 // self.held if self.held else None

    @property
    def day_chart(self) -> Chart:
        name = self.partner.display_name
        return Chart(
            title=_("Confirmed signatures per day, last %(days)s days") % {"days": DAYS},
            summary=ngettext(
                "%(partner)s brought %(count)s confirmed signature in the last %(days)s days.",
                "%(partner)s brought %(count)s confirmed signatures in the last %(days)s days.",
                self.last_days,
            )
            % {
                "partner": name,
                "count": figure(self.last_days),
                "days": DAYS,
            },
            label_heading=_("Day"),
            value_heading=_("Confirmed signatures"),
            rows=[(formats.date_format(day, "SHORT_DATE_FORMAT"), n) for day, n in self.by_day],
            kind="columns",
        )

    @property
    def country_chart(self) -> Chart:
        shown = sum(row.count for row in self.by_country)
        if self.by_country:
            summary = ngettext(
                "By country, as of %(moment)s: %(count)s confirmed signature in the countries "
                "shown, each figure rounded down.",
                "By country, as of %(moment)s: %(count)s confirmed signatures in the countries "
                "shown, each figure rounded down.",
                shown,
            ) % {
                "moment": formats.date_format(
                    timezone.localtime(self.counted_until), "DATETIME_FORMAT"
                ),
                "count": figure(shown),
            }
        else:
            summary = _("Too few signatures yet to show any country.")
        return Chart(
            title=_("Confirmed signatures by country"),
            summary=summary,
            label_heading=_("Country"),
            value_heading=_("Confirmed signatures"),
            rows=[(str(row.name), row.count) for row in self.by_country],
            kind="bars",
        )


def _by_day(timeline, *, now: dt.datetime) -> list[tuple[dt.date, int]]:
    """Confirmed signatures per day (in the site's time zone), the last DAYS days to now, from
    the time series (a few rows per hour, where SignatureRollup has one per country, page and
    story too)."""
    today = timezone.localdate(now)
    first_day = today - dt.timedelta(days=DAYS - 1)
    start = timezone.make_aware(dt.datetime.combine(first_day, dt.time()))
    per_day = dict(
        timeline.filter(hour__gte=start)
        .annotate(day=TruncDate("hour"))
        .values_list("day")
        .annotate(total=Sum("count"))
        .order_by()
    )
    days = (first_day + dt.timedelta(days=n) for n in range(DAYS))
    return [(day, per_day.get(day, 0)) for day in days]


def _by_country(rollup, *, until: dt.datetime) -> list[CountryCount]:
    """The public breakdown's rule applied to the partner's exact totals of confirmations made
    before `until`: a rollup row counts those of its whole hour, so only hours that ended by
    then count, and the figures change only when a new period starts."""
    totals = (
        rollup.filter(hour__lte=until - _HOUR)
        .values_list("country")
        .annotate(total=Sum("count"))
        .filter(total__gt=0)
        .order_by()
    )
    rows = public_figures(
        totals, rounding=settings.BREAKDOWN_ROUNDING, min_count=settings.BREAKDOWN_MIN_COUNT
    )
    return [CountryCount(code, count) for code, count in rows]


def partner_figures(
    *, partner: Partner, petition: Petition, now: dt.datetime | None = None
) -> PartnerFigures:
    now = now or timezone.now()
    rollup = SignatureRollup.objects.filter(petition=petition, partner=partner)
    until = period_start(now)
    signatures = Signature.objects.filter(petition=petition, partner=partner)
    by_status = dict(signatures.values_list("status").annotate(total=Count("id")).order_by())
    consenting = signatures.confirmed().filter(partner_updates=True, erased_at__isnull=True).count()
    return PartnerFigures(
        partner=partner,
        petition=petition,
        by_day=_by_day(
            SignatureTimeline.objects.filter(petition=petition, partner=partner), now=now
        ),
        by_country=_by_country(rollup, until=until),
        counted_until=until,
        confirmed=by_status.get(Signature.Status.CONFIRMED, 0),
        pending=by_status.get(Signature.Status.PENDING, 0),
        consenting=consenting,
    )
