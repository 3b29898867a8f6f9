"""The review queue's gaps for the dashboard, read through the review store's public methods.

A gap is a cluster of the review queue (one question asked many ways that the assistant could not answer).
It opens when the cluster is made, and it is closed while its status is `closed` (a reviewer closed it) or
`answered_by_update` (a sync made the assistant answer it); it closed when the cluster was last updated, which
is the status change (a cluster that gets a new question opens again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from channels.editor.dashboard import GapStats, median_days
from channels.review.store import OPEN, RESOLVED, QueueFilter, ReviewStore

TOP_CLUSTERS = 8


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def count_gaps(
    timeline: Iterable[Mapping[str, Any]], since: datetime
) -> tuple[dict[date, int], dict[date, int], float | None]:
    """Gaps opened and closed per day since `since`, and the median days to close of those closed since then,
    from cluster rows (`id`, `status`, `created_at`, `updated_at`)."""
    opened: dict[date, int] = {}
    closed: dict[date, int] = {}
    spans: list[tuple[datetime, datetime]] = []
    for row in timeline:
        made, moved = _utc(row["created_at"]), _utc(row["updated_at"])
        if made >= since:
            opened[made.date()] = opened.get(made.date(), 0) + 1
        if row["status"] in RESOLVED and moved >= since:
            closed[moved.date()] = closed.get(moved.date(), 0) + 1
            spans.append((made, moved))
    return opened, closed, median_days(spans)


def gap_stats(review: ReviewStore, since: datetime) -> GapStats:
    """The dashboard's gap numbers since `since` (blocking: call it in a thread)."""
    opened, closed, median = count_gaps(review.cluster_timeline(since), since)
    open_now = sum(review.count_clusters(QueueFilter(status=status)) for status in OPEN)
    top = review.clusters(QueueFilter(since=since), limit=TOP_CLUSTERS)
    return GapStats(
        opened=opened,
        closed=closed,
        median_days_to_close=median,
        open_now=open_now,
        top_clusters=[(c.examples[0] if c.examples else f"Cluster {c.id}", c.count) for c in top],
    )
