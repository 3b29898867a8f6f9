"""The sync job queue on a real SQLite file: coalescing, claiming, recovery after a dead worker, a merge racing a claim.

The burst of concurrent webhooks, on SQLite and PostgreSQL, is tests/integration/test_job_queue_concurrency.py.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from content_sync.jobs import JobStore


def store(tmp_path: Path) -> JobStore:
    return JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")


def test_waiting_jobs_coalesce(tmp_path: Path) -> None:
    jobs = store(tmp_path)
    first = jobs.enqueue(urls=["http://a.example/1"])
    assert jobs.enqueue(urls=["http://a.example/2"]) == first
    assert jobs.get(first)["urls"] == ["http://a.example/1", "http://a.example/2"]  # type: ignore[index]
    everything = jobs.enqueue()
    assert everything != first and jobs.enqueue() == everything
    full = jobs.enqueue(full=True)
    assert full not in (first, everything)


def test_claim_runs_oldest_first_and_finish_records_the_result(tmp_path: Path) -> None:
    jobs = store(tmp_path)
    first, second = jobs.enqueue(urls=["http://a.example/1"]), jobs.enqueue(full=True)
    claimed = jobs.claim()
    assert claimed is not None and claimed["job_id"] == first and claimed["status"] == "running"
    jobs.finish(first, "v2", {"added": ["x"]}, None)
    assert jobs.get(first)["status"] == "succeeded"  # type: ignore[index]
    assert jobs.get(first)["report"] == {"added": ["x"]}  # type: ignore[index]
    assert jobs.claim()["job_id"] == second  # type: ignore[index]
    assert jobs.claim() is None


def test_a_job_left_running_by_a_dead_worker_is_failed_with_a_reason(tmp_path: Path) -> None:
    jobs = store(tmp_path)
    job = jobs.enqueue()
    jobs.claim()
    assert store(tmp_path).fail_interrupted() == 1  # a new worker starting on the same database
    after = jobs.get(job)
    assert after is not None and after["status"] == "failed" and "sync again" in after["error"]


def test_a_webhook_waiting_on_a_claim_queues_a_new_job_instead_of_joining_the_claimed_one(tmp_path: Path) -> None:
    jobs = store(tmp_path)
    first = jobs.enqueue(urls=["http://a.example/1"])
    worker = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    worker.execute("BEGIN IMMEDIATE")  # a claim in progress: it has read the queued job and holds the write lock
    returned: list[str] = []
    webhook = threading.Thread(target=lambda: returned.append(jobs.enqueue(urls=["http://a.example/2"])))
    webhook.start()
    time.sleep(0.3)  # the webhook's enqueue is under way, waiting for the lock
    worker.execute("UPDATE sync_jobs SET status = 'running' WHERE id = ?", (first,))
    worker.execute("COMMIT")
    webhook.join(10)
    worker.close()
    assert returned and returned[0] != first
    assert jobs.get(first)["urls"] == ["http://a.example/1"]  # type: ignore[index]
    assert jobs.get(returned[0])["urls"] == ["http://a.example/2"]  # type: ignore[index]
    assert jobs.get(returned[0])["status"] == "queued"  # type: ignore[index]


def test_claim_returns_the_merged_urls_and_a_later_webhook_starts_a_new_job(tmp_path: Path) -> None:
    jobs = store(tmp_path)
    first = jobs.enqueue(urls=["http://a.example/2"])
    jobs.enqueue(urls=["http://a.example/1", "http://a.example/2"])
    claimed = jobs.claim()
    assert claimed is not None and claimed["urls"] == ["http://a.example/1", "http://a.example/2"]
    second = jobs.enqueue(urls=["http://a.example/3"])
    assert second != first and jobs.get(first)["urls"] == claimed["urls"]  # type: ignore[index]
    assert jobs.claim()["urls"] == ["http://a.example/3"]  # type: ignore[index]


def test_a_webhook_never_joins_an_incremental_job_of_every_source(tmp_path: Path) -> None:
    jobs = store(tmp_path)
    everything = jobs.enqueue()
    targeted = jobs.enqueue(urls=["http://a.example/new"])
    assert targeted != everything, "the incremental job may skip pages by lastmod; the webhook's page must be fetched"
    full = jobs.enqueue(full=True)
    assert jobs.enqueue(urls=["http://a.example/x"], full=True) == full, "a full job fetches every page anyway"
