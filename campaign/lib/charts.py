"""Charts drawn on the server as SVG: no script, nothing for the Content-Security-Policy to
allow, and readable without the drawing. Each chart carries its own text alternative (a
summary) and the figures it is drawn from, which `templates/includes/_chart.html` shows as a
table beside it.

The drawing uses presentation attributes (fill, x, width...) only, never `style`, which the
site's CSP forbids, and sits on its own white ground, so that its colours keep their contrast
whatever the page around it (the admin has a dark mode): text #1b1f24 on white is 16:1, the
bars #12355b on white 12:1 (WCAG asks 4.5:1 for text and 3:1 for graphics).
"""

import hashlib
import math
import re
from dataclasses import dataclass

from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

WIDTH = 640
FONT_SIZE = 13
# A rough average glyph width at FONT_SIZE, for cutting labels that would not fit: the server
# cannot measure text, and the full label is in the table anyway.
GLYPH_WIDTH = 7.5
INK, BAR, GROUND, RULE = "#1b1f24", "#12355b", "#ffffff", "#6b7682"

# Bars: a label line above each bar.
BAR_ROW = 36
BAR_HEIGHT = 14
BAR_VALUE_ROOM = 110  # to the right of the longest bar, for its figure
# Columns: a time series.
COLUMN_PLOT_HEIGHT = 180
COLUMN_TOP = 24  # room for the largest figure above the plot
COLUMN_AXIS = 32  # room for the time labels below it
COLUMN_LABELS = 8  # at most this many time labels along the axis
PAD = 8

# Characters that may not appear in a page: XML 1.0 forbids C0 controls (but tab and newlines)
# and surrogates, so an SVG holding one would not parse at all; HTML also counts C1 controls and
# non-characters as errors. A label is shown without them.
_NONCHARACTERS = "".join(chr(plane << 16 | low) for plane in range(17) for low in (0xFFFE, 0xFFFF))
_UNSHOWABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + re.escape(_NONCHARACTERS)
    + "]"
)


def showable(text: str) -> str:
    """Text without the characters a page may not hold (see _UNSHOWABLE)."""
    return _UNSHOWABLE.sub("", text)


def _text(label: str, *, max_chars: int) -> str:
    """A label as the drawing shows it: showable, on one line, cut to fit."""
    label = " ".join(showable(label).split())
    max_chars = max(max_chars, 1)
    if len(label) > max_chars:
        label = label[: max_chars - 1].rstrip() + "…"
    return label


def figure(value: int) -> str:
    """A count as the active language writes it: 1,234 / 1.234 / 1 234."""
    return number_format(value, use_l10n=True, force_grouping=True)


@dataclass(frozen=True)
class Chart:
    title: str  # shown as the figure's heading and the SVG <title>
    summary: str  # one or two sentences: the text alternative (SVG <desc>, shown under the chart)
    label_heading: str  # the table's first column heading ("Day", "Country")
    value_heading: str  # the table's second column heading ("Signatures")
    rows: list[tuple[str, int]]
    # "bars": horizontal bars, one per row (countries, partners, stories);
    # "columns": a time series (hours, days), oldest first.
    kind: str = "bars"
    # Short labels along a time axis ("14:00" where a row says "3 March, 14:00"), one per row;
    # the rows' labels if None. The table always shows the rows' own.
    axis_labels: list[str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("bars", "columns"):
            raise ValueError(f"Unknown chart kind: {self.kind!r}")
        if self.axis_labels is not None and len(self.axis_labels) != len(self.rows):
            raise ValueError("A chart needs one axis label per row.")

    @property
    def id(self) -> str:
        """An id for the page's elements, the same for the same chart: the figures decide it,
        so that two charts on one page do not share one unless they are the same chart."""
        digest = hashlib.blake2s(
            repr((self.kind, self.title, self.summary, self.rows)).encode("utf-8", "replace"),
            digest_size=5,
        ).hexdigest()
        return f"chart-{digest}"

    @property
    def shown_title(self) -> str:
        return showable(self.title)

    @property
    def shown_summary(self) -> str:
        return showable(self.summary)

    @property
    def table_rows(self) -> list[tuple[str, str]]:
        """The rows with their figures formatted for the active language, for the table."""
        return [(showable(label), figure(value)) for label, value in self.rows]

    @property
    def total(self) -> int:
        return sum(value for _label, value in self.rows)

    @property
    def svg(self) -> SafeString:
        body, height = self._columns() if self.kind == "columns" else self._bars()
        ident = self.id
        return format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" class="chart__drawing" role="img" '
            'aria-labelledby="{ident}-title {ident}-desc" viewBox="0 0 {width} {height}" '
            'width="{width}" height="{height}" font-size="{font}" font-family="sans-serif">'
            '<title id="{ident}-title">{title}</title><desc id="{ident}-desc">{desc}</desc>'
            '<rect width="{width}" height="{height}" fill="{ground}"/>{body}</svg>',
            ident=ident,
            width=WIDTH,
            height=height,
            font=FONT_SIZE,
            title=_text(self.title, max_chars=10_000),
            desc=_text(self.summary, max_chars=10_000),
            ground=GROUND,
            body=body,
        )

    def _empty(self) -> tuple[SafeString, int]:
        height = 3 * BAR_ROW
        return format_html(
            '<text x="{x}" y="{y}" fill="{ink}" text-anchor="middle">{text}</text>',
            x=WIDTH // 2,
            y=height // 2,
            ink=INK,
            text=_("Nothing to show yet."),
        ), height

    def _bars(self) -> tuple[SafeString, int]:
        if not self.rows:
            return self._empty()
        top = max(max(value, 0) for _label, value in self.rows)
        room = WIDTH - 2 * PAD - BAR_VALUE_ROOM
        label_chars = int((WIDTH - 2 * PAD) / GLYPH_WIDTH)
        parts = []
        for n, (label, value) in enumerate(self.rows):
            y = PAD + n * BAR_ROW
            width = round(room * max(value, 0) / top, 1) if top else 0
            parts.append(
                (
                    PAD,
                    y + FONT_SIZE,
                    INK,
                    _text(label, max_chars=label_chars),
                    PAD,
                    y + FONT_SIZE + 5,
                    width,
                    BAR_HEIGHT,
                    BAR,
                    PAD + width + 6,
                    y + FONT_SIZE + 5 + BAR_HEIGHT - 2,
                    INK,
                    figure(value),
                )
            )
        body = format_html_join(
            "",
            '<text x="{}" y="{}" fill="{}">{}</text>'
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
            '<text x="{}" y="{}" fill="{}">{}</text>',
            parts,
        )
        return body, 2 * PAD + len(self.rows) * BAR_ROW

    def _columns(self) -> tuple[SafeString, int]:
        if not self.rows:
            return self._empty()
        count = len(self.rows)
        top = max(max(value, 0) for _label, value in self.rows)
        left, plot_width = PAD, WIDTH - 2 * PAD
        base = COLUMN_TOP + COLUMN_PLOT_HEIGHT
        step = plot_width / count
        gap = min(2.0, step / 4)
        every = math.ceil(count / COLUMN_LABELS)
        columns, labels = [], []
        axis = self.axis_labels or [label for label, _value in self.rows]
        for n, ((_label, value), label) in enumerate(zip(self.rows, axis, strict=True)):
            x = left + n * step
            height = round(COLUMN_PLOT_HEIGHT * max(value, 0) / top, 1) if top else 0
            columns.append(
                (round(x + gap / 2, 2), round(base - height, 2), round(step - gap, 2), height, BAR)
            )
            if n % every == 0:
                # Cut to the room before the next label (or the edge), so none overlap.
                room = min(step * every, left + plot_width - x)
                text = _text(label, max_chars=int(room / GLYPH_WIDTH) - 1)
                labels.append((round(x, 2), base + FONT_SIZE + 6, INK, text))
        body = format_html(
            "{columns}"
            '<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="{rule}"/>'
            '<line x1="{left}" y1="{top_y}" x2="{right}" y2="{top_y}" stroke="{rule}" '
            'stroke-dasharray="4 4"/>'
            '<text x="{right}" y="{top_label_y}" fill="{ink}" text-anchor="end">{top}</text>'
            "{labels}",
            columns=format_html_join(
                "", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>', columns
            ),
            left=left,
            right=left + plot_width,
            base=base,
            top_y=COLUMN_TOP,
            top_label_y=COLUMN_TOP - 6,
            rule=RULE,
            ink=INK,
            top=figure(top),
            labels=format_html_join("", '<text x="{}" y="{}" fill="{}">{}</text>', labels),
        )
        return body, base + COLUMN_AXIS
