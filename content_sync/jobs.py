"""The sync job queue: the only content_sync code that touches the database.

The gateway queues jobs (publish webhook, editors); the worker process claims and runs them one at a time.

Queued jobs of the same kind coalesce: `enqueue` returns the id of a queued job that covers its URLs (the
same request for every source, a full one, or a targeted one its URLs are merged into), or queues a new one.
A webhook's URLs never join a queued incremental job of every source: that job may skip a page whose sitemap
lastmod has not moved, and a published page must always be fetched. The promise is: when `enqueue`
returns job J for URLs U, J was still queued when U joined it, so J's `urls`, as `claim()` and later `get()`
return them, hold every URL of U. Merging is a read (find a queued job, read its list) then a write (the merged
list), and claiming is a read (the oldest queued job) then a write (mark it running); each pair must happen
with nothing in between, or a webhook's URLs join a job the worker has already taken (reported as succeeded,
never synced), or two merges overwrite each other. So every write runs in one transaction that holds a lock
on what it read, from the read until the commit:

- SQLite: write transactions start with `BEGIN IMMEDIATE` (a `begin` event on this store's own view of the
  engine), so they take the database's write lock before they read, and run one at a time. Python's sqlite3
  would otherwise start the transaction only at the first INSERT/UPDATE, after the read, and two writers
  could both read the same list. Reads (`get`, `latest`) take no lock (WAL lets them read beside a writer).
- PostgreSQL: `enqueue` reads the queued jobs of its kind `FOR UPDATE` (oldest first, so merges lock in one
  order and cannot deadlock), and `claim` reads the oldest queued job `FOR UPDATE`, so a merge and a claim of
  the same job wait for each other. A merge that waited for a claim re-reads the row when the claim commits
  (READ COMMITTED), sees it running, and moves on; a claim that waited for a merge gets the merged URLs. The
  claim waits rather than `SKIP LOCKED`: there is one worker, merges take milliseconds, and skipping would
  leave the oldest job waiting for as long as a burst of webhooks keeps joining it.
- Both: the writes are conditional (`UPDATE ... WHERE status = 'queued'`) and their row counts checked. A
  merge whose job was claimed meanwhile tries the next queued job or queues a new one; a claim that lost its
  job returns None and the worker polls again. With the locks above this does not happen; it is the
  belt to their braces.

Several workers (the scale-out profile, docs/adr/0020-scale-out-profile.md) share the queue on PostgreSQL:
- a worker holds a session-level advisory lock on each job it runs (`job_lock_key`), taken inside the claim's
  transaction and released by `release` (or by PostgreSQL when the worker's connection dies), so that
  `fail_interrupted` at another worker's start fails only jobs whose worker is gone;
- `SchedulerLease` elects the one worker whose schedule queues jobs, with another advisory lock.
On SQLite (one machine, one worker) a running job is always its one worker's, and that worker is the scheduler.

The URL list stays a JSON column of `sync_jobs` rather than moving to a child table of (job_id, url) rows:
with merges serialised by the lock, rewriting the list is safe, lists are short (one webhook's pages), and
databases made by earlier versions (`metadata.create_all` of this same table) keep working with no migration.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()

sync_jobs = sa.Table(
    "sync_jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # queued | running | succeeded | failed
    sa.Column("full", sa.Boolean, nullable=False, default=False),
    sa.Column("urls", sa.Text, nullable=True),  # JSON list, or NULL for every source
    sa.Column("requested_by", sa.String(64), nullable=False, default="api"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("index_version", sa.String(64), nullable=True),
    sa.Column("report", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)


SCHEDULER_LOCK_KEY = -0x5C4ED01E
"""The advisory lock the scheduling worker holds (negative: never a job's key, which `job_lock_key` keeps >= 0)."""


SCHEMA_LOCK_KEY = -0x5C4ED01F
"""Held while this store creates its table on PostgreSQL, where two CREATE TABLEs at once fail."""


def job_lock_key(job_id: str) -> int:
    """The advisory lock a running job's worker holds: 60 bits of its hex id, a non-negative bigint."""
    return int(job_id[:15], 16)


def _now() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=4)
def get_engine(url: str) -> Engine:
    """One engine per database URL; SQLite files get their folder, WAL mode and synchronous=NORMAL."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            # commits wait for no fsync: a killed process loses nothing committed, a power loss can roll back
            # the last few (docs/adr/0018-inbound-journal.md, "SQLite durability")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    return engine


def _begin_immediate(conn: Connection) -> None:
    """Start a SQLite transaction holding the write lock (waiting up to the connection's busy timeout)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class JobStore:
    """Queue, claim and finish sync jobs."""

    def __init__(self, database_url: str) -> None:
        self.engine = get_engine(database_url)
        # The same pool, but its transactions lock up front on SQLite; other users of the engine are unaffected.
        self._writer = self.engine.execution_options()
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self._writer, "begin", _begin_immediate)
        self._postgres = self.engine.dialect.name == "postgresql"
        with self.engine.begin() as conn:
            if self._postgres:  # workers and gateways starting at once: one CREATE TABLE at a time
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
            metadata.create_all(conn)
        self._running: dict[str, Connection] = {}  # PostgreSQL: the connection holding each claimed job's lock

    def enqueue(self, urls: list[str] | None = None, full: bool = False, requested_by: str = "api") -> str:
        """Queue a job, or join a queued one of the same kind (jobs coalesce while they wait)."""
        with self._writer.begin() as conn:
            queued = conn.execute(
                sa.select(sync_jobs.c.id, sync_jobs.c.urls)
                .where(sync_jobs.c.status == "queued", sync_jobs.c.full == full)
                .order_by(sync_jobs.c.created_at, sync_jobs.c.id)
                .with_for_update()  # held until commit: no claim or other merge in between (nothing on SQLite)
            ).all()
            for job_id, waiting in queued:
                if not waiting:
                    if urls is None or full:
                        return str(job_id)  # the same job, or a full one, which fetches every page anyway
                    continue  # an incremental job may skip a page by its sitemap lastmod; a webhook must not
                if urls is not None:
                    merged = sorted(set(json.loads(waiting)) | set(urls))
                    joined = conn.execute(
                        sync_jobs.update()
                        .where(sync_jobs.c.id == job_id, sync_jobs.c.status == "queued")
                        .values(urls=json.dumps(merged))
                    )
                    if joined.rowcount == 1:
                        return str(job_id)
                    # claimed since the read: the lock should make this impossible, but never join a running job
            job_id = uuid.uuid4().hex
            conn.execute(
                sync_jobs.insert().values(
                    id=job_id,
                    status="queued",
                    full=full,
                    urls=json.dumps(urls) if urls is not None else None,
                    requested_by=requested_by,
                    created_at=_now(),
                )
            )
            return job_id

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A job as the API shows it, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sync_jobs).where(sync_jobs.c.id == job_id)).mappings().first()
        return _public(row) if row else None

    def latest(self, n: int = 10) -> list[dict[str, Any]]:
        """The newest jobs first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(sync_jobs).order_by(sync_jobs.c.created_at.desc()).limit(n)).mappings()
            return [_public(r) for r in rows]

    def claim(self) -> dict[str, Any] | None:
        """Take the oldest queued job and mark it running; None when there is none.

        On PostgreSQL the claiming connection keeps the job's advisory lock after the commit, until `release`.
        """
        if not self._postgres:
            with self._writer.begin() as conn:
                return self._claim(conn)
        conn = self.engine.connect()
        try:
            with conn.begin():
                job = self._claim(conn)
        except BaseException:
            conn.invalidate()  # really closed, not pooled: a lock taken before the error goes with it
            conn.close()
            raise
        if job is None:
            conn.close()
        else:
            self._running[str(job["job_id"])] = conn
        return job

    def release(self, job_id: str) -> None:
        """Drop a claimed job's lock once its worker is done with it (after `finish`, or after it failed)."""
        conn = self._running.pop(job_id, None)
        if conn is not None:
            try:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(job_lock_key(job_id))))
                conn.commit()
            except sa.exc.DBAPIError:
                conn.invalidate()  # the session ends, and its locks with it
            conn.close()

    def _claim(self, conn: Connection) -> dict[str, Any] | None:
        job_id = conn.execute(
            sa.select(sync_jobs.c.id)
            .where(sync_jobs.c.status == "queued")
            .order_by(sync_jobs.c.created_at, sync_jobs.c.id)
            .limit(1)
            .with_for_update()  # waits out a merge into it (milliseconds), then sees its URLs
        ).scalar()
        if job_id is None:
            return None
        taken = conn.execute(
            sync_jobs.update()
            .where(sync_jobs.c.id == job_id, sync_jobs.c.status == "queued")
            .values(status="running", started_at=_now())
        )
        if taken.rowcount != 1:
            return None
        if self._postgres:  # session-level: outlives this transaction, held until `release` or disconnect
            conn.execute(sa.select(sa.func.pg_advisory_lock(job_lock_key(str(job_id)))))
        # Read back inside the transaction: these are the URLs the job runs with, and no merge can change them.
        row = conn.execute(sa.select(sync_jobs).where(sync_jobs.c.id == job_id)).mappings().one()
        return _public(row)

    def finish(self, job_id: str, version: str | None, report: dict[str, Any] | None, error: str | None) -> None:
        """Record how a job ended."""
        with self._writer.begin() as conn:
            conn.execute(
                sync_jobs.update()
                .where(sync_jobs.c.id == job_id)
                .values(
                    status="failed" if error else "succeeded",
                    finished_at=_now(),
                    index_version=version,
                    report=json.dumps(report) if report is not None else None,
                    error=error,
                )
            )
        self.release(job_id)  # when this store claimed it (the worker releases a job its child finished)

    def fail_interrupted(self) -> int:
        """Jobs left running by a worker that died are marked failed; the next sync recovers.

        On PostgreSQL a job whose advisory lock is still held belongs to a live worker and is left alone.
        """
        orphaned = sync_jobs.c.status == "running"
        with self._writer.begin() as conn:
            if self._postgres:
                running = conn.execute(sa.select(sync_jobs.c.id).where(orphaned).with_for_update()).scalars().all()
                dead = []
                for job_id in running:
                    key = job_lock_key(str(job_id))
                    if conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key))).scalar():
                        dead.append(job_id)  # nobody holds it: its worker is gone (this lock ends with the commit)
                orphaned = orphaned & sync_jobs.c.id.in_(dead)
            result = conn.execute(
                sync_jobs.update()
                .where(orphaned)
                .values(status="failed", finished_at=_now(), error="the worker stopped while this job ran; sync again")
            )
            return int(result.rowcount)

    def count_by_status(self) -> dict[str, int]:
        """How many jobs are in each status (`queued`, `running`, ...), for /metrics and `assistant status`."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(sync_jobs.c.status, sa.func.count()).group_by(sync_jobs.c.status)).all()
        return {str(status): int(n) for status, n in rows}


class SchedulerLease:
    """Which worker's schedule queues jobs: exactly one, the holder of an advisory lock on PostgreSQL.

    `held()` tries to take the lock when it is not held (a standby worker takes over within one call after
    the holder's connection closes: its process died, or it stopped), and checks the connection when it is.
    On SQLite there is one worker, and it always holds the lease. Thread-safe.
    """

    def __init__(self, jobs: JobStore) -> None:
        self.engine = jobs.engine
        self._postgres = jobs.engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def held(self) -> bool:
        """True when this process is the scheduler now (taking the lease if it is free)."""
        if not self._postgres:
            return True
        with self._lock:
            try:
                if self._conn is not None:
                    self._conn.execute(sa.select(1))  # still connected, so still holding it
                    self._conn.commit()
                    return True
                conn = self.engine.connect()
                got = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(SCHEDULER_LOCK_KEY))).scalar())
                conn.commit()
                if got:
                    self._conn = conn
                else:
                    conn.close()
                return got
            except sa.exc.DBAPIError:
                self._drop()
                return False

    def release(self) -> None:
        """Give the lease up (a worker stopping), so a standby takes over at its next try."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # end the session (not back to the pool): PostgreSQL releases its lock
                conn.close()
            except sa.exc.DBAPIError:
                pass


def _public(row: Any) -> dict[str, Any]:
    return {
        "job_id": row["id"],
        "status": row["status"],
        "full": bool(row["full"]),
        "urls": json.loads(row["urls"]) if row["urls"] else None,
        "requested_by": row["requested_by"],
        "created_at": row["created_at"].isoformat() if row["created_at"] else None,
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
        "index_version": row["index_version"],
        "report": json.loads(row["report"]) if row["report"] else {},
        "error": row["error"],
    }
