"""Figures for staff: when, where and how confirmed signatures came in, as charts for the
petition's admin page. They are read from the rollups (petitions.models: SignatureTimeline and
SignatureTotals) only, never from the signatures themselves, so that the page costs a few small
queries whatever the petition's size (bench/DASHBOARD.md)."""

import datetime as dt
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import formats, timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django_countries import countries

from campaign.lib.charts import Chart, figure
from partners.models import Partner
from petitions.models import (
    Petition,
    Signature,
    SignatureTimeline,
    SignatureTotals,
    start_of_hour,
)

HOURS = 48
DAYS = 28

# Signatures name the story they came from by its slug only: petitions imports nothing from the
# app that holds the stories. The project registers how to turn slugs into headlines
# (campaign.apps); without it the report shows the slugs.
StoryHeadlines = Callable[[], Mapping[str, str]]
_story_headlines: StoryHeadlines = dict


def register_story_headlines(headlines: StoryHeadlines) -> None:
    global _story_headlines
    _story_headlines = headlines


@dataclass(frozen=True)
class Report:
    per_hour: Chart
    per_day: Chart
    by_country: Chart
    by_story: Chart
    by_partner: Chart
    by_source: Chart

    @property
    def charts(self) -> list[Chart]:
        """In the order the petition's admin page shows them."""
        return [
            self.per_hour,
            self.per_day,
            self.by_country,
            self.by_story,
            self.by_partner,
            self.by_source,
        ]


@functools.lru_cache(maxsize=1024)
def _date(day: dt.date, format_name: str, language: str) -> str:
    # Memoised (per language): formatting a date costs about 50 µs, and the charts show many.
    return formats.date_format(day, format_name)


@functools.lru_cache(maxsize=1024)
def _time(time: dt.time, language: str) -> str:
    return formats.time_format(time, "TIME_FORMAT")


def _hour_labels(hours: list[dt.datetime]) -> tuple[list[str], list[str]]:
    """Labels for these hours in the site's time zone: in full ("March 3, 2 p.m.") and short,
    for the axis ("2 p.m.")."""
    language = get_language()
    full, short = [], []
    for hour in hours:
        local = timezone.localtime(hour)
        time = _time(local.time(), language)
        day = _date(local.date(), "MONTH_DAY_FORMAT", language)
        # Translators: an hour in the staff's charts, e.g. "March 3, 2 p.m.".
        full.append(_("%(day)s, %(time)s") % {"day": day, "time": time})
        short.append(time)
    return full, short


def _busiest(rows: list[tuple[str, int]]) -> tuple[str, int]:
    """The first of the rows with the most (the earliest, in a time series)."""
    return max(rows, key=lambda row: row[1])


def _time_chart(
    rows: list[tuple[str, int]],
    *,
    title: str,
    label_heading: str,
    axis_labels: list[str],
    total: Callable[[int], str],
    busiest: str,
    nothing: str,
    span: dict,
) -> Chart:
    """A time series as a chart, summed up by its total and its busiest period: `total` gives
    the translated sentence for a count (with %(count)s), `busiest` has %(period)s and
    %(count)s, and every sentence may use the span's own values."""
    count = sum(n for _label, n in rows)
    if count:
        label, most = _busiest(rows)
        summary = " ".join(
            [
                total(count) % {"count": figure(count), **span},
                busiest % {"period": label, "count": figure(most), **span},
            ]
        )
    else:
        summary = nothing % span
    return Chart(
        title=title % span,
        summary=summary,
        label_heading=label_heading,
        value_heading=_("Signatures"),
        rows=rows,
        kind="columns",
        axis_labels=axis_labels,
    )


def _per_hour(hourly: Mapping[dt.datetime, int], *, now: dt.datetime) -> Chart:
    last = start_of_hour(now)
    hours = [last - dt.timedelta(hours=n) for n in range(HOURS - 1, -1, -1)]
    labels, axis_labels = _hour_labels(hours)
    return _time_chart(
        [(label, hourly.get(hour, 0)) for label, hour in zip(labels, hours, strict=True)],
        title=_("Per hour, last %(hours)s hours"),
        label_heading=_("Hour"),
        axis_labels=axis_labels,
        total=lambda count: ngettext(
            "%(count)s signature in the last %(hours)s hours.",
            "%(count)s signatures in the last %(hours)s hours.",
            count,
        ),
        busiest=_("The busiest hour was %(period)s, with %(count)s."),
        nothing=_("No signatures were confirmed in the last %(hours)s hours."),
        span={"hours": HOURS},
    )


def _per_day(per_day: Mapping[dt.date, int], *, today: dt.date) -> Chart:
    days = [today - dt.timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    language = get_language()
    return _time_chart(
        [(_date(day, "DATE_FORMAT", language), per_day.get(day, 0)) for day in days],
        title=_("Per day, last %(days)s days"),
        label_heading=_("Day"),
        axis_labels=[_date(day, "MONTH_DAY_FORMAT", language) for day in days],
        total=lambda count: ngettext(
            "%(count)s signature in the last %(days)s days.",
            "%(count)s signatures in the last %(days)s days.",
            count,
        ),
        busiest=_("The busiest day was %(period)s, with %(count)s."),
        nothing=_("No signatures were confirmed in the last %(days)s days."),
        span={"days": DAYS},
    )


def _breakdown(
    *, title: str, label_heading: str, rows: list[tuple[str, int]], summary: str, total: int
) -> Chart:
    """A chart of all `total` confirmed signatures by one attribute."""
    return Chart(
        title=title,
        summary=summary.strip() if total else _("No confirmed signatures yet."),
        label_heading=label_heading,
        value_heading=_("Signatures"),
        rows=rows,
    )


def _most(rows: list[tuple[str, int]], sentence: str, total: int) -> str:
    """`sentence` about the first row (%(label)s, %(count)s, %(total)s), or "" for none."""
    if not rows:
        return ""
    label, count = rows[0]
    return sentence % {"label": label, "count": figure(count), "total": figure(total)}


def _labelled(totals: Mapping, label: Callable[[object], str]) -> list[tuple[str, int]]:
    """Rows of (label, total), largest first, none empty; keys that share a label (two partners
    of one short name) are counted together."""
    rows: Counter[str] = Counter()
    for key, total in totals.items():
        rows[label(key)] += total
    return sorted(((text, n) for text, n in rows.items() if n), key=lambda r: (-r[1], r[0]))


def _partner_names(partner_ids: Iterable[int]) -> dict[int | None, str]:
    names: dict[int | None, str] = {None: _("No partner")}
    names.update(
        (partner.pk, partner.display_name) for partner in Partner.objects.filter(pk__in=partner_ids)
    )
    return names


def petition_report(petition: Petition, *, now: dt.datetime | None = None) -> Report:
    """The petition's confirmed signatures per hour (the last HOURS), per day (the last DAYS,
    in the site's time zone), and by country, story, partner and page (all of them): exact
    figures, for staff who may see signatures (petitions.access.can_see_signatures)."""
    now = now or timezone.now()
    zone = timezone.get_current_timezone()
    today = timezone.localdate(now, zone)
    first_day = today - dt.timedelta(days=DAYS - 1)
    timeline = SignatureTimeline.objects.filter(petition=petition).order_by()
    # 1: totals per hour of the last HOURS
    hourly = dict(
        timeline.filter(hour__gt=now - dt.timedelta(hours=HOURS))
        .values_list("hour")
        .annotate(total=Sum("count"))
    )
    # 2: totals per day of the last DAYS, summed in the database. Hours are filed in UTC, days
    # are the site's time zone's: an hour counts on the day it starts on there.
    per_day = dict(
        timeline.filter(hour__gte=dt.datetime.combine(first_day, dt.time(), tzinfo=zone))
        .annotate(day=TruncDate("hour", tzinfo=zone))
        .values_list("day")
        .annotate(total=Sum("count"))
    )
    # 3-5: totals per country, per partner and per page (summed in the database: a few dozen
    # rows each, of at most countries x partners x pages x shards)
    totals = SignatureTotals.objects.filter(petition=petition).order_by()

    def summed(*names: str) -> list[tuple]:
        return list(totals.values_list(*names).annotate(total=Sum("count")))

    by_country = dict(summed("country"))
    by_partner = dict(summed("partner"))
    by_source: Counter[str] = Counter()
    by_story: Counter[str] = Counter()
    for source, story, total in summed("source", "source_story"):
        by_source[source] += total
        if source == Signature.Source.STORY:
            by_story[story] += total

    partner_names = _partner_names(pk for pk in by_partner if pk is not None)
    headlines = _story_headlines()
    sources = {str(choice.value): str(choice.label) for choice in Signature.Source}
    total = sum(by_country.values())
    from_stories = sum(by_story.values())
    partners_only = {pk: n for pk, n in by_partner.items() if pk is not None}
    through_partners = sum(partners_only.values())
    country_rows = _labelled(by_country, lambda code: f"{countries.name(code)} ({code})")
    story_rows = _labelled(
        by_story, lambda slug: headlines.get(slug, slug) if slug else _("A story not recorded")
    )
    partner_rows = _labelled(by_partner, partner_names.__getitem__)
    source_rows = _labelled(by_source, lambda source: sources.get(source, source))
    return Report(
        per_hour=_per_hour(hourly, now=now),
        per_day=_per_day(per_day, today=today),
        by_country=_breakdown(
            title=_("By country"),
            label_heading=_("Country"),
            rows=country_rows,
            total=total,
            summary=" ".join(
                [
                    ngettext(
                        "Confirmed signatures came from %(countries)s country.",
                        "Confirmed signatures came from %(countries)s countries.",
                        len(country_rows),
                    )
                    % {"countries": figure(len(country_rows))},
                    _most(
                        country_rows,
                        _("The most came from %(label)s: %(count)s of %(total)s."),
                        total,
                    ),
                ]
            ),
        ),  # fmt: skip
        by_story=_breakdown(
            title=_("By story"),
            label_heading=_("Story"),
            rows=story_rows,
            total=total,
            summary=" ".join(
                [
                    ngettext(
                        "%(count)s signature was given on a story's page.",
                        "%(count)s signatures were given on the stories' pages.",
                        from_stories,
                    )
                    % {"count": figure(from_stories)},
                    _most(story_rows, _("The most on “%(label)s”: %(count)s."), from_stories),
                ]
            ),
        ),
        by_partner=_breakdown(
            title=_("By partner organisation"),
            label_heading=_("Partner organisation"),
            rows=partner_rows,
            total=total,
            summary=" ".join(
                [
                    ngettext(
                        "%(count)s of %(total)s signature came through a partner's link.",
                        "%(count)s of %(total)s signatures came through partners' links.",
                        total,
                    )
                    % {"count": figure(through_partners), "total": figure(total)},
                    _most(
                        _labelled(partners_only, partner_names.__getitem__),
                        _("The partner that brought the most: %(label)s, with %(count)s."),
                        through_partners,
                    ),
                ]
            ),
        ),
        by_source=_breakdown(
            title=_("Which page brought them"),
            label_heading=_("Page"),
            rows=source_rows,
            total=total,
            summary=" ".join(
                [
                    ngettext(
                        "%(count)s confirmed signature in all.",
                        "%(count)s confirmed signatures in all.",
                        total,
                    )
                    % {"count": figure(total)},
                    _most(
                        source_rows,
                        _("The page that brought the most: %(label)s, with %(count)s."),
                        total,
                    ),
                ]
            ),
        ),
    )
