"""The dashboard's numbers: totals, one value per day (gaps where nothing happened), gaps opened and closed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from channels.editor.dashboard import GapStats, build_dashboard, day_label, median_days, percent, period
from channels.editor.gaps import count_gaps

END = date(2026, 12, 3)


def test_period_ends_today_and_labels_are_short() -> None:
    assert period(3, END) == [date(2026, 12, 1), date(2026, 12, 2), END]
    assert day_label(date(2026, 12, 1)) == "Dec 1"


def test_rates_and_medians() -> None:
    assert percent(1, 3) == 33.3
    assert percent(0, 0) is None
    t = datetime(2026, 12, 1, tzinfo=UTC)
    assert median_days([(t, t + timedelta(days=1)), (t, t + timedelta(days=3)), (t, t + timedelta(days=10))]) == 3.0
    assert median_days([]) is None


def test_dashboard_counts_the_period_and_draws_each_day() -> None:
    daily = [
        {"day": "2026-12-01", "channel": "web", "messages": 4, "answered": 3},
        {"day": "2026-12-01", "channel": "sms", "messages": 2, "answered": 1},
        {"day": "2026-12-03", "channel": "email", "messages": 1, "answered": 1},
        {"day": "2026-11-20", "channel": "web", "messages": 50, "answered": 0},  # before the period
    ]
    ratings = [{"day": "2026-12-01", "helpful": 3, "not_helpful": 1}]
    gaps = GapStats(
        opened={date(2026, 12, 1): 2, date(2026, 11, 1): 9},
        closed={date(2026, 12, 2): 1},
        median_days_to_close=1.5,
        open_now=4,
        top_clusters=[("Can I pay rent with EBT?", 7), ("Do you have a food bank?", 2)],
    )
    board = build_dashboard(3, END, daily, ratings, gaps)
    t = board.totals
    assert (t.questions, t.answered_rate, t.ratings, t.helpful_rate) == (7, 71.4, 4, 75.0)
    assert (t.gaps_opened, t.gaps_closed, t.open_now, t.median_days_to_close) == (2, 1, 4, 1.5)
    charts = {chart.id: (kind, chart) for kind, chart in board.charts}
    _, questions = charts["chart-questions"]
    assert questions.labels == ("Dec 1", "Dec 2", "Dec 3")
    assert [(s.name, s.values) for s in questions.series] == [
        ("Web chat", (4.0, 0.0, 0.0)),
        ("SMS", (2.0, 0.0, 0.0)),
        ("Email", (0.0, 0.0, 1.0)),
    ]
    kind, answered = charts["chart-answered"]
    assert kind == "line" and answered.series[0].values == (66.7, None, 100.0)
    assert answered.cell(None) == "–" and answered.cell(66.7) == "66.7%"
    _, helpful = charts["chart-helpful"]
    assert [s.values for s in helpful.series] == [(3.0, 0.0, 0.0), (1.0, 0.0, 0.0)]
    _, opened_closed = charts["chart-gaps"]
    assert [s.values for s in opened_closed.series] == [(2.0, 0.0, 0.0), (0.0, 1.0, 0.0)]
    kind, clusters = charts["chart-clusters"]
    assert kind == "hbar" and clusters.labels == ("Can I pay rent with EBT?", "Do you have a food bank?")


def test_an_empty_dashboard_has_no_rates_and_empty_charts() -> None:
    board = build_dashboard(7, END, [], [], GapStats())
    assert board.totals.questions == 0 and board.totals.answered_rate is None and board.totals.helpful_rate is None
    assert all(chart.empty for _, chart in board.charts)


def test_gaps_open_when_made_and_close_when_resolved() -> None:
    since = datetime(2026, 12, 1, tzinfo=UTC)
    day = timedelta(days=1)
    timeline = [
        {"id": 1, "status": "new", "created_at": since + day, "updated_at": since + day},
        {"id": 2, "status": "closed", "created_at": since, "updated_at": since + 2 * day},
        {"id": 3, "status": "answered_by_update", "created_at": since - 10 * day, "updated_at": since + day},
        {"id": 4, "status": "wont_fix", "created_at": since - day, "updated_at": since + day},
        {"id": 5, "status": "closed", "created_at": (since - 20 * day).replace(tzinfo=None), "updated_at": since - day},
    ]
    opened, closed, median = count_gaps(timeline, since)
    assert opened == {date(2026, 12, 2): 1, date(2026, 12, 1): 1}
    assert closed == {date(2026, 12, 3): 1, date(2026, 12, 2): 1}
    assert median == 6.5  # 2 days and 11 days
