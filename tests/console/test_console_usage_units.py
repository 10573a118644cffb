"""The Usage page's pure parts: the SVG charts, the filters and the CSV's formula guard."""

from __future__ import annotations

import re
from datetime import date
from xml.etree import ElementTree

import pytest

from tawa.console import charts
from tawa.console.usage import BadFilter, Filters, safe

SVG = re.compile(r"<svg role=\"img\".*?</svg>", re.S)


def svg_of(html: str) -> ElementTree.Element:
    found = SVG.search(html)
    assert found
    return ElementTree.fromstring(found.group(0))


def shapes(html: str, css: str) -> list[ElementTree.Element]:
    return [r for r in svg_of(html).iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == css]


def test_stacked_has_one_segment_per_value_and_heights_add_up() -> None:
    days = [("2026-01-01", {"a": 10, "b": 30}), ("2026-01-02", {"a": 40}), ("2026-01-03", {"b": 0, "c": 5})]
    html = charts.stacked("Tokens per day", days)
    segments = shapes(html, "segment")
    assert len(segments) == 4
    heights = [float(r.get("height", 0)) for r in segments]
    assert heights[0] + heights[1] == pytest.approx(heights[2], abs=0.2)  # 40 = 10 + 30, the tallest
    assert [r.findtext("{http://www.w3.org/2000/svg}title") for r in segments][:2] == [
        "2026-01-01 · a: 10 tokens", "2026-01-01 · b: 30 tokens"]
    assert svg_of(html).findtext("{http://www.w3.org/2000/svg}title") == "Tokens per day"
    assert html.count("<tr><td>") == 4 and "<figcaption>Tokens per day</figcaption>" in html


def test_bars_have_one_bar_per_value_longest_for_the_most() -> None:
    html = charts.bars("Top routes", [("/v1/quote", 50), ("/v1/price", 5), ("/zero", 0)])
    widths = [float(r.get("width", 0)) for r in shapes(html, "bar")]
    assert len(widths) == 2 and widths[0] == pytest.approx(widths[1] * 10, rel=0.01)
    assert "<td>/v1/quote</td><td>50</td>" in html and "/zero" not in html


@pytest.mark.parametrize("html", [charts.stacked("Per day", []), charts.stacked("Per day", [("d", {"a": 0})]),
                                  charts.bars("Routes", []), charts.bars("Routes", [("x", 0)])])
def test_no_data_says_no_usage_yet(html: str) -> None:
    assert "No usage yet" in html and "<svg" not in html


def test_labels_are_escaped() -> None:
    html = charts.bars("<b>", [("<script>", 1)])
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>" not in html


def test_filters_parse_and_round_trip() -> None:
    f = Filters.parse({"service": " quoting ", "route": "/v1/quote", "from": "2026-01-01", "to": "2026-01-31",
                       "page": "2"})
    assert f == Filters("quoting", "/v1/quote", date(2026, 1, 1), date(2026, 1, 31), 2)
    assert f.query(page=1) == "?service=quoting&route=%2Fv1%2Fquote&from=2026-01-01&to=2026-01-31"
    assert Filters.parse({}).query() == ""


@pytest.mark.parametrize("params", [{"from": "20260101"}, {"to": "2026-13-01"}, {"page": "-1"},
                                    {"from": "2026-01-02", "to": "2026-01-01"}, {"route": "r" * 201}])
def test_bad_filters_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(BadFilter):
        Filters.parse(params)


@pytest.mark.parametrize(("cell", "written"), [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"),
                                               ("@SUM(A1)", "'@SUM(A1)"), ("/v1/quote", "/v1/quote"), (5, 5)])
def test_csv_cells_that_spreadsheets_would_run_are_quoted(cell: object, written: object) -> None:
    assert safe(cell) == written
