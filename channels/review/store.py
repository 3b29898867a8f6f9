"""The review queue's store: the only review code that touches the database (its tables: channels.review.tables).

The schema is kept by the alembic migrations in `channels/review/migrations/`, with their own version table
(`review_alembic_version`), beside the other packages' in the same database (ADR 7). `ReviewStore` runs them
to head when it is made. On SQLite, processes take turns through a lock file beside the database; anywhere, a
failed upgrade is forgiven when the schema turns out to be at head (another process won the race).

The queue never reads `answer_events` itself: `channels.review.ingest` reads it through
`ChannelStore.events_since` and hands the rows here, with the cursor they were read from, so two ingesters
(the gateway's task and `assistant review export`) never take the same events twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from channels.migrate import MigrationChain
from channels.review.cluster import THRESHOLD, Centroid, from_bytes, nearest, to_bytes
from channels.review.tables import (
    review_clusters,
    review_items,
    review_notes,
    review_notifications,
    review_occurrences,
    review_state,
)
from content_sync.jobs import get_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "review_alembic_version"
SYSTEM = "assistant"  # the author of the notes the queue writes itself
RETRY_FIRST = 10.0  # seconds before a notice that could not be sent is tried again; doubles each time
RETRY_MAX = 3600.0

STATUSES = ("new", "needs_content", "answered_by_update", "closed", "wont_fix")
OPEN = ("new", "needs_content")  # asked again after every sync
RESOLVED = ("answered_by_update", "closed")  # a new question of the same kind opens them again
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("needs_content", "closed", "wont_fix"),
    "needs_content": ("new", "closed", "wont_fix"),
    "answered_by_update": ("needs_content", "closed"),
    "closed": ("new",),
    "wont_fix": ("new",),
}
"""Which statuses a reviewer may move a cluster to from each one. `answered_by_update` is set only by the
closed loop (a sync made the assistant answer); `needs_content` needs an assignee (see `ReviewStore.assign`)."""

SIGNALS = ("unanswered", "not_helpful", "handoff")  # what brought an item in (review_items.signal)


class ReviewError(Exception):
    """A review action that cannot be done as asked; the message says what to do instead."""


@dataclass(frozen=True)
class Candidate:
    """One answer event as the queue takes it: already filtered and redacted (channels.review.ingest)."""

    event_id: int
    created_at: datetime
    channel: str
    signal: str
    question: str
    question_key: str
    conversation: str
    reason: str | None = None
    lang: str | None = None
    index_version: str | None = None
    rated_source_url: str | None = None
    rated_chunk_digest: str | None = None


@dataclass(frozen=True)
class Item:
    """A review item, as pages and the CSV show it."""

    id: int
    cluster_id: int | None
    channel: str
    signal: str
    question: str
    conversation: str
    first_seen: datetime
    last_seen: datetime
    count: int
    status: str
    reason: str | None
    lang: str | None
    index_version: str | None
    assigned_to: str | None
    answered_by_url: str | None
    answered_in_version: str | None
    answered_at: datetime | None
    rated_source_url: str | None = None
    rated_chunk_digest: str | None = None
    answer_json: str | None = None

    def answer_messages(self) -> list[dict[str, Any]]:
        """Rasa's reply that answers it now (empty until the closed loop found one)."""
        return list(json.loads(self.answer_json)) if self.answer_json else []


@dataclass(frozen=True)
class ClusterSummary:
    """One row of the queue: a cluster with its counts per channel, dates and example questions."""

    id: int
    status: str
    assigned_to: str | None
    count: int
    items: int
    first_seen: datetime
    last_seen: datetime
    per_channel: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Note:
    """A note on a cluster: a reviewer's, or the queue's own (author `assistant`)."""

    id: int
    cluster_id: int
    created_at: datetime
    author: str
    text: str


@dataclass(frozen=True)
class Notification:
    """One customer to tell about one item."""

    id: int
    item_id: int
    channel: str
    conversation: str
    contact: str | None
    reply_from: str | None
    thread: dict[str, str]
    state: str
    attempts: int


@dataclass(frozen=True)
class QueueFilter:
    """What the queue page shows: `status` is the cluster's (or "open": new and needs_content); the others
    narrow the items counted."""

    status: str | None = None
    channel: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    sort: str = "count"  # count (most asked first) or latest


def _utc(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _maybe_utc(value: datetime | None) -> datetime | None:
    return _utc(value) if value is not None else None


CHAIN = MigrationChain("review", MIGRATIONS, VERSION_TABLE)


def head_revision() -> str | None:
    """The newest migration's revision id."""
    return CHAIN.head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    return CHAIN.current(engine)


def upgrade_database(database_url: str) -> None:
    """Run this package's migrations up to head (channels/migrate.py: one at a time, safe when hosts race)."""
    CHAIN.upgrade(database_url)


def _item(row: RowMapping) -> Item:
    return Item(
        id=row["id"],
        cluster_id=row["cluster_id"],
        channel=row["channel"],
        signal=row["signal"],
        question=row["question"],
        conversation=row["conversation"],
        first_seen=_utc(row["first_seen"]),
        last_seen=_utc(row["last_seen"]),
        count=row["count"],
        status=row["status"],
        reason=row["reason"],
        lang=row["lang"],
        index_version=row["index_version"],
        assigned_to=row["assigned_to"],
        answered_by_url=row["answered_by_url"],
        answered_in_version=row["answered_in_version"],
        answered_at=_maybe_utc(row["answered_at"]),
        rated_source_url=row["rated_source_url"],
        rated_chunk_digest=row["rated_chunk_digest"],
        answer_json=row["answer_json"],
    )


def _notification(row: RowMapping) -> Notification:
    return Notification(
        id=row["id"],
        item_id=row["item_id"],
        channel=row["channel"],
        conversation=row["conversation"],
        contact=row["contact"],
        reply_from=row["reply_from"],
        thread=dict(json.loads(row["thread"])) if row["thread"] else {},
        state=row["state"],
        attempts=row["attempts"],
    )


def _status_is(column: sa.ColumnElement[str], status: str) -> sa.ColumnElement[bool]:
    """`status` is one of STATUSES, or "open" for new and needs_content together."""
    return column.in_(OPEN) if status == "open" else column == status


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % and _ taken literally (escape character \\)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ReviewStore:
    """Review items, their clusters and notes, and the customers waiting to be told."""

    def __init__(self, database_url: str, migrate: bool = True) -> None:
        if migrate:
            upgrade_database(database_url)
        self.engine = get_engine(database_url)

    # --- ingestion -------------------------------------------------------------------------------------

    def bookmark(self) -> tuple[int, str]:
        """The last answer_events id taken into the queue (0 before any), and that event's time (ISO 8601)."""
        with self.engine.connect() as conn:
            rows = dict(conn.execute(sa.select(review_state.c.key, review_state.c.value)).tuples().all())
        return int(rows.get("last_event_id") or 0), rows.get("last_event_at", "")

    def ingest(self, after_id: int, last_id: int, candidates: Sequence[Candidate], last_at: str = "") -> int | None:
        """Take the events read after `after_id` up to `last_id` (written at `last_at`) into the queue, in one
        transaction.

        The bookmark moves from `after_id` to `last_id` first: if another ingester moved it meanwhile, nothing
        is written and None comes back (they took these events). Otherwise, how many items were new.
        """
        now = datetime.now(UTC)
        state = review_state.c
        with self.engine.begin() as conn:
            moved = conn.execute(
                review_state.update()
                .where(state.key == "last_event_id", state.value == str(after_id))
                .values(value=str(last_id))
            ).rowcount
            if moved != 1:
                return None
            conn.execute(review_state.delete().where(state.key == "last_event_at"))
            conn.execute(review_state.insert().values(key="last_event_at", value=last_at))
            created = 0
            for candidate in candidates:
                created += self._take(conn, candidate, now)
        return created

    def _take(self, conn: Connection, candidate: Candidate, now: datetime) -> int:
        """One event into its item (made if new); 1 when a new item was made."""
        items = review_items.c
        row = (
            conn.execute(
                sa.select(review_items).where(
                    items.channel == candidate.channel,
                    items.signal == candidate.signal,
                    items.question_key == candidate.question_key,
                )
            )
            .mappings()
            .first()
        )
        made = 0
        latest = {
            "reason": candidate.reason,
            "lang": candidate.lang,
            "index_version": candidate.index_version,
            "conversation": candidate.conversation,
        }
        if row is None:
            item_id = conn.execute(
                review_items.insert().values(
                    channel=candidate.channel,
                    signal=candidate.signal,
                    question_key=candidate.question_key,
                    question=candidate.question,
                    first_seen=candidate.created_at,
                    last_seen=candidate.created_at,
                    count=1,
                    status="new",
                    rated_source_url=candidate.rated_source_url,
                    rated_chunk_digest=candidate.rated_chunk_digest,
                    **latest,
                )
            ).inserted_primary_key[0]
            made = 1
        else:
            item_id = row["id"]
            values: dict[str, Any] = {"count": items.count + 1}
            if candidate.created_at >= _utc(row["last_seen"]):
                values |= {"last_seen": candidate.created_at, **latest}
                if candidate.rated_chunk_digest:
                    values |= {
                        "rated_source_url": candidate.rated_source_url,
                        "rated_chunk_digest": candidate.rated_chunk_digest,
                    }
            conn.execute(review_items.update().where(items.id == item_id).values(**values))
            if row["status"] in RESOLVED:  # asked again and still not answered: it needs looking at again
                self._reopen_item(conn, row, now)
        conn.execute(
            review_occurrences.insert().values(
                event_id=candidate.event_id,
                item_id=item_id,
                channel=candidate.channel,
                conversation=candidate.conversation,
                created_at=candidate.created_at,
                reason=candidate.reason,
                index_version=candidate.index_version,
            )
        )
        return made

    def _reopen_item(self, conn: Connection, item: RowMapping, now: datetime) -> None:
        """An answered or closed item asked again without an answer goes back to its cluster's open status."""
        cluster = None
        if item["cluster_id"] is not None:
            cluster = (
                conn.execute(sa.select(review_clusters).where(review_clusters.c.id == item["cluster_id"]))
                .mappings()
                .first()
            )
        status = self._reopen_cluster(conn, cluster, now) if cluster is not None else "new"
        conn.execute(
            review_items.update()
            .where(review_items.c.id == item["id"])
            .values(status=status, assigned_to=cluster["assigned_to"] if cluster is not None else None)
        )

    def _reopen_cluster(self, conn: Connection, cluster: RowMapping, now: datetime) -> str:
        """The status an item joining `cluster` gets; a resolved cluster is opened again, with a note."""
        if cluster["status"] not in RESOLVED:
            return str(cluster["status"])
        status = "needs_content" if cluster["assigned_to"] else "new"
        conn.execute(
            review_clusters.update().where(review_clusters.c.id == cluster["id"]).values(status=status, updated_at=now)
        )
        conn.execute(
            review_notes.insert().values(
                cluster_id=cluster["id"],
                created_at=now,
                author=SYSTEM,
                text=f"Opened again ({status}): a customer asked this after it was {cluster['status']}, "
                "and the assistant still could not answer.",
            )
        )
        return status

    # --- clustering -------------------------------------------------------------------------------------

    def unclustered(self, limit: int = 64) -> list[Item]:
        """Items not in a cluster yet, oldest first."""
        query = (
            sa.select(review_items).where(review_items.c.cluster_id.is_(None)).order_by(review_items.c.id).limit(limit)
        )
        with self.engine.connect() as conn:
            return [_item(row) for row in conn.execute(query).mappings()]

    def place_items(
        self, vectors: Mapping[int, np.ndarray], model: str, threshold: float = THRESHOLD
    ) -> dict[int, int]:
        """Put each item (by id, with its unit vector) into the nearest cluster, or a new one; item → cluster.

        One transaction, centroids read inside it, so two placers cannot both start a cluster for one question.
        """
        now = datetime.now(UTC)
        placed: dict[int, int] = {}
        clusters = review_clusters.c
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(clusters.id, clusters.centroid, clusters.size).where(
                    clusters.centroid.is_not(None), sa.or_(clusters.model == model, clusters.model.is_(None))
                )
            ).all()
            centroids = {r.id: Centroid(r.id, from_bytes(r.centroid), r.size) for r in rows}
            for item_id, vector in vectors.items():
                still = conn.execute(
                    sa.select(review_items).where(review_items.c.id == item_id, review_items.c.cluster_id.is_(None))
                ).mappings()
                item = still.first()
                if item is None:
                    continue  # placed by someone else meanwhile
                found = nearest(vector, list(centroids.values()), threshold)
                if found is None:
                    cluster_id = int(
                        conn.execute(
                            review_clusters.insert().values(
                                created_at=now, updated_at=now, status="new", size=0, model=model
                            )
                        ).inserted_primary_key[0]
                    )
                    found = Centroid(cluster_id, np.zeros_like(vector), 0)
                moved = found.add(vector)
                centroids[moved.cluster_id] = moved
                conn.execute(
                    review_clusters.update()
                    .where(clusters.id == moved.cluster_id)
                    .values(centroid=to_bytes(moved.mean), size=moved.size, updated_at=now)
                )
                cluster = conn.execute(sa.select(review_clusters).where(clusters.id == moved.cluster_id)).mappings()
                cluster_row = cluster.one()
                status = self._reopen_cluster(conn, cluster_row, now)
                conn.execute(
                    review_items.update()
                    .where(review_items.c.id == item_id)
                    .values(cluster_id=moved.cluster_id, status=status, assigned_to=cluster_row["assigned_to"])
                )
                placed[item_id] = moved.cluster_id
        return placed

    # --- reading the queue ------------------------------------------------------------------------------

    def _item_filters(self, queue: QueueFilter) -> list[sa.ColumnElement[bool]]:
        items = review_items.c
        where: list[sa.ColumnElement[bool]] = []
        if queue.channel:
            where.append(items.channel == queue.channel)
        if queue.reason:
            where.append(
                items.reason == queue.reason if queue.reason != "not_helpful" else items.signal == "not_helpful"
            )
        if queue.since is not None:
            where.append(items.last_seen >= queue.since)
        if queue.until is not None:
            where.append(items.first_seen < queue.until)
        if queue.search:
            where.append(items.question.ilike(_like(queue.search.strip()), escape="\\"))
        return where

    def clusters(
        self, queue: QueueFilter | None = None, limit: int = 50, offset: int = 0, only: int | None = None
    ) -> list[ClusterSummary]:
        """The queue's rows, most asked (or most recent) first, counting only the items the filter keeps
        (`only`: just that cluster)."""
        queue = queue or QueueFilter()
        items, clusters = review_items.c, review_clusters.c
        where = [items.cluster_id.is_not(None), *self._item_filters(queue)]
        if only is not None:
            where.append(items.cluster_id == only)
        if queue.status:
            where.append(_status_is(clusters.status, queue.status))
        total = sa.func.sum(items.count).label("total")
        last = sa.func.max(items.last_seen).label("last")
        query = (
            sa.select(
                items.cluster_id,
                total,
                sa.func.count(items.id).label("n_items"),
                sa.func.min(items.first_seen).label("first"),
                last,
            )
            .select_from(review_items.join(review_clusters, clusters.id == items.cluster_id))
            .where(*where)
            .group_by(items.cluster_id)
            .order_by(*(last.desc(), total.desc()) if queue.sort == "latest" else (total.desc(), last.desc()))
            .order_by(items.cluster_id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            ids = [r.cluster_id for r in rows]
            if not ids:
                return []
            heads = {
                r.id: r
                for r in conn.execute(
                    sa.select(clusters.id, clusters.status, clusters.assigned_to).where(clusters.id.in_(ids))
                )
            }
            members = conn.execute(
                sa.select(
                    items.cluster_id,
                    items.channel,
                    items.count.label("times"),
                    items.question,
                    items.reason,
                    items.signal,
                )
                .where(items.cluster_id.in_(ids), *self._item_filters(queue))
                .order_by(items.count.desc(), items.id)
            ).all()
        per_channel: dict[int, dict[str, int]] = {i: {} for i in ids}
        examples: dict[int, list[str]] = {i: [] for i in ids}
        reasons: dict[int, list[str]] = {i: [] for i in ids}
        for m in members:
            per_channel[m.cluster_id][m.channel] = per_channel[m.cluster_id].get(m.channel, 0) + m.times
            if len(examples[m.cluster_id]) < 3 and m.question not in examples[m.cluster_id]:
                examples[m.cluster_id].append(m.question)
            why = "not_helpful" if m.signal == "not_helpful" else (m.reason or m.signal)
            if why not in reasons[m.cluster_id]:
                reasons[m.cluster_id].append(why)
        return [
            ClusterSummary(
                id=r.cluster_id,
                status=heads[r.cluster_id].status,
                assigned_to=heads[r.cluster_id].assigned_to,
                count=int(r.total),
                items=int(r.n_items),
                first_seen=_utc(r.first),
                last_seen=_utc(r.last),
                per_channel=per_channel[r.cluster_id],
                examples=examples[r.cluster_id],
                reasons=reasons[r.cluster_id],
            )
            for r in rows
        ]

    def count_clusters(self, queue: QueueFilter | None = None) -> int:
        """How many clusters the filter keeps (for paging)."""
        queue = queue or QueueFilter()
        items, clusters = review_items.c, review_clusters.c
        where = [items.cluster_id.is_not(None), *self._item_filters(queue)]
        if queue.status:
            where.append(_status_is(clusters.status, queue.status))
        query = (
            sa.select(sa.func.count(sa.distinct(items.cluster_id)))
            .select_from(review_items.join(review_clusters, clusters.id == items.cluster_id))
            .where(*where)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def count_open_items(self) -> int:
        """Review items still open (new or needs_content), for /metrics."""
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(review_items).where(review_items.c.status.in_(OPEN))
            return int(conn.execute(query).scalar() or 0)

    def count_unclustered(self) -> int:
        """Items still waiting to be placed in a cluster."""
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(review_items).where(review_items.c.cluster_id.is_(None))
            return int(conn.execute(query).scalar() or 0)

    def cluster(self, cluster_id: int) -> ClusterSummary | None:
        """One cluster's summary over all its items."""
        with self.engine.connect() as conn:
            head = conn.execute(sa.select(review_clusters).where(review_clusters.c.id == cluster_id)).mappings().first()
        if head is None:
            return None
        found = self.clusters(QueueFilter(), limit=1, only=cluster_id)
        if found:
            return found[0]
        now = _utc(head["created_at"])
        return ClusterSummary(cluster_id, head["status"], head["assigned_to"], 0, 0, now, now)

    def items(self, cluster_id: int | None = None, queue: QueueFilter | None = None) -> list[Item]:
        """Items, most recently asked first: one cluster's, or every one the filter keeps."""
        query = sa.select(review_items).order_by(review_items.c.last_seen.desc(), review_items.c.id.desc())
        if cluster_id is not None:
            query = query.where(review_items.c.cluster_id == cluster_id)
        if queue is not None:
            query = query.where(*self._item_filters(queue))
            if queue.status:
                query = query.where(_status_is(review_items.c.status, queue.status))
        with self.engine.connect() as conn:
            return [_item(row) for row in conn.execute(query).mappings()]

    def item(self, item_id: int) -> Item | None:
        """One item, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(review_items).where(review_items.c.id == item_id)).mappings().first()
        return _item(row) if row is not None else None

    def conversations(self, item_id: int) -> list[dict[str, Any]]:
        """Where an item was asked: each conversation (hash) with its channel, first and last time, how often."""
        occ = review_occurrences.c
        query = (
            sa.select(
                occ.conversation,
                occ.channel,
                sa.func.min(occ.created_at).label("first"),
                sa.func.max(occ.created_at).label("last"),
                sa.func.count().label("times"),
            )
            .where(occ.item_id == item_id)
            .group_by(occ.conversation, occ.channel)
            .order_by(sa.func.max(occ.created_at).desc())
        )
        with self.engine.connect() as conn:
            return [
                {
                    "conversation": r.conversation,
                    "channel": r.channel,
                    "first": _utc(r.first),
                    "last": _utc(r.last),
                    "times": r.times,
                }
                for r in conn.execute(query)
            ]

    def knows_conversation(self, conversation: str) -> bool:
        """True when some item was asked in this conversation (the transcript page shows only those)."""
        query = sa.select(review_occurrences.c.id).where(review_occurrences.c.conversation == conversation)
        with self.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def notes(self, cluster_id: int) -> list[Note]:
        """A cluster's notes, oldest first."""
        query = sa.select(review_notes).where(review_notes.c.cluster_id == cluster_id).order_by(review_notes.c.id)
        with self.engine.connect() as conn:
            return [
                Note(r["id"], r["cluster_id"], _utc(r["created_at"]), r["author"], r["text"])
                for r in conn.execute(query).mappings()
            ]

    # --- staff actions ----------------------------------------------------------------------------------

    def add_note(self, cluster_id: int, author: str, text: str) -> Note:
        """Add a note to a cluster. Raises ReviewError for an empty note or an unknown cluster."""
        text = text.strip()
        if not text:
            raise ReviewError("the note is empty; write what you found or decided")
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            self._cluster_row(conn, cluster_id)
            note_id = conn.execute(
                review_notes.insert().values(cluster_id=cluster_id, created_at=now, author=author[:254], text=text)
            ).inserted_primary_key[0]
        return Note(int(note_id), cluster_id, now, author, text)

    def _cluster_row(self, conn: Connection, cluster_id: int) -> RowMapping:
        row = conn.execute(sa.select(review_clusters).where(review_clusters.c.id == cluster_id)).mappings().first()
        if row is None:
            raise ReviewError(f"there is no cluster {cluster_id}; go back to the review queue and pick one")
        return row

    def set_status(self, cluster_id: int, status: str, author: str) -> tuple[str, str]:
        """Move a cluster (and its items) to `status`; (old, new). Raises ReviewError for a move TRANSITIONS
        does not allow, or needs_content without an assignee (use `assign`)."""
        if status not in STATUSES:
            raise ReviewError(f"unknown status {status!r}; pick one of {', '.join(STATUSES)}")
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            row = self._cluster_row(conn, cluster_id)
            old = str(row["status"])
            if status == old:
                return old, status
            if status not in TRANSITIONS[old]:
                allowed = ", ".join(TRANSITIONS[old])
                raise ReviewError(f"a cluster that is {old} can move to {allowed}, not to {status}")
            if status == "needs_content" and not row["assigned_to"]:
                raise ReviewError("assign it to an editor or a page first: needs_content says who will write it")
            self._move(conn, cluster_id, old, status, row["assigned_to"] if status != "new" else None, now)
            conn.execute(
                review_notes.insert().values(
                    cluster_id=cluster_id, created_at=now, author=author[:254], text=f"Status: {old} → {status}."
                )
            )
        return old, status

    def _move(
        self, conn: Connection, cluster_id: int, old: str, status: str, assigned_to: str | None, now: datetime
    ) -> None:
        """The cluster to `status`, and its items: every item for closed and wont_fix; only the open ones (and
        the wont_fix ones, when it opens again) for new and needs_content, since answered items stay answered."""
        conn.execute(
            review_clusters.update()
            .where(review_clusters.c.id == cluster_id)
            .values(status=status, assigned_to=assigned_to, updated_at=now)
        )
        items = review_items.c
        if status in ("closed", "wont_fix"):
            follow = items.status.not_in(("closed", "wont_fix"))
        else:
            follow = items.status.in_((*OPEN, "wont_fix", "closed") if old in ("wont_fix", "closed") else OPEN)
        conn.execute(
            review_items.update()
            .where(items.cluster_id == cluster_id, follow)
            .values(status=status, assigned_to=assigned_to)
        )

    def assign(self, cluster_id: int, assignee: str, author: str) -> tuple[str, str]:
        """Assign a cluster to an editor (email) or a page (URL): it needs content. (old status, new status).

        A closed or wont_fix cluster is opened first (set its status to new)."""
        assignee = assignee.strip()
        if not assignee:
            raise ReviewError("say who or what will answer it: an editor's email, or the URL of a page")
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            row = self._cluster_row(conn, cluster_id)
            old = str(row["status"])
            if old in ("closed", "wont_fix"):
                raise ReviewError(f"this cluster is {old}; set its status to new before assigning it")
            self._move(conn, cluster_id, old, "needs_content", assignee, now)
            conn.execute(
                review_notes.insert().values(
                    cluster_id=cluster_id,
                    created_at=now,
                    author=author[:254],
                    text=f"Assigned to {assignee}" + (f" (was {old})." if old != "needs_content" else "."),
                )
            )
        return old, "needs_content"

    # --- the closed loop --------------------------------------------------------------------------------

    def items_to_reask(self, version: str, limit: int = 200) -> list[Item]:
        """Open items to ask again at index `version`: not asked at it yet, and last unanswered at another one.
        Requests for a person are not asked again (no page answers them)."""
        items = review_items.c
        query = (
            sa.select(review_items)
            .where(
                items.status.in_(OPEN),
                items.signal != "handoff",
                sa.or_(items.reasked_version.is_(None), items.reasked_version != version),
                sa.or_(items.index_version.is_(None), items.index_version != version),
            )
            .order_by(items.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_item(row) for row in conn.execute(query).mappings()]

    def mark_reasked(self, item_id: int, version: str) -> None:
        """The item was asked again at `version` and is still not answered."""
        with self.engine.begin() as conn:
            conn.execute(review_items.update().where(review_items.c.id == item_id).values(reasked_version=version))

    def mark_answered(self, item_id: int, url: str, version: str, messages: list[dict[str, Any]]) -> bool:
        """The item is answered now, by `url` in index `version`: answered_by_update, a note on its cluster,
        and its customers become due to be told. False when it was no longer open (nothing changed)."""
        now = datetime.now(UTC)
        items = review_items.c
        with self.engine.begin() as conn:
            moved = conn.execute(
                review_items.update()
                .where(items.id == item_id, items.status.in_(OPEN))
                .values(
                    status="answered_by_update",
                    reasked_version=version,
                    answered_by_url=url,
                    answered_in_version=version,
                    answered_at=now,
                    answer_json=json.dumps(messages),
                )
            ).rowcount
            if moved != 1:
                return False
            item = conn.execute(sa.select(review_items).where(items.id == item_id)).mappings().one()
            self._make_due(conn, item_id, now)
            if item["cluster_id"] is not None:
                self._settle_cluster(conn, item["cluster_id"], item, url, version, now)
        return True

    def _make_due(self, conn: Connection, item_id: int, now: datetime) -> None:
        """Customers waiting on the item are due to be told; web customers are told on their next visit."""
        notes = review_notifications.c
        conn.execute(
            review_notifications.update()
            .where(notes.item_id == item_id, notes.state == "waiting")
            .values(state="due", due_at=now)
        )
        occ = review_occurrences.c
        web = conn.execute(
            sa.select(occ.conversation).where(occ.item_id == item_id, occ.channel == "web").distinct()
        ).scalars()
        for conversation in list(web):
            exists = conn.execute(
                sa.select(notes.id).where(
                    notes.item_id == item_id, notes.channel == "web", notes.conversation == conversation
                )
            ).first()
            if exists is None:
                conn.execute(
                    review_notifications.insert().values(
                        item_id=item_id,
                        channel="web",
                        conversation=conversation,
                        state="due",
                        created_at=now,
                        due_at=now,
                    )
                )

    def _settle_cluster(
        self, conn: Connection, cluster_id: int, item: RowMapping, url: str, version: str, now: datetime
    ) -> None:
        """A note on the item's cluster; the cluster is answered_by_update once none of its items is open."""
        conn.execute(
            review_notes.insert().values(
                cluster_id=cluster_id,
                created_at=now,
                author=SYSTEM,
                text=f"Answered by {url} in index version {version}: “{item['question']}” ({item['channel']}).",
            )
        )
        still_open = conn.execute(
            sa.select(review_items.c.id).where(
                review_items.c.cluster_id == cluster_id,
                review_items.c.status.in_(OPEN),
                review_items.c.signal != "handoff",
            )
        ).first()
        if still_open is None:
            conn.execute(
                review_clusters.update()
                .where(review_clusters.c.id == cluster_id, review_clusters.c.status.in_(OPEN))
                .values(status="answered_by_update", updated_at=now)
            )

    # --- customers to tell ------------------------------------------------------------------------------

    def latest_item(self, conversation: str, channel: str, since: datetime, signal: str = "unanswered") -> Item | None:
        """The item last asked in `conversation` on `channel` after `since` (an SMS customer's YES opts it in)."""
        occ = review_occurrences.c
        query = (
            sa.select(review_items)
            .select_from(review_occurrences.join(review_items, review_items.c.id == occ.item_id))
            .where(occ.conversation == conversation, occ.channel == channel, occ.created_at >= since)
            .where(review_items.c.signal == signal)
            .order_by(occ.created_at.desc(), occ.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _item(row) if row is not None else None

    def opt_in(
        self,
        item_id: int,
        channel: str,
        conversation: str,
        contact: str,
        reply_from: str | None = None,
        thread: Mapping[str, str] | None = None,
    ) -> bool:
        """Keep a customer's contact to tell them once the item is answered (due at once if it already is).
        False when they were already waiting (or told) for this item."""
        if channel not in ("sms", "email"):
            raise ReviewError(f"customers opt in by sms or email, not {channel!r}")
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            item = conn.execute(sa.select(review_items.c.status).where(review_items.c.id == item_id)).first()
            if item is None:
                raise ReviewError(f"there is no review item {item_id}")
            notes = review_notifications.c
            exists = conn.execute(
                sa.select(notes.id).where(
                    notes.item_id == item_id, notes.channel == channel, notes.conversation == conversation
                )
            ).first()
            if exists is not None:
                return False
            answered = item.status == "answered_by_update"
            conn.execute(
                review_notifications.insert().values(
                    item_id=item_id,
                    channel=channel,
                    conversation=conversation,
                    contact=contact,
                    reply_from=reply_from,
                    thread=json.dumps(dict(thread)) if thread else None,
                    state="due" if answered else "waiting",
                    created_at=now,
                    due_at=now if answered else None,
                )
            )
        return True

    def due_notifications(self, channels: Sequence[str] = ("sms", "email"), limit: int = 50) -> list[Notification]:
        """Customers due to be told, oldest first."""
        notes = review_notifications.c
        query = (
            sa.select(review_notifications)
            .where(notes.state == "due", notes.channel.in_(channels), notes.due_at <= datetime.now(UTC))
            .order_by(notes.due_at, notes.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_notification(row) for row in conn.execute(query).mappings()]

    def claim_notification(self, notification_id: int) -> bool:
        """Take a due notification to send it (one atomic update); True for the one caller that took it."""
        notes = review_notifications.c
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    review_notifications.update()
                    .where(notes.id == notification_id, notes.state == "due")
                    .values(state="sending", claimed_at=datetime.now(UTC), attempts=notes.attempts + 1)
                ).rowcount
                == 1
            )

    def finish_notification(self, notification_id: int, state: str, error: str | None = None) -> None:
        """sent, dropped or failed: the contact and thread are deleted; due: kept, and tried again after a
        wait that doubles with each attempt (RETRY_FIRST, up to RETRY_MAX)."""
        values: dict[str, Any] = {"state": state, "error": error}
        now = datetime.now(UTC)
        if state in ("sent", "dropped", "failed"):
            values |= {"contact": None, "thread": None, "told_at": now if state == "sent" else None}
        elif state == "due":
            with self.engine.connect() as conn:
                attempts = conn.execute(
                    sa.select(review_notifications.c.attempts).where(review_notifications.c.id == notification_id)
                ).scalar()
            wait = min(RETRY_FIRST * 2 ** max(int(attempts or 1) - 1, 0), RETRY_MAX)
            values["due_at"] = now + timedelta(seconds=wait)
        with self.engine.begin() as conn:
            conn.execute(
                review_notifications.update().where(review_notifications.c.id == notification_id).values(**values)
            )

    def abandon_stuck(self, older_than: timedelta) -> int:
        """Notifications left `sending` by a process that stopped mid-send are not sent again (a customer told
        twice is worse than one told never): failed, contact deleted. How many."""
        notes = review_notifications.c
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    review_notifications.update()
                    .where(notes.state == "sending", notes.claimed_at < datetime.now(UTC) - older_than)
                    .values(
                        state="failed",
                        contact=None,
                        thread=None,
                        error="the gateway stopped while sending it; not sent again so nobody is told twice",
                    )
                ).rowcount
            )

    def take_web_notices(self, conversation: str) -> list[tuple[Notification, Item]]:
        """The answers due for a web conversation, marked told as they are taken (each is shown once)."""
        notes = review_notifications.c
        query = (
            sa.select(review_notifications)
            .where(notes.channel == "web", notes.conversation == conversation, notes.state == "due")
            .order_by(notes.id)
        )
        taken: list[tuple[Notification, Item]] = []
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            for row in list(conn.execute(query).mappings()):
                moved = conn.execute(
                    review_notifications.update()
                    .where(notes.id == row["id"], notes.state == "due")
                    .values(state="sent", told_at=now, attempts=notes.attempts + 1)
                ).rowcount
                item = conn.execute(sa.select(review_items).where(review_items.c.id == row["item_id"])).mappings()
                if moved == 1:
                    taken.append((_notification(row), _item(item.one())))
        return taken

    def notifications(self, item_id: int) -> list[Notification]:
        """Every customer to tell about an item, and how it went (contacts are never shown on pages)."""
        query = sa.select(review_notifications).where(review_notifications.c.item_id == item_id)
        with self.engine.connect() as conn:
            return [_notification(row) for row in conn.execute(query.order_by(review_notifications.c.id)).mappings()]

    # --- the dashboard (channels/editor) ----------------------------------------------------------------

    def cluster_timeline(self, since: datetime) -> list[dict[str, Any]]:
        """Clusters made at or after `since`, or resolved (closed, answered_by_update) and last updated since then:
        `{"id", "status", "created_at", "updated_at"}`, oldest first. The dashboard counts gaps opened and closed."""
        clusters = review_clusters.c
        query = (
            sa.select(clusters.id, clusters.status, clusters.created_at, clusters.updated_at)
            .where(
                sa.or_(
                    clusters.created_at >= since, sa.and_(clusters.status.in_(RESOLVED), clusters.updated_at >= since)
                )
            )
            .order_by(clusters.created_at, clusters.id)
        )
        with self.engine.connect() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        return [{**row, "created_at": _utc(row["created_at"]), "updated_at": _utc(row["updated_at"])} for row in rows]

    # --- retention -----------------------------------------------------------------------------------------

    def purge_older_than(self, days: int, now: datetime | None = None) -> dict[str, int]:
        """RETENTION_DAYS for the queue: where and by whom each question was asked (occurrences, and the items'
        last conversation) goes after `days` days, and so do customers' contacts still waiting to be told and
        finished notices. The redacted questions, their counts, clusters and notes stay. How many rows changed.
        """
        if days < 1:
            raise ValueError(f"days must be at least 1, not {days}: it is how long rows are kept")
        cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
        notes, items = review_notifications.c, review_items.c
        with self.engine.begin() as conn:
            counts = {
                "occurrences": conn.execute(
                    review_occurrences.delete().where(review_occurrences.c.created_at < cutoff)
                ).rowcount,
                "waiting": conn.execute(
                    review_notifications.update()
                    .where(notes.state.in_(("waiting", "due")), notes.created_at < cutoff)
                    .values(state="failed", contact=None, thread=None, error=f"not answered within {days} days")
                ).rowcount,
                "notices": conn.execute(
                    review_notifications.delete().where(
                        notes.state.in_(("sent", "dropped", "failed")), notes.created_at < cutoff
                    )
                ).rowcount,
                "items": conn.execute(
                    review_items.update()
                    .where(items.last_seen < cutoff, items.conversation != "")
                    .values(conversation="")
                ).rowcount,
            }
        if any(counts.values()):
            log.info("retention: review rows older than %d days: %s", days, counts)
        return {name: int(n) for name, n in counts.items()}
