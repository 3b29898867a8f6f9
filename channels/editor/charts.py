"""Small server-rendered SVG charts (bars and lines) for the staff dashboard, accessible by construction.

Every chart is an `<svg role="img">` labelled by its own `<title>` and `<desc>` (aria-labelledby), with text
labels in near-black on white and series colours of at least 3:1 against white (WCAG 1.4.11). The numbers are
never only in the picture: the dashboard puts the same `Chart` in a data table under each chart. All text
is escaped here, so the markup returned is safe to put in a template as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from markupsafe import Markup, escape

PALETTE = ("#005ea2", "#c05600", "#54278f", "#008817")  # USWDS blue, orange, violet, green: >= 4.5:1 on white
TEXT = "#1b1b1b"
AXIS = "#565c65"
GRID = "#dfe1e2"
FONT = 14
WIDTH = 720
HEIGHT = 300
NARROW = 400  # the width drawn for phones: fewer day labels, so text stays readable when scaled down
EMPTY = "No data for this period yet."


@dataclass(frozen=True)
class Series:
    """One named row of values, one per label; None where there is no value (a day with no questions)."""

    name: str
    values: tuple[float | None, ...]
    color: str = ""


@dataclass(frozen=True)
class Chart:
    """What a chart shows, for both its SVG and its data table. `unit` is appended to values ("%")."""

    id: str
    title: str
    desc: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str = ""
    axis: str = "Day"  # what a label is, for the data table's first column

    @property
    def empty(self) -> bool:
        """True when there is nothing to draw: no labels, or no value above zero."""
        return not self.labels or not any(v for s in self.series for v in s.values if v is not None)

    def colored(self) -> tuple[Series, ...]:
        """The series, each with its colour (the palette in order, unless one was given)."""
        return tuple(Series(s.name, s.values, s.color or PALETTE[i % len(PALETTE)]) for i, s in enumerate(self.series))

    def cell(self, value: float | None) -> str:
        """A value as the data table shows it."""
        return "–" if value is None else format_value(value) + self.unit


def format_value(value: float) -> str:
    """Whole numbers without decimals, others with one."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def nice_max(value: float) -> tuple[float, float]:
    """An axis top at or above `value` and its tick step, on a 1-2-5 scale (at least 1)."""
    if value <= 0:
        return 1.0, 1.0
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1.0) if value >= 1 else step
    return math.ceil(value / step) * step, step


def _open(chart: Chart, width: int, height: int) -> list[str]:
    cid = escape(chart.id)
    desc = chart.desc + (f" {EMPTY}" if chart.empty else "")
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="editor-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" aria-labelledby="{cid}-title {cid}-desc" '
        f'font-family="Source Sans Pro, Helvetica, Arial, sans-serif" font-size="{FONT}">',
        f'<title id="{cid}-title">{escape(chart.title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def _empty(chart: Chart, width: int, height: int) -> Markup:
    height = min(height, 140)
    parts = _open(chart, width, height)
    parts.append(
        f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" fill="{TEXT}">{escape(EMPTY)}</text>'
    )
    parts.append("</svg>")
    return Markup("\n".join(parts))


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for s in series:
        parts.append(f'<rect x="{x:.1f}" y="{y - 11:.1f}" width="14" height="14" fill="{s.color}"/>')
        parts.append(f'<text x="{x + 20:.1f}" y="{y:.1f}" fill="{TEXT}">{escape(s.name)}</text>')
        x += 20 + 8.5 * len(s.name) + 24
    return parts


def _y_axis(top: float, step: float, left: float, right: float, y0: float, plot_h: float, unit: str) -> list[str]:
    parts = []
    ticks = round(top / step)
    for i in range(ticks + 1):
        value = step * i
        y = y0 - plot_h * value / top
        parts.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{left - 6:.1f}" y="{y + 5:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{escape(format_value(value) + unit)}</text>"
        )
    parts.append(f'<line x1="{left:.1f}" y1="{y0:.1f}" x2="{right:.1f}" y2="{y0:.1f}" stroke="{AXIS}"/>')
    return parts


def _x_labels(labels: Sequence[str], centre: Sequence[float], y: float, width: int) -> list[str]:
    """Every label when they fit (about one per 90 units of width), else every n-th from the first."""
    every = max(1, math.ceil(len(labels) / max(3, width // 90)))
    return [
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" fill="{TEXT}">{escape(label)}</text>'
        for i, (label, x) in enumerate(zip(labels, centre, strict=True))
        if i % every == 0
    ]


def bar_chart(chart: Chart, stacked: bool = True, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    """Vertical bars, one group per label: the series stacked (totals) or side by side."""
    if chart.empty:
        return _empty(chart, width, height)
    series = chart.colored()
    n = len(chart.labels)
    left, right, top_m, bottom = 56.0, width - 16.0, 40.0, height - 36.0
    plot_h, slot = bottom - top_m, (right - left) / n
    totals = [
        sum(s.values[i] or 0 for s in series) if stacked else max(s.values[i] or 0 for s in series) for i in range(n)
    ]
    top, step = nice_max(max(totals))
    parts = _open(chart, width, height)
    parts += _legend(series, left, 20)
    parts += _y_axis(top, step, left, right, bottom, plot_h, chart.unit)
    bar_w = slot * 0.7 if stacked else slot * 0.8 / len(series)
    for i, label in enumerate(chart.labels):
        x = left + slot * i + (slot - (bar_w if stacked else bar_w * len(series))) / 2
        base = bottom
        for s in series:
            value = s.values[i] or 0
            h = plot_h * value / top
            if h > 0:
                tip = f"{label}, {s.name}: {chart.cell(s.values[i])}"
                parts.append(
                    f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{s.color}" '
                    f'stroke="#ffffff" stroke-width="1"><title>{escape(tip)}</title></rect>'
                )
            if stacked:
                base -= h
            else:
                x += bar_w
    parts += _x_labels(chart.labels, [left + slot * (i + 0.5) for i in range(n)], bottom + 22, width)
    parts.append("</svg>")
    return Markup("\n".join(parts))


def line_chart(chart: Chart, y_max: float | None = None, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    """One line per series with a dot on each value; a missing value (None) breaks the line."""
    if chart.empty:
        return _empty(chart, width, height)
    series = chart.colored()
    n = len(chart.labels)
    left, right, top_m, bottom = 56.0, width - 16.0, 40.0, height - 36.0
    plot_h, slot = bottom - top_m, (right - left) / n
    highest = max(v for s in series for v in s.values if v is not None)
    top, step = (y_max, y_max / 4) if y_max else nice_max(highest)
    parts = _open(chart, width, height)
    parts += _legend(series, left, 20)
    parts += _y_axis(top, step, left, right, bottom, plot_h, chart.unit)
    centre = [left + slot * (i + 0.5) for i in range(n)]
    for s in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
                continue
            y = bottom - plot_h * min(value, top) / top
            runs[-1].append((centre[i], y))
            tip = f"{chart.labels[i]}, {s.name}: {chart.cell(value)}"
            parts.append(
                f'<circle cx="{centre[i]:.1f}" cy="{y:.1f}" r="4" fill="{s.color}">'
                f"<title>{escape(tip)}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="2.5"/>')
    parts += _x_labels(chart.labels, centre, bottom + 22, width)
    parts.append("</svg>")
    return Markup("\n".join(parts))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def hbar_chart(chart: Chart, width: int = WIDTH, label_chars: int = 34) -> Markup:
    """Horizontal bars of the first series, one row per label (long labels cut, in full in the table)."""
    row = 30
    height = int(24 + row * max(len(chart.labels), 1) + 12)
    if chart.empty:
        return _empty(chart, width, height)
    (series, *_) = chart.colored()
    left, right = 8.5 * label_chars * 0.9 + 16, width - 60.0
    top, _step = nice_max(max(v or 0 for v in series.values))
    parts = _open(chart, width, height)
    for i, label in enumerate(chart.labels):
        y = 16 + row * i
        value = series.values[i] or 0
        w = (right - left) * value / top
        parts.append(
            f'<text x="{left - 8:.1f}" y="{y + 17:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{escape(_clip(label, label_chars))}</text>"
        )
        parts.append(
            f'<rect x="{left:.1f}" y="{y + 3:.1f}" width="{max(w, 1):.1f}" height="{row - 8}" fill="{series.color}">'
            f"<title>{escape(f'{label}: {chart.cell(series.values[i])}')}</title></rect>"
        )
        parts.append(
            f'<text x="{left + max(w, 1) + 6:.1f}" y="{y + 17:.1f}" fill="{TEXT}">'
            f"{escape(chart.cell(series.values[i]))}</text>"
        )
    parts.append(f'<line x1="{left:.1f}" y1="12" x2="{left:.1f}" y2="{height - 8}" stroke="{AXIS}"/>')
    parts.append("</svg>")
    return Markup("\n".join(parts))


def draw(kind: str, chart: Chart, narrow: bool = False) -> Markup:
    """The chart drawn as `kind`: "stacked" or "bar" (side by side) columns, "line" or "hbar" (rows).

    `narrow` draws it for phones (NARROW units wide, its ids suffixed "-narrow" so both can be on one page).
    """
    width = NARROW if narrow else WIDTH
    if narrow:
        chart = replace(chart, id=f"{chart.id}-narrow")
    if kind == "line":
        return line_chart(chart, y_max=100.0 if chart.unit == "%" else None, width=width)
    if kind == "hbar":
        return hbar_chart(chart, width=width, label_chars=16 if narrow else 34)
    if kind in ("stacked", "bar"):
        return bar_chart(chart, stacked=kind == "stacked", width=width)
    raise ValueError(f"unknown chart kind {kind!r}; use stacked, bar, line or hbar")
