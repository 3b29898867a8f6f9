"""The dashboard's SVG charts: well-formed, labelled for assistive technology, readable, and honest when empty."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from channels.editor.charts import (
    AXIS,
    EMPTY,
    PALETTE,
    TEXT,
    Chart,
    Series,
    bar_chart,
    draw,
    hbar_chart,
    line_chart,
    nice_max,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def contrast(colour: str, background: str = "#ffffff") -> float:
    def luminance(hex_colour: str) -> float:
        r, g, b = (int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4))
        channel = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * channel[0] + 0.7152 * channel[1] + 0.0722 * channel[2]

    high, low = sorted((luminance(colour), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


DAYS = ("Dec 1", "Dec 2", "Dec 3")
QUESTIONS = Chart(
    id="chart-q",
    title="Questions per day, by channel",
    desc="Stacked bars of questions.",
    labels=DAYS,
    series=(Series("Web chat", (3.0, 0.0, 5.0)), Series("SMS", (1.0, 2.0, 0.0)), Series("Email", (0.0, 1.0, 1.0))),
)


def test_bar_chart_is_an_image_labelled_by_its_title_and_description() -> None:
    root = parse(bar_chart(QUESTIONS))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    ids = root.get("aria-labelledby", "").split()
    assert ids == ["chart-q-title", "chart-q-desc"]
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
    assert by_id["chart-q-title"].tag == f"{SVG}title"
    assert by_id["chart-q-title"].text == "Questions per day, by channel"
    assert by_id["chart-q-desc"].tag == f"{SVG}desc"
    assert by_id["chart-q-desc"].text == "Stacked bars of questions."


def test_bar_chart_draws_every_non_zero_value_with_its_labels_and_legend() -> None:
    root = parse(bar_chart(QUESTIONS))
    labels = texts(root)
    for day in DAYS:
        assert day in labels
    for name in ("Web chat", "SMS", "Email"):
        assert name in labels
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    tips = sorted("".join(r.find(f"{SVG}title").itertext()) for r in bars)  # type: ignore[union-attr]
    assert len(bars) == 6  # the zeros draw nothing
    assert "Dec 3, Web chat: 5" in tips
    # the axis reaches the largest stack (Dec 1: 3 + 1 + 0 = 4; Dec 3: 5 + 0 + 1 = 6)
    assert "6" in labels or "8" in labels


def test_side_by_side_bars_are_narrower_than_stacked_ones() -> None:
    stacked = parse(bar_chart(QUESTIONS, stacked=True))
    side = parse(bar_chart(QUESTIONS, stacked=False))

    def widths(root: ET.Element) -> set[float]:
        return {float(r.get("width", 0)) for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None}

    assert max(widths(side)) < min(widths(stacked))


def test_text_is_escaped_and_the_markup_stays_well_formed() -> None:
    chart = Chart(
        id="chart-x",
        title='Gaps <script>alert("x")</script> & more',
        desc="a < b",
        labels=("<b>bold</b>", "A & B"),
        series=(Series("Opened <i>", (1.0, 2.0)),),
    )
    for markup in (bar_chart(chart), line_chart(chart), hbar_chart(chart)):
        root = parse(markup)
        assert "<script>" not in str(markup)
        assert root.find(f"{SVG}title").text == 'Gaps <script>alert("x")</script> & more'  # type: ignore[union-attr]
        assert "A & B" in texts(root)


@pytest.mark.parametrize(
    "chart",
    [
        Chart(id="e1", title="Nothing", desc="No rows.", labels=(), series=()),
        Chart(id="e2", title="Zeros", desc="All zero.", labels=DAYS, series=(Series("Web chat", (0.0, 0.0, 0.0)),)),
        Chart(id="e3", title="Missing", desc="No values.", labels=DAYS, series=(Series("Rate", (None, None, None)),)),
    ],
)
def test_empty_data_draws_a_frame_that_says_so(chart: Chart) -> None:
    for kind in ("stacked", "bar", "line", "hbar"):
        root = parse(draw(kind, chart))
        assert root.get("role") == "img"
        assert EMPTY in texts(root)
        assert EMPTY in (root.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]
        assert root.find(f"{SVG}polyline") is None


def test_line_chart_breaks_at_missing_values_and_marks_each_point() -> None:
    chart = Chart(
        id="chart-rate",
        title="Answered rate per day",
        desc="Line.",
        labels=("Dec 1", "Dec 2", "Dec 3", "Dec 4", "Dec 5"),
        series=(Series("Answered", (50.0, 75.0, None, 80.0, 90.0)),),
        unit="%",
    )
    root = parse(line_chart(chart, y_max=100.0))
    assert len(list(root.iter(f"{SVG}circle"))) == 4
    assert len(list(root.iter(f"{SVG}polyline"))) == 2  # Dec 1-2 and Dec 4-5
    labels = texts(root)
    assert "100%" in labels and "0%" in labels
    tips = ["".join(c.itertext()) for c in root.iter(f"{SVG}circle")]
    assert "Dec 2, Answered: 75%" in tips


def test_horizontal_bars_cut_long_labels_but_keep_them_whole_in_the_tooltip() -> None:
    question = "How do I get my benefits back after they stopped because I missed the interview?"
    chart = Chart(
        id="chart-top",
        title="Top clusters",
        desc="Rows.",
        labels=(question, "Office hours"),
        series=(Series("Times asked", (12.0, 3.0)),),
    )
    root = parse(hbar_chart(chart))
    labels = texts(root)
    assert "Office hours" in labels and "12" in labels and "3" in labels
    cut = [t for t in labels if t.endswith("…")]
    assert cut and question.startswith(cut[0][:-1])
    tips = ["".join(t.itertext()) for r in root.iter(f"{SVG}rect") if (t := r.find(f"{SVG}title")) is not None]
    assert f"{question}: 12" in tips


def test_colours_are_readable_on_white() -> None:
    assert contrast(TEXT) >= 4.5
    assert contrast(AXIS) >= 4.5
    for colour in PALETTE:
        assert contrast(colour) >= 3.0  # WCAG 1.4.11: graphical objects
    root = parse(bar_chart(QUESTIONS))
    for text in root.iter(f"{SVG}text"):
        assert contrast(text.get("fill", "#000000")) >= 4.5


def test_axis_tops_are_round_numbers() -> None:
    assert nice_max(0) == (1.0, 1.0)
    assert nice_max(3) == (3.0, 1.0)
    assert nice_max(7) == (8.0, 2.0)
    assert nice_max(37) == (40.0, 10.0)
    assert nice_max(1234)[0] == 1500.0


def test_an_unknown_kind_says_which_kinds_exist() -> None:
    with pytest.raises(ValueError, match="stacked, bar, line or hbar"):
        draw("pie", QUESTIONS)
