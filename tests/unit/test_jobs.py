"""The sync job queue on a real SQLite file: coalescing, claiming, and recovery after a dead worker."""

from __future__ import annotations

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
