"""The staff dashboard's numbers and charts, made from rows the stores give (pure: no database, no HTTP).

Inputs: per day and channel, the customers' questions and how many of them the assistant answered from the
guidance (`ChannelStore.question_counts`: greetings, thanks and ratings are not questions); per day, "Was this
helpful?" ratings (`ChannelStore.ratings`); and the review queue's gaps: opened and closed per day, the median
days to close, and the largest clusters (`GapStats`, read from the review store by `channels.editor.gaps`).
Every chart is a `charts.Chart`, drawn as SVG and shown as a table.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from channels.editor.charts import Chart, Series

CHANNELS = (("web", "Web chat"), ("sms", "SMS"), ("email", "Email"))
PERIODS = (7, 30, 90)


@dataclass(frozen=True)
class GapStats:
    """The review queue in the period: gaps opened and closed per day, time to close, the largest clusters."""

    opened: Mapping[date, int] = field(default_factory=dict)
    closed: Mapping[date, int] = field(default_factory=dict)
    median_days_to_close: float | None = None
    open_now: int = 0
    top_clusters: Sequence[tuple[str, int]] = ()


@dataclass(frozen=True)
class Totals:
    """The period's headline numbers; rates are percentages, None when there was nothing to divide."""

    questions: int
    answered_rate: float | None
    ratings: int
    helpful_rate: float | None
    gaps_opened: int
    gaps_closed: int
    open_now: int
    median_days_to_close: float | None


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard page shows for one period of `days` days ending `end`."""

    days: int
    start: date
    end: date
    totals: Totals
    charts: tuple[tuple[str, Chart], ...]  # (kind: bar, stacked, line or hbar; chart)


def as_day(value: Any) -> date:
    """A day from what a store gives back: a date, a datetime or an ISO "YYYY-MM-DD" string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def period(days: int, end: date) -> list[date]:
    """The `days` days ending with `end`, oldest first."""
    return [end - timedelta(days=days - 1 - i) for i in range(days)]


def day_label(day: date) -> str:
    """ "Dec 1": short enough for an axis."""
    return f"{day:%b} {day.day}"


def percent(part: float, whole: float) -> float | None:
    """`part` of `whole` in percent, one decimal; None when `whole` is zero."""
    return round(100.0 * part / whole, 1) if whole else None


def median_days(pairs: Iterable[tuple[datetime, datetime]]) -> float | None:
    """The median of (closed - opened) in days, one decimal, over (opened, closed) pairs; None for none."""
    spans = [(closed - opened).total_seconds() / 86400 for opened, closed in pairs]
    return round(statistics.median(spans), 1) if spans else None


def _by_day(rows: Iterable[Mapping[str, Any]], key: str, channel: str | None = None) -> dict[date, int]:
    totals: dict[date, int] = {}
    for row in rows:
        if channel is None or row.get("channel") == channel:
            day = as_day(row["day"])
            totals[day] = totals.get(day, 0) + int(row.get(key) or 0)
    return totals


def questions_chart(daily: Sequence[Mapping[str, Any]], days: Sequence[date]) -> Chart:
    """Customers' questions per day, stacked by channel."""
    labels = tuple(day_label(d) for d in days)
    series = []
    for channel, name in CHANNELS:
        counts = _by_day(daily, "messages", channel)
        series.append(Series(name, tuple(float(counts.get(d, 0)) for d in days)))
    return Chart(
        id="chart-questions",
        title="Questions per day, by channel",
        desc=f"Stacked bars: customer messages each day from {labels[0]} to {labels[-1]}, web chat, SMS and email.",
        labels=labels,
        series=tuple(series),
    )


def answered_chart(daily: Sequence[Mapping[str, Any]], days: Sequence[date]) -> Chart:
    """The share of customers' messages answered from the guidance, per day, all channels."""
    answered, replies = _by_day(daily, "answered"), _by_day(daily, "messages")
    labels = tuple(day_label(d) for d in days)
    values = tuple(percent(answered.get(d, 0), replies.get(d, 0)) for d in days)
    return Chart(
        id="chart-answered",
        title="Answered rate per day",
        desc="Line: the percentage of customers' messages answered from the published guidance each day, "
        "all channels. "
        "Days without questions have no point.",
        labels=labels,
        series=(Series("Answered", values),),
        unit="%",
    )


def helpful_chart(ratings: Sequence[Mapping[str, Any]], days: Sequence[date]) -> Chart:
    """ "Was this helpful?" answers per day: yes and no, stacked."""
    yes, no = _by_day(ratings, "helpful"), _by_day(ratings, "not_helpful")
    labels = tuple(day_label(d) for d in days)
    return Chart(
        id="chart-helpful",
        title="Helpfulness ratings per day",
        desc="Stacked bars: how many customers said an answer was helpful, and not helpful, each day.",
        labels=labels,
        series=(
            Series("Helpful", tuple(float(yes.get(d, 0)) for d in days), "#008817"),
            Series("Not helpful", tuple(float(no.get(d, 0)) for d in days), "#c05600"),
        ),
    )


def gaps_chart(gaps: GapStats, days: Sequence[date]) -> Chart:
    """Review-queue gaps opened and closed per day, side by side."""
    labels = tuple(day_label(d) for d in days)
    return Chart(
        id="chart-gaps",
        title="Gaps opened and closed per day",
        desc="Bars side by side: new unanswered questions in the review queue, and gaps closed, each day.",
        labels=labels,
        series=(
            Series("Opened", tuple(float(gaps.opened.get(d, 0)) for d in days), "#c05600"),
            Series("Closed", tuple(float(gaps.closed.get(d, 0)) for d in days), "#005ea2"),
        ),
    )


def clusters_chart(gaps: GapStats) -> Chart:
    """The largest clusters of unanswered questions, by how often they were asked."""
    return Chart(
        id="chart-clusters",
        title="Top clusters of unanswered questions",
        desc="Horizontal bars: the review queue's largest clusters, by how many times customers asked.",
        labels=tuple(label for label, _ in gaps.top_clusters),
        series=(Series("Times asked", tuple(float(n) for _, n in gaps.top_clusters), "#54278f"),),
        axis="Cluster (an example question)",
    )


def build_dashboard(
    days: int,
    end: date,
    daily: Sequence[Mapping[str, Any]],
    ratings: Sequence[Mapping[str, Any]],
    gaps: GapStats,
) -> Dashboard:
    """The dashboard for the `days` days ending `end` (today, UTC)."""
    span = period(days, end)
    inside = [r for r in daily if span[0] <= as_day(r["day"]) <= end]
    rated = [r for r in ratings if span[0] <= as_day(r["day"]) <= end]
    yes = sum(int(r.get("helpful") or 0) for r in rated)
    no = sum(int(r.get("not_helpful") or 0) for r in rated)
    totals = Totals(
        questions=sum(int(r.get("messages") or 0) for r in inside),
        answered_rate=percent(
            sum(int(r.get("answered") or 0) for r in inside), sum(int(r.get("messages") or 0) for r in inside)
        ),
        ratings=yes + no,
        helpful_rate=percent(yes, yes + no),
        gaps_opened=sum(n for d, n in gaps.opened.items() if span[0] <= d <= end),
        gaps_closed=sum(n for d, n in gaps.closed.items() if span[0] <= d <= end),
        open_now=gaps.open_now,
        median_days_to_close=gaps.median_days_to_close,
    )
    charts = (
        ("stacked", questions_chart(inside, span)),
        ("line", answered_chart(inside, span)),
        ("stacked", helpful_chart(rated, span)),
        ("bar", gaps_chart(gaps, span)),
        ("hbar", clusters_chart(gaps)),
    )
    return Dashboard(days=days, start=span[0], end=end, totals=totals, charts=charts)
