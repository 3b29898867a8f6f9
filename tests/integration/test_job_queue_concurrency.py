"""The sync job queue under a webhook burst: 200 concurrent enqueues while a worker claims as fast as it can.

Every enqueue names one distinct URL, from threads in this process and from threads in spawned processes.
Each URL must end up in exactly the job `enqueue` returned for it, and that job must have been claimed with it
(so its report lists it) or still be waiting with it. Run on SQLite (a WAL file) and on PostgreSQL (a fresh
database on the local server, made for the test and dropped after; skipped when there is no server).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import pytest

from content_sync.jobs import JobStore
from tests.integration.conftest import fresh_postgres_database

THREAD_URLS = 100  # enqueued by threads in this process
PROCESSES, URLS_PER_PROCESS = 2, 50  # enqueued by threads in spawned processes
WAIT = 120.0


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'assistant.db'}"
        return
    pytest.importorskip("psycopg")
    with fresh_postgres_database("jobs_test") as url:
        yield url


def _enqueue_all(store: JobStore, urls: list[str], start: Any, started: Any = None) -> dict[str, str]:
    """Enqueue each URL from its own thread once `start` fires; the job id each enqueue returned, by URL."""
    returned: dict[str, str] = {}
    errors: list[BaseException] = []

    def one(url: str) -> None:
        start.wait()
        try:
            returned[url] = store.enqueue([url], False, "webhook")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    if started is not None:
        started()
    for thread in threads:
        thread.join(WAIT)
    if errors:
        raise errors[0]
    return returned


def _enqueue_in_process(
    database_url: str, urls: list[str], ready: Any, start: EventType, out: Any
) -> None:  # pragma: no cover - runs in a spawned process
    out.put(_enqueue_all(JobStore(database_url), urls, start, started=lambda: ready.put(os.getpid())))


def _claim_until(store: JobStore, stop: threading.Event, claimed: dict[str, list[str]], errors: list[str]) -> None:
    """The worker: claim, "run" (record the job's URLs), finish with a report listing them; until `stop`."""
    while not stop.is_set():
        job = store.claim()
        if job is None:
            time.sleep(0.001)
            continue
        if job["job_id"] in claimed:
            errors.append(f"job {job['job_id']} was claimed twice")
        urls = list(job["urls"] or [])
        claimed[job["job_id"]] = urls
        store.finish(job["job_id"], "v1", {"synced": urls}, None)


def test_a_burst_of_webhooks_loses_no_url_while_the_worker_claims(database_url: str) -> None:
    store = JobStore(database_url)
    thread_urls = [f"http://agency.example/threads/{i}" for i in range(THREAD_URLS)]
    process_urls = [
        [f"http://agency.example/process{p}/{i}" for i in range(URLS_PER_PROCESS)] for p in range(PROCESSES)
    ]
    every_url = thread_urls + [u for urls in process_urls for u in urls]
    assert len(set(every_url)) == 200

    spawn = multiprocessing.get_context("spawn")
    ready, out, start = spawn.Queue(), spawn.Queue(), spawn.Event()
    processes = [
        spawn.Process(target=_enqueue_in_process, args=(database_url, urls, ready, start, out)) for urls in process_urls
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=WAIT)  # each child's threads are waiting on `start`

    claimed: dict[str, list[str]] = {}
    worker_errors: list[str] = []
    stop = threading.Event()
    worker = threading.Thread(target=_claim_until, args=(store, stop, claimed, worker_errors))
    worker.start()
    began = time.monotonic()
    try:
        returned = _enqueue_all(store, thread_urls, _Starter(start))
        for _ in processes:
            returned.update(out.get(timeout=WAIT))
    finally:
        start.set()
        stop.set()
        worker.join(WAIT)
        for process in processes:
            process.join(WAIT)
    elapsed = time.monotonic() - began
    assert not worker.is_alive() and all(p.exitcode == 0 for p in processes)
    assert not worker_errors
    assert sorted(returned) == sorted(every_url), "some enqueue did not return"

    # The worker stopped when the burst ended: a URL's job has run with it, or is still queued with it.
    for url, job_id in returned.items():
        job = store.get(job_id)
        assert job is not None
        if job_id in claimed:
            assert url in claimed[job_id], f"{url} joined job {job_id} after the worker claimed it"
        else:
            assert job["status"] == "queued" and url in (job["urls"] or []), f"{url} is in no job that will run"

    # Drain what is left, as the worker would, then every URL has been synced by exactly its own job.
    stop.clear()
    drain = threading.Thread(target=_claim_until, args=(store, stop, claimed, worker_errors))
    drain.start()
    deadline = time.monotonic() + WAIT
    while any(j["status"] == "queued" for j in store.latest(1000)) and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    drain.join(WAIT)
    assert not worker_errors
    assert not [j["job_id"] for j in store.latest(1000) if j["status"] in ("queued", "running")]
    for url, job_id in returned.items():
        holders = [j for j, urls in claimed.items() if url in urls]
        assert holders == [job_id], f"{url}: enqueue returned {job_id}, claimed in {holders}"
        job = store.get(job_id)
        assert job is not None and job["status"] == "succeeded"
        assert url in job["urls"] and url in job["report"]["synced"]
    print(f"\n{database_url.split(':')[0]}: 200 enqueues into {len(claimed)} jobs in {elapsed:.2f}s")


class _Starter:
    """`start.wait()` for this process's threads, which also fires the children's threads: one go for all."""

    def __init__(self, event: EventType) -> None:
        self.event = event
        self.barrier = threading.Barrier(THREAD_URLS, action=event.set)

    def wait(self) -> None:
        self.barrier.wait(WAIT)
        self.event.wait(WAIT)
