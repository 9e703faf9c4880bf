"""Figures for staff: where and when confirmed signatures came in."""

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django_countries import countries

from petitions.models import Petition, Signature, SignatureTally

# Signatures name the story they came from by its slug only: petitions imports nothing from the
# app that holds the stories. The project registers how to turn slugs into headlines
# (campaign.admin_site); without it the report shows the slugs.
StoryHeadlines = Callable[[], Mapping[str, str]]
_story_headlines: StoryHeadlines = dict


def register_story_headlines(headlines: StoryHeadlines) -> None:
    global _story_headlines
    _story_headlines = headlines


@dataclass(frozen=True)
class Row:
    label: str
    count: int
    share: int  # per cent of the largest row, for the bar


def _rows(pairs: list[tuple[str, int]]) -> list[Row]:
    top = max((count for _label, count in pairs), default=0) or 1
    return [Row(label, count, count * 100 // top) for label, count in pairs]


@dataclass(frozen=True)
class Report:
    days: int
    by_day: list[Row]
    by_country: list[Row]
    by_source: list[Row]

    @property
    def sections(self) -> list[tuple[str, str, list[Row]]]:
        """(title, column label, rows) for each table on the petition's admin page."""
        return [
            (_("Per day, last %(days)s days") % {"days": self.days}, _("day"), self.by_day),
            (_("Per country"), _("country"), self.by_country),
            (_("Which page brought them"), _("page"), self.by_source),
        ]


def petition_report(petition: Petition, *, days: int = 28) -> Report:
    confirmed = Signature.objects.confirmed().filter(petition=petition)
    today = timezone.localdate()
    first_day = today - dt.timedelta(days=days - 1)
    per_day = dict(
        confirmed.filter(confirmed_at__date__gte=first_day)
        .annotate(day=TruncDate("confirmed_at"))
        .values_list("day")
        .annotate(total=Count("id"))
        .order_by()
    )
    by_day = [
        (formats.date_format(day, "DATE_FORMAT"), per_day.get(day, 0))
        for day in (first_day + dt.timedelta(days=n) for n in range(days))
    ]
    by_country = [
        (f"{countries.name(code)} ({code})", total)
        for code, total in SignatureTally.objects.filter(petition=petition)
        .values_list("country")
        .annotate(total=Sum("count"))
        .filter(total__gt=0)
        .order_by("-total", "country")
    ]
    headlines = _story_headlines()
    sources = {str(choice.value): str(choice.label) for choice in Signature.Source}
    by_source = [
        (
            f"{sources[source]}: {headlines.get(story, story)}"
            if source == Signature.Source.STORY
            else sources.get(source, source),
            total,
        )
        for source, story, total in confirmed.values_list("source", "source_story")
        .annotate(total=Count("id"))
        .order_by("-total", "source", "source_story")
    ]
    return Report(days, _rows(by_day), _rows(by_country), _rows(by_source))
