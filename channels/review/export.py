"""The review queue as CSV: one row per item, the contract's columns first, personal data already redacted."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TextIO

from channels.review.store import Item

COLUMNS = (
    "id",
    "channel",
    "question",
    "first_seen",
    "last_seen",
    "count",
    "status",
    "cluster_id",
    "kind",
    "reason",
    "assigned_to",
    "answered_by_url",
    "answered_in_version",
)
"""The contract's columns (id … status), then the item's cluster, kind (unanswered, not_helpful, handoff), why it
was not answered, who it is assigned to, and the page and index version that answer it now."""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def _cell(text: str | None) -> str:
    """Text as a spreadsheet shows it, never as a formula (a leading = + - @ gets an apostrophe)."""
    text = text or ""
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_row(item: Item) -> list[str]:
    """One item's cells, in COLUMNS order."""
    return [
        str(item.id),
        item.channel,
        _cell(item.question),
        _time(item.first_seen),
        _time(item.last_seen),
        str(item.count),
        item.status,
        str(item.cluster_id or ""),
        item.signal,
        item.reason or "",
        _cell(item.assigned_to),
        item.answered_by_url or "",
        item.answered_in_version or "",
    ]


def write_csv(items: Iterable[Item], out: TextIO) -> int:
    """Write the header and one row per item to `out`; how many rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for item in items:
        writer.writerow(csv_row(item))
        count += 1
    return count


def csv_chunks(items: Iterable[Item], every: int = 200) -> Iterator[str]:
    """The CSV in pieces, for a streamed download."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for n, item in enumerate(items, start=1):
        writer.writerow(csv_row(item))
        if n % every == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
