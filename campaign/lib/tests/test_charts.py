"""Charts drawn on the server: SVG that always parses, escapes what it is given, draws nothing
of negative size, and comes with its figures as a table and a summary in text."""

import xml.etree.ElementTree as ET

import html5lib
import hypothesis
import pytest
from django.template.loader import render_to_string
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from campaign.lib.charts import WIDTH, Chart, figure, showable

SVG = "{http://www.w3.org/2000/svg}"
DRAWN = {"svg", "title", "desc", "rect", "text", "line"}


def make(rows, kind="bars", **fields) -> Chart:
    values = {
        "title": "Per country",
        "summary": "Most came from the Netherlands.",
        "label_heading": "Country",
        "value_heading": "Signatures",
        "rows": rows,
        "kind": kind,
    }
    values.update(fields)
    return Chart(**values)


def drawing(chart: Chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))


def elements(svg: ET.Element, tag: str) -> list[ET.Element]:
    return list(svg.iter(f"{SVG}{tag}"))


def parse_html(html: str):
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    return parser.parseFragment(html)


def table_rows(fragment) -> list[tuple[str, str]]:
    return [
        (row.find("th").text or "", row.find("td").text or "")
        for row in fragment.iter("tr")
        if row.find("th") is not None and row.find("th").get("scope") == "row"
    ]


def html_text(text: str) -> str:
    """Text as an HTML parser hands it back: line ends normalised."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Labels with markup, quotes and any character at all, controls and astral planes included.
labels = st.text(alphabet=st.one_of(st.characters(), st.sampled_from("<>&\"'")), max_size=60)
rows = st.lists(st.tuples(labels, st.integers(min_value=0, max_value=10**9)), max_size=200)


@hypothesis.settings(max_examples=60, deadline=None)
@given(rows=rows, kind=st.sampled_from(["bars", "columns"]), title=labels)
def test_it_draws_any_rows_as_svg_that_parses_and_lists_them_all_in_the_table(rows, kind, title):
    chart = make(rows, kind, title=title or "Chart")
    svg = drawing(chart)  # raises if it is not well-formed XML
    assert {element.tag.removeprefix(SVG) for element in svg.iter()} <= DRAWN
    for element in svg.iter():
        for size in ("x", "y", "width", "height"):
            if size in element.attrib:
                assert float(element.attrib[size]) >= 0, (element.tag, element.attrib)
    for rect in elements(svg, "rect"):
        assert float(rect.get("x", 0)) + float(rect.get("width")) <= WIDTH
    assert (elements(svg, "title")[0].text or "") == " ".join(showable(title or "Chart").split())

    fragment = parse_html(render_to_string("includes/_chart.html", {"chart": chart}))
    shown = table_rows(fragment)
    assert len(shown) == len(rows)
    assert shown == [(html_text(showable(label)), figure(value)) for label, value in rows]


def test_it_escapes_labels_in_the_drawing_and_the_table():
    chart = make([('<script>alert("x")</script> & co', 3)], title="A <b>bold</b> title")
    svg = str(chart.svg)
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg
    texts = [element.text for element in elements(drawing(chart), "text")]
    assert '<script>alert("x")</script> & co' in texts
    html = render_to_string("includes/_chart.html", {"chart": chart})
    assert "<script>" not in html and "<b>" not in html


def test_it_names_the_drawing_by_its_title_and_summary():
    chart = make([("Netherlands", 5)])
    svg = drawing(chart)
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert (title.text, desc.text) == ("Per country", "Most came from the Netherlands.")


def test_it_draws_each_bar_in_proportion_to_the_largest():
    chart = make([("Netherlands", 200), ("Belgium", 50), ("Malta", 0)])
    bars = elements(drawing(chart), "rect")[1:]  # after the white ground
    widths = [float(bar.get("width")) for bar in bars]
    assert widths[0] > 0
    assert widths[1] == pytest.approx(widths[0] / 4, abs=0.1)
    assert widths[2] == 0


def test_it_draws_a_time_series_as_columns_with_a_few_labels_along_the_axis():
    rows = [(f"3 March, {hour}:00", hour) for hour in range(48)]
    axis = [f"{hour}:00" for hour in range(48)]
    svg = drawing(make(rows, "columns", axis_labels=axis))
    columns = elements(svg, "rect")[1:]
    assert len(columns) == 48
    heights = [float(column.get("height")) for column in columns]
    assert heights == sorted(heights) and heights[0] == 0
    texts = [element.text for element in elements(svg, "text")]
    assert "0:00" in texts and "3 March, 0:00" not in texts
    assert len([text for text in texts if text.endswith(":00")]) <= 8


def test_it_says_so_when_there_is_nothing_to_draw():
    for kind in ("bars", "columns"):
        chart = make([], kind)
        assert [e.text for e in elements(drawing(chart), "text")] == ["Nothing to show yet."]
        html = render_to_string("includes/_chart.html", {"chart": chart})
        assert "Nothing to show yet." in html


def test_it_writes_figures_as_the_language_does():
    chart = make([("Netherlands", 1234567)])
    with translation.override("nl"):
        assert "1.234.567" in str(chart.svg)
        assert table_rows(parse_html(render_to_string("includes/_chart.html", {"chart": chart})))[
            0
        ] == ("Netherlands", "1.234.567")
    with translation.override("en"):
        assert "1,234,567" in str(chart.svg)


def test_its_table_is_a_real_table_behind_a_disclosure_and_uses_no_inline_style():
    chart = make([("Netherlands", 5)])
    html = render_to_string("includes/_chart.html", {"chart": chart, "heading_level": 2})
    fragment = parse_html(html)
    assert fragment.find(".//details/summary").text == "Show the figures as a table"
    assert fragment.find(".//table/caption").text == "Per country"
    assert [th.get("scope") for th in fragment.iter("th")] == ["col", "col", "row"]
    assert fragment.find(".//h2").text == "Per country"
    assert "style=" not in html and "<style" not in html
    assert "<script" not in html


def test_it_gives_two_charts_on_a_page_different_ids():
    assert make([("a", 1)]).id != make([("a", 2)]).id
    assert make([("a", 1)]).id == make([("a", 1)]).id


def test_it_refuses_an_unknown_kind_and_axis_labels_that_do_not_fit():
    with pytest.raises(ValueError):
        make([("a", 1)], "pie")
    with pytest.raises(ValueError):
        make([("a", 1)], "columns", axis_labels=["a", "b"])
