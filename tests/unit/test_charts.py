"""The server-drawn SVG charts: well-formed, sized by the numbers, and every label escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.web import charts

NS = {"s": "http://www.w3.org/2000/svg"}
NASTY = '<script>alert(1)</script><b>x</b> & "q"'


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def bars_of(svg: ET.Element) -> list[ET.Element]:
    return [r for r in svg.iterfind(".//s:rect", NS) if "bar" in r.get("class", "")]


def test_bar_widths_follow_the_values_and_the_largest_fills_the_span() -> None:
    svg = parse(charts.bar_chart([("A", 4), ("B", 2), ("C", 0)], title="T", chart_id="c"))
    widths = [float(r.get("width", "")) for r in bars_of(svg)]
    span = charts.WIDTH - charts.LABEL_W - charts.VALUE_W
    assert widths == [span, span / 2, 0.0]
    texts = [t.text for t in svg.iterfind(".//s:text", NS)]
    assert texts == ["A", "4", "B", "2", "C", "0"]
    assert svg.get("role") == "img"
    assert svg.find("s:title", NS) is not None


def test_labels_are_escaped_not_markup() -> None:
    for svg in (
        charts.bar_chart([(NASTY, 1)], title=NASTY, chart_id="x"),
        charts.line_chart([(NASTY, 1)], title=NASTY, chart_id="x"),
        charts.rounds_chart([{"A": 1}], {"A": NASTY}, title=NASTY, chart_id="x"),
    ):
        assert "<script>" not in svg and "<b>" not in svg
        assert "&lt;script&gt;" in svg
        tree = parse(svg)
        assert tree.find(".//s:script", NS) is None


def test_line_rises_with_a_cumulative_count_and_y_max_sets_the_top() -> None:
    svg = parse(
        charts.line_chart([("9am", 1), ("10am", 3), ("11am", 4)], title="T", chart_id="t", y_max=8)
    )
    line = svg.find(".//s:polyline", NS)
    assert line is not None
    ys = [float(p.split(",")[1]) for p in line.get("points", "").split()]
    assert len(ys) == 3 and ys[0] > ys[1] > ys[2]  # SVG y grows downwards
    axis = [t.text for t in svg.iterfind(".//s:text", NS) if t.get("class") == "axis"]
    assert "8" in axis and "4" in axis and "9am" in axis and "11am" in axis
    odd = parse(charts.line_chart([("9am", 9)], title="T", chart_id="t"))
    ticks = [t.text for t in odd.iterfind(".//s:text", NS) if t.get("class") == "axis"]
    assert ticks[:3] == ["0", "4", "9"]  # people come whole: no "4.5" gridline


def test_an_empty_line_chart_says_so() -> None:
    svg = charts.line_chart([], title="T", chart_id="t")
    assert "No answers yet" in svg and parse(svg).find(".//s:polyline", NS) is None


def test_rounds_keep_each_option_colour_and_drop_the_eliminated() -> None:
    rounds = [{"A": 3, "B": 2, "C": 1}, {"A": 3, "B": 3}, {"B": 4, "A": 3}]
    labels = {"A": "Apples", "B": "Bananas", "C": "Cherries"}
    notes = ["C out", "", "B elected"]
    svg = parse(charts.rounds_chart(rounds, labels, title="IRV", chart_id="r", notes=notes))
    titles = [t.text for t in svg.iterfind(".//s:text", NS) if t.get("class") == "round"]
    assert titles == ["Round 1 \u2014 C out", "Round 2", "Round 3 \u2014 B elected"]
    # legend (3) + one bar per option still counted in each round (3 + 2 + 2)
    classes = [r.get("class") for r in bars_of(svg)]
    assert len(classes) == 3 + 7
    colour = dict(zip(labels, classes[:3], strict=True))
    code_of = {label: code for code, label in labels.items()}
    texts = [t.text or "" for t in svg.iterfind(".//s:text", NS) if t.get("class") == "label"]
    assert classes[3:] == [colour[code_of[text]] for text in texts[3:]]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=40), st.integers(min_value=0, max_value=10_000)), max_size=12
    )
)
def test_any_labels_and_counts_make_a_well_formed_chart(bars: list[tuple[str, int]]) -> None:
    clean = [("".join(c for c in label if c.isprintable()), n) for label, n in bars]
    svg = parse(charts.bar_chart(clean, title="T", chart_id="p"))
    span = charts.WIDTH - charts.LABEL_W - charts.VALUE_W
    widths = [float(r.get("width", "")) for r in bars_of(svg)]
    assert len(widths) == len(clean)
    assert all(0 <= w <= span + 0.05 for w in widths)
    if clean and max(n for _, n in clean) > 0:
        assert max(widths) > span - 0.05
