"""Observability: JSON log lines with request ids and no personal data, X-Request-ID, /metrics, heartbeats."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from channels.app import create_app
from channels.observability.metrics import StateCollector, count_turn, render_metrics
from channels.rasa_client import RasaClient
from channels.review.store import ReviewStore
from channels.settings import get_settings
from channels.store import ChannelStore
from content_sync.heartbeat import STALE_SECONDS, Heartbeat, read_beats
from content_sync.jobs import JobStore
from content_sync.logs import bind_request_id, valid_request_id
from content_sync.search.reply import Answer

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK, ELSEWHERE = ("127.0.0.1", 40000), ("203.0.113.9", 40000)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name, value in {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'assistant.db'}",
        "SYNC_WEBHOOK_TOKEN": "test-sync-token",
        "TWILIO_AUTH_TOKEN": "test-twilio-token",
        "PRIVACY_KEY": "test-privacy-key-0123456789",
        "SYNC_SOURCES": "http://127.0.0.1:8081/",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def request(
    path: str, headers: dict[str, str] | None = None, client: tuple[str, int] = LOOPBACK, app: Any = None
) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app or create_app(), client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            return await http.get(path, headers=headers or {})

    return asyncio.run(run())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


# -- JSON logs ------------------------------------------------------------------------------------------------

LOGGING_SCRIPT = """
import logging, structlog
from content_sync.logs import bind_request_id, configure_logging
configure_logging("gateway")
with bind_request_id("req-123"):
    logging.getLogger("channels.sms").info("sms %s answered", "SM1", extra={"phone": "+15550104477"})
    structlog.get_logger("channels.request").info("request", route="/api/chat", text="my SSN is 123")
logging.getLogger("uvicorn.error").warning("outside any request")
logging.getLogger("uvicorn.access").info('127.0.0.9:5 - "GET /x?n=1 HTTP/1.1" 200')
try:
    raise ValueError("bad")
except ValueError:
    logging.getLogger("x").exception("it failed")
"""


def test_every_log_line_is_one_json_object_with_the_request_id_and_no_personal_fields() -> None:
    out = subprocess.run(
        [sys.executable, "-c", LOGGING_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 4, out
    stdlib, native, foreign, failed = lines
    assert stdlib["event"] == "sms SM1 answered" and stdlib["request_id"] == "req-123"
    assert stdlib["process"] == "gateway" and stdlib["level"] == "info" and stdlib["logger"] == "channels.sms"
    assert stdlib["phone"] == "[dropped]"
    assert native["request_id"] == "req-123" and native["route"] == "/api/chat" and native["text"] == "[dropped]"
    assert "request_id" not in foreign and foreign["level"] == "warning"  # bound only inside the block
    assert "ValueError: bad" in failed["exception"]
    assert "+1555" not in out and "SSN" not in out and "127.0.0.9" not in out  # no access log with addresses
    assert all(line["timestamp"].endswith("Z") for line in lines)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123_DEF.9", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("", False),
        ("-leading-dash", False),
        ("has space", False),
        ("new\nline", False),
        ('quote"d', False),
        ("ünïcode", False),
    ],
)
def test_only_short_safe_request_ids_are_kept(given: str, kept: bool) -> None:
    assert (valid_request_id(given) == given) is kept


def test_a_safe_incoming_request_id_is_returned_and_any_other_is_replaced(env: pytest.MonkeyPatch) -> None:
    app = create_app()
    assert request("/static/chat.css", {"X-Request-ID": "trace-42"}, app=app).headers["x-request-id"] == "trace-42"
    for bad in ("x" * 200, "a;b", "<script>"):
        made = request("/static/chat.css", {"X-Request-ID": bad}, app=app).headers["x-request-id"]
        assert made != bad and len(made) == 32 and int(made, 16) >= 0
    first, second = (request("/static/chat.css", app=app).headers["x-request-id"] for _ in range(2))
    assert first != second  # one per request
    assert request("/no/such/page", app=app).headers["x-request-id"]  # refusals carry one too


def test_the_rasa_message_carries_the_request_id_as_metadata() -> None:
    client = RasaClient("http://127.0.0.1:1", "")
    with bind_request_id("req-9"):
        assert client._body("web:s", "hi", None)["metadata"] == {"request_id": "req-9"}
        assert client._body("web:s", "hi", {"x": 1})["metadata"] == {"request_id": "req-9", "x": 1}
    assert "metadata" not in client._body("web:s", "hi", None)


# -- /metrics -------------------------------------------------------------------------------------------------


def test_metrics_answer_loopback_only_while_metrics_token_is_empty(env: pytest.MonkeyPatch) -> None:
    response = request("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    for queue in ("email_outbox", "email_spool", "sync_jobs", "review_items"):
        assert found[("assistant_queue_depth", (("queue", queue),))] == 0
    assert ("assistant_index_age_seconds", ()) not in found  # no index published yet: no age to give
    refused = request("/metrics", client=ELSEWHERE)
    assert refused.status_code == 403
    assert "METRICS_TOKEN" in refused.json()["error"]


def test_a_client_forwarded_by_a_trusted_proxy_is_not_loopback(env: pytest.MonkeyPatch) -> None:
    env.setenv("TRUSTED_PROXIES", "127.0.0.1")
    get_settings.cache_clear()
    assert request("/metrics", {"X-Forwarded-For": "203.0.113.7"}).status_code == 403
    assert request("/metrics").status_code == 200  # the proxy's own host scraping


def test_with_metrics_token_set_a_scraper_anywhere_must_send_it(env: pytest.MonkeyPatch) -> None:
    env.setenv("METRICS_TOKEN", "scrape-token-0123")
    get_settings.cache_clear()
    assert request("/metrics").status_code == 401  # loopback too
    assert request("/metrics", {"Authorization": "Bearer wrong"}, client=ELSEWHERE).status_code == 401
    ok = request("/metrics", {"Authorization": "Bearer scrape-token-0123"}, client=ELSEWHERE)
    assert ok.status_code == 200 and "assistant_queue_depth" in ok.text


def test_turns_are_counted_as_answered_degraded_or_fallback() -> None:
    def value(name: str) -> float:
        return samples(render_metrics(None).decode()).get((name, (("channel", "sms"),)), 0.0)

    names = (
        "assistant_turns_total",
        "assistant_answered_total",
        "assistant_degraded_total",
        "assistant_fallback_total",
    )
    before = {name: value(name) for name in names}
    answered = Answer("You can appeal.", answered=True, kind="answer", source_url="https://a.example/appeal")
    no_match = Answer("I don't know.", kind="answer", reason="no_match")
    count_turn("sms", [answered])
    count_turn("sms", [Answer("Hello!")])  # small talk: neither answered nor a fallback
    count_turn("sms", [no_match])
    count_turn("sms", [Answer("You can appeal.", answered=True, kind="answer", degraded=True)])
    after = {name: value(name) - before[name] for name in names}
    assert after == {
        "assistant_turns_total": 4,
        "assistant_answered_total": 2,
        "assistant_degraded_total": 1,
        "assistant_fallback_total": 1,
    }


def test_state_metrics_come_from_the_readers_and_one_failing_reader_spares_the_rest() -> None:
    published = "2026-12-01T10:00:00+00:00"

    def broken() -> int:
        raise OSError("disk gone")

    state = StateCollector(
        outbox=lambda: {"queued": 2, "sending": 1, "sent": 40, "failed": 3},
        spool=broken,
        sync_jobs=lambda: {"queued": 1, "running": 1, "succeeded": 9},
        review_open=lambda: 7,
        last_syncs=lambda: [
            {"status": "running", "report": {}, "finished_at": None},
            {"status": "failed", "report": {}, "finished_at": "2026-12-01T11:00:00+00:00"},
            {
                "status": "succeeded",
                "report": {"kind": "incremental", "seconds": {"total": 12.5}},
                "finished_at": published,
            },
            {"status": "succeeded", "report": {"kind": "incremental", "seconds": {"total": 99.0}}, "finished_at": None},
        ],
        index_versions=lambda: [
            {"version": "v1", "created_at": "2026-11-01T00:00:00+00:00", "chunks": 10, "current": False},
            {"version": "v2", "created_at": published, "chunks": 12, "current": True},
        ],
    )
    found = samples(render_metrics(state).decode())
    assert found[("assistant_queue_depth", (("queue", "email_outbox"),))] == 3  # queued + sending
    assert ("assistant_queue_depth", (("queue", "email_spool"),)) not in found
    assert found[("assistant_queue_depth", (("queue", "sync_jobs"),))] == 1
    assert found[("assistant_queue_depth", (("queue", "review_items"),))] == 7
    assert found[("assistant_sync_jobs_running", ())] == 1
    assert found[("assistant_last_sync_duration_seconds", (("kind", "incremental"),))] == 12.5  # the newest
    assert found[("assistant_index_info", (("version", "v2"),))] == 1
    assert found[("assistant_index_chunks", ())] == 12
    age = found[("assistant_index_age_seconds", ())]
    expected = time.time() - datetime.fromisoformat(published).timestamp()
    assert abs(age - expected) < 60


def test_the_count_functions_read_the_stores(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    channels = ChannelStore(url, privacy_key="test-privacy-key-0123456789")
    assert channels.count_outbox() == {}
    for n in range(3):
        channels.enqueue_email(f"reply:{n}", f"<{n}@a.example>", "r@example.org", "a@a.example", "Re: x", b"raw")
    assert channels.count_outbox() == {"queued": 3}
    jobs = JobStore(url)
    jobs.enqueue()
    jobs.enqueue(full=True)
    jobs.claim()
    assert jobs.count_by_status() == {"queued": 1, "running": 1}
    assert ReviewStore(url).count_open_items() == 0


# -- heartbeats -----------------------------------------------------------------------------------------------


def test_a_worker_heartbeat_is_read_while_it_beats_and_gone_when_it_stops(tmp_path: Path) -> None:
    beat = Heartbeat(tmp_path, "worker", every=0.05).start()
    beat.state = "running job abc"
    time.sleep(0.2)
    [seen] = read_beats(tmp_path, "worker")
    assert seen.pid == os.getpid() and seen.alive() and seen.state == "running job abc"
    assert not seen.alive(now=seen.at + STALE_SECONDS + 1)
    beat.stop()
    assert read_beats(tmp_path, "worker") == []


def test_the_file_of_a_killed_worker_is_forgotten_by_the_next_one(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ghost = Heartbeat(tmp_path, "worker")
    ghost.pid = int(dead.stdout)
    ghost.path = ghost.folder / f"worker-{ghost.host}-{ghost.pid}.json"
    ghost.beat()
    assert [b.pid for b in read_beats(tmp_path, "worker")] == [ghost.pid]
    live = Heartbeat(tmp_path, "worker").start()
    try:
        assert [b.pid for b in read_beats(tmp_path, "worker")] == [os.getpid()]
    finally:
        live.stop()


# -- assistant status -----------------------------------------------------------------------------------------


def test_status_names_every_process_and_finds_the_worker_by_its_heartbeat(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.stack import free_port
    from channels.cli import main

    for name in ("GATEWAY_PORT", "RASA_PORT", "ACTIONS_PORT", "SMTP_LISTEN_PORT", "SAMPLE_SITE_PORT"):
        env.setenv(name, str(free_port()))  # nothing listens on any of them
    env.delenv("SYNC_SOURCES")  # the bundled sample site, which status then checks too
    for name in ("RASA_URL", "ACTIONS_URL", "ALLOWED_DOMAINS", "BIND_HOST"):
        env.delenv(name, raising=False)
    env.setenv("COLUMNS", "200")
    get_settings.cache_clear()

    def status() -> tuple[int, dict[str, str]]:
        code = main(["status"])
        return code, {line[:14].strip(): line[14:].strip() for line in capsys.readouterr().out.splitlines()}

    code, rows = status()
    assert code == 1
    for process in ("gateway", "rasa", "action server", "email", "sample site", "worker"):
        assert rows[process].startswith("down"), (process, rows)
    assert "no heartbeat recorded" in rows["worker"]

    beat = Heartbeat(get_settings().data_dir, "worker").start()
    try:
        beat.state = "running job 42"
        beat.beat()
        code, rows = status()
    finally:
        beat.stop()
    assert code == 1  # the others are still down
    assert rows["worker"].startswith("up") and f"pid {os.getpid()}" in rows["worker"]
    assert "running job 42" in rows["worker"]
