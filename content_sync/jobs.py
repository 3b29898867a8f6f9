"""The sync job queue: the only content_sync code that touches the database.

The gateway queues jobs (publish webhook, editors); the worker process claims and runs them one at a time.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

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


def _now() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=4)
def get_engine(url: str) -> Engine:
    """One engine per database URL; SQLite files get their folder and WAL mode."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    return engine


class JobStore:
    """Queue, claim and finish sync jobs."""

    def __init__(self, database_url: str) -> None:
        self.engine = get_engine(database_url)
        metadata.create_all(self.engine)

    def enqueue(self, urls: list[str] | None = None, full: bool = False, requested_by: str = "api") -> str:
        """Queue a job, or join a queued one of the same kind (jobs coalesce while they wait)."""
        with self.engine.begin() as conn:
            queued = (
                conn.execute(sa.select(sync_jobs).where(sync_jobs.c.status == "queued", sync_jobs.c.full == full))
                .mappings()
                .all()
            )
            for job in queued:
                waiting = json.loads(job["urls"]) if job["urls"] else None
                if waiting is None:
                    return str(job["id"])  # a queued job of every source covers any targeted one of its kind
                if waiting is not None and urls is not None:
                    merged = sorted(set(waiting) | set(urls))
                    conn.execute(sync_jobs.update().where(sync_jobs.c.id == job["id"]).values(urls=json.dumps(merged)))
                    return str(job["id"])
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
        """Take the oldest queued job and mark it running."""
        with self.engine.begin() as conn:
            row = (
                conn.execute(
                    sa.select(sync_jobs).where(sync_jobs.c.status == "queued").order_by(sync_jobs.c.created_at).limit(1)
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            taken = conn.execute(
                sync_jobs.update()
                .where(sync_jobs.c.id == row["id"], sync_jobs.c.status == "queued")
                .values(status="running", started_at=_now())
            )
            return _public(row) | {"status": "running"} if taken.rowcount else None

    def finish(self, job_id: str, version: str | None, report: dict[str, Any] | None, error: str | None) -> None:
        """Record how a job ended."""
        with self.engine.begin() as conn:
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

    def fail_interrupted(self) -> int:
        """Jobs left running by a worker that died are marked failed; the next sync recovers."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sync_jobs.update()
                .where(sync_jobs.c.status == "running")
                .values(status="failed", finished_at=_now(), error="the worker stopped while this job ran; sync again")
            )
            return int(result.rowcount)


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
