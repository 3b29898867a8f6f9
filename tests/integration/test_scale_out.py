"""The scale-out profile (docs/deploy.md) on the real PostgreSQL and Redis of this machine.

Two replicas of the product (each a gateway, a Rasa server, an action server, a worker and an email listener,
started by the launcher in its own DATA_DIR) share one PostgreSQL database, one Redis and one INDEX_DIR:

- a conversation begun on one replica goes on through the other, which knows its topic (Rasa's trackers and
  locks are in Redis);
- a version published by one sync is served by both replicas within 2 s of the pointer switching;
- of two workers on one queue exactly one runs the schedule, and the other takes over when it dies;
- a worker starting never fails a job another live worker is running;
- a reader whose file poll is slowed right down still switches at once on the Redis signal.

Skipped, saying why, when PostgreSQL or Redis is not reachable.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import redis

from bench.stack import ROOT, Stack, running_stack
from content_sync.chunk import Chunk
from content_sync.index_store import IndexStore
from content_sync.jobs import JobStore
from content_sync.search import Searcher
from content_sync.settings import DEFAULT_MODEL
from tests.conftest import loopback_only_env
from tests.integration.conftest import fresh_postgres_database, served_site_copy

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SWITCH_SECONDS = 2.0  # the goal: every replica serves a new version this soon after the pointer moves


SITE_PAGES = re.compile(r"/allowances/(burial|caregiver|newborn-essentials)[^<]*|/payments/lost-or-stolen-card")
"""The pages the replicas' site keeps in its sitemap: confusable programmes, each with its own form, so that a
follow-up naming no topic is answered from the right one only through the conversation. A dozen pages sync in
seconds, where the whole sample site takes minutes on a busy machine."""


def _keep_only(site_root: Path, pages: re.Pattern[str]) -> None:
    sitemap = site_root / "sitemap.xml"
    text = sitemap.read_text()
    blocks = re.findall(r"\s*<url>.*?</url>", text, flags=re.S)
    kept = [b for b in blocks if pages.search(b)]
    assert 8 <= len(kept) <= 20, kept
    head, tail = text.split("<url>", 1)[0].rstrip(), "\n</urlset>\n"
    sitemap.write_text(head + "".join(kept) + tail)


def _redis_or_skip() -> str:
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(64).startswith(b"+PONG"):
                pytest.skip(f"{REDIS_URL} did not answer PING as Redis does")
    except OSError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Stack, Path]]:
    """Two replicas on one PostgreSQL database, one Redis and one shared INDEX_DIR; the site is the module's."""
    redis_url = _redis_or_skip()
    shared_index = tmp_path_factory.mktemp("shared") / "index"
    with (
        fresh_postgres_database("scale") as database_url,
        served_site_copy(tmp_path_factory.mktemp("scale-site")) as (site_url, site_root),
        ExitStack() as stacks,
    ):
        _keep_only(site_root, SITE_PAGES)

        def profile(env: dict[str, str]) -> dict[str, str]:
            return {
                **loopback_only_env(env),
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "INDEX_DIR": str(shared_index),
                # Two replicas on one 2-core machine (four processes with the model): a slow first answer is
                # the machine's, not the profile's, so it must not turn into "passed on to staff".
                "RASA_TIMEOUT": "60",
                "ANSWER_TIMEOUT": "90",
                "INBOUND_LEASE_SECONDS": "120",
            }

        first = stacks.enter_context(
            running_stack(site_url, site_root, tmp_path_factory.mktemp("replica-a"), wrap_env=profile)
        )
        second = stacks.enter_context(
            running_stack(site_url, site_root, tmp_path_factory.mktemp("replica-b"), wrap_env=profile)
        )
        yield first, second, shared_index


def _only(reply: dict[str, Any]) -> dict[str, Any]:
    assert len(reply["messages"]) == 1, reply
    return reply["messages"][0]  # type: ignore[no-any-return]


def _path(message: dict[str, Any]) -> str:
    return urlsplit(message["source_url"] or "").path


def test_each_replica_runs_rasa_on_the_redis_tracker_and_lock_stores(replicas: tuple[Stack, Stack, Path]) -> None:
    for replica in replicas[:2]:
        endpoints = (replica.data_dir / "rasa-endpoints.yml").read_text()
        assert "tracker_store:\n  type: redis" in endpoints and "lock_store:\n  type: redis" in endpoints
        assert "${ACTIONS_URL}/webhook" in endpoints  # the default file's action endpoint is kept


def test_a_conversation_moves_between_replicas_mid_way(replicas: tuple[Stack, Stack, Path]) -> None:
    first, second, _ = replicas
    sid = f"scale-{uuid.uuid4().hex[:12]}"
    asked = _only(first.chat("How much is the Burial Allowance for a cremation?", sid))
    assert asked["answered"] and _path(asked).startswith("/allowances/burial-allowance"), asked
    # The follow-up names no topic: only the conversation so far, kept in Redis, says what "that" is.
    follow = _only(second.chat("what form do I fill out for that?", sid))
    assert not follow.get("degraded"), follow
    assert follow["answered"] and _path(follow).startswith("/allowances/burial-allowance"), follow
    assert "FB-262" in follow["text"]
    # What carried the topic across is the conversation's tracker in the shared Redis.
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.exists(f"assistant:tracker:web:{sid}"), "the conversation's tracker is not in Redis"
    finally:
        client.close()
    # And back again: the first replica sees the turn the second one took.
    again = _only(first.chat("thanks", sid))
    assert not again.get("degraded") and not again["answered"], again


def test_a_version_published_by_one_sync_is_served_by_every_replica_within_2_s(
    replicas: tuple[Stack, Stack, Path],
) -> None:
    first, second, shared_index = replicas
    pointer = shared_index / "CURRENT"
    before = pointer.read_text().strip()
    sid = {first.gateway: f"scale-{uuid.uuid4().hex[:8]}", second.gateway: f"scale-{uuid.uuid4().hex[:8]}"}
    question = "How do I report a lost or stolen Harvest Card?"
    for replica in (first, second):
        assert _only(replica.chat(question, sid[replica.gateway]))["index_version"] == before

    # An editor publishes a page, and the webhook asks for it: one sync, on whichever worker claims it.
    page = first.site_root / "payments" / "lost-or-stolen-card.html"
    note = "<p>Replacement cards now arrive within three working days.</p>\n  </main>"
    page.write_text(page.read_text().replace("</main>", note, 1))
    job: dict[str, Any] = {}
    url = f"{first.site}/payments/lost-or-stolen-card.html"
    syncing = threading.Thread(target=lambda: job.update(first.sync({"urls": [url]})))
    syncing.start()
    deadline = time.monotonic() + 300
    while pointer.read_text().strip() == before:
        done = not syncing.is_alive() or time.monotonic() > deadline
        assert not done or pointer.read_text().strip() != before, f"the sync published nothing: {job}"
        time.sleep(0.01)
    switched_at = pointer.stat().st_mtime  # when the sync's worker moved the pointer
    published = pointer.read_text().strip()

    # Ask every replica a fresh conversation's question every 0.2 s (in threads, so a slow answer on a busy
    # machine does not thin the sampling out) until 4 s after the switch: every question sent 2 s or more after
    # the switch must be answered from the new version. A new session each time: Rasa's lock store would
    # otherwise queue them behind each other.
    answers: list[tuple[str, float, str | None]] = []  # (replica, sent at, index_version)

    def ask(replica: Stack, sent: float) -> None:
        message = _only(replica.chat(question, f"scale-{uuid.uuid4().hex[:12]}"))
        answers.append((replica.gateway, sent, message["index_version"]))

    askers = []
    while time.time() < switched_at + SWITCH_SECONDS + 2:
        for replica in (first, second):
            askers.append(threading.Thread(target=ask, args=(replica, time.time())))
            askers[-1].start()
        time.sleep(0.2)
    for asker in askers:
        asker.join(120)
    syncing.join(300)
    assert job.get("status") == "succeeded" and job.get("index_version") == published, job
    assert len(answers) == len(askers), "some questions got no answer"
    after = [(gateway, version) for gateway, sent, version in answers if sent >= switched_at + SWITCH_SECONDS]
    assert {gateway for gateway, _ in after} == {first.gateway, second.gateway}, answers
    stale = [(gateway, version) for gateway, version in after if version != published]
    assert not stale, f"answered from an older version {SWITCH_SECONDS} s after {published} was switched in: {stale}"


def _tiny_version(store: IndexStore, text: str) -> str:
    """Publish a one-passage version (a random unit vector: nothing here embeds a query)."""
    vector = np.random.default_rng().normal(size=(1, 384)).astype(np.float32)
    vector /= np.linalg.norm(vector)
    chunk = Chunk("p1_0", "http://127.0.0.1/p1", "Page", ("Page",), text, uuid.uuid4().hex, language="en")
    return store.publish([chunk], vector, {chunk.url: {"language": "en"}}, {"model": DEFAULT_MODEL})


def test_a_reader_switches_on_the_redis_signal_without_waiting_for_its_poll(tmp_path: Path) -> None:
    redis_url = _redis_or_skip()
    writer = IndexStore(tmp_path / "index", redis_url)
    first = _tiny_version(writer, "the first text")
    reader = Searcher(tmp_path / "index", DEFAULT_MODEL, watch_seconds=60.0, redis_url=redis_url)
    assert reader.current().version.version == first
    time.sleep(0.5)  # the signal thread subscribes
    second = _tiny_version(writer, "the second text")
    deadline = time.monotonic() + SWITCH_SECONDS
    while reader.loaded_version() != second and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reader.loaded_version() == second, "the reader did not switch on the signal (its poll is 60 s)"
    writer.switch(first)  # a rollback is announced too
    deadline = time.monotonic() + SWITCH_SECONDS
    while reader.loaded_version() != first and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reader.loaded_version() == first


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "content_sync"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _leads(log: Path) -> bool:
    return "now runs the sync schedule" in log.read_text(errors="replace")


def _wait(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def test_exactly_one_of_two_workers_runs_the_schedule_and_the_other_takes_over(tmp_path: Path) -> None:
    index = tmp_path / "index"
    _tiny_version(IndexStore(index), "already published, so no first sync is queued")
    with fresh_postgres_database("scheduler") as database_url:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "INDEX_DIR": str(index),
            "SYNC_SCHEDULE": "0 0 1 1 *",  # never due during the test: only the election is watched
            "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "1",
        }
        env.pop("VIRTUAL_ENV", None)
        logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
        workers = [_worker({**env, "DATA_DIR": str(tmp_path / f"data-{n}")}, logs[n]) for n in range(2)]
        try:
            assert _wait(lambda: any(_leads(log) for log in logs), 30), [log.read_text() for log in logs]
            time.sleep(3)  # more than one lease period: a second scheduler would have said so by now
            leaders = [n for n, log in enumerate(logs) if _leads(log)]
            assert len(leaders) == 1, f"workers running the schedule: {leaders}"
            leader, standby = leaders[0], 1 - leaders[0]
            workers[leader].send_signal(signal.SIGKILL)
            workers[leader].wait(10)
            assert _wait(lambda: _leads(logs[standby]), 10), logs[standby].read_text()
            assert workers[standby].poll() is None
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(15)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()


def test_a_starting_worker_fails_only_jobs_whose_worker_is_gone() -> None:
    with fresh_postgres_database("orphans") as database_url:
        live, starting = JobStore(database_url), JobStore(database_url)
        running = live.enqueue(["http://127.0.0.1/a"])
        assert live.claim() is not None
        assert starting.fail_interrupted() == 0  # its worker is alive: left running
        assert (starting.get(running) or {})["status"] == "running"
        live.finish(running, None, {}, None)
        live.release(running)

        orphan = live.enqueue(["http://127.0.0.1/b"])
        assert live.claim() is not None
        live._running.pop(orphan).invalidate()  # the worker's connection dies, as with its process
        assert starting.fail_interrupted() == 1
        assert (starting.get(orphan) or {})["status"] == "failed"
        assert (starting.get(running) or {})["status"] == "succeeded"
