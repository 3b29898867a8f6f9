"""Degraded mode's pieces that need no Rasa: the circuit breaker, button payloads, the passed-on notice, and the
Rasa client's pooled connection and `metadata` field (against a loopback HTTP server standing in for Rasa's
REST channel). The whole of degraded mode, with real processes killed, is tests/integration/test_degraded.py."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from channels.degraded import Breaker, _helpful, _small_talk_kind, passed_on
from channels.rasa_client import RasaClient, RasaUnavailable


def test_the_breaker_lets_one_probe_through_once_the_retry_time_has_passed() -> None:
    breaker = Breaker(retry_seconds=0.2)
    assert not breaker.is_open and not breaker.claim_probe()  # closed: ask Rasa, no probe needed
    assert breaker.trip() and not breaker.trip()  # the first failure opens it; a second one keeps it open
    assert breaker.is_open and not breaker.claim_probe()  # too soon
    time.sleep(0.25)
    assert breaker.claim_probe() and not breaker.claim_probe()  # one caller probes, the others wait a round
    assert breaker.reset() and not breaker.is_open and not breaker.reset()


def test_feedback_buttons_and_small_talk_are_read_without_nlu() -> None:
    assert _helpful('/feedback{"helpful": "yes"}') is True
    assert _helpful('/feedback{"helpful": "no"}') is False
    assert _helpful("/feedback{not json") is None and _helpful("was it helpful?") is None
    assert [_small_talk_kind(t) for t in ("thanks a lot", "bye", "are you a bot", "hi there")] == [
        "thanks",
        "goodbye",
        "bot_challenge",
        "greet",
    ]


def test_the_passed_on_notice_is_an_unanswered_timeout_in_the_customers_language() -> None:
    (english,) = passed_on("How long do I have to appeal?").answers
    assert english.kind == "answer" and not english.answered and english.reason == "timeout"
    assert english.lang == "en" and "passed your question on" in english.text
    (spanish,) = passed_on("¿Cuánto tiempo tengo para pedir una audiencia?").answers
    assert spanish.lang == "es" and "Pasé su pregunta" in spanish.text


class RecordingWebhook(BaseHTTPRequestHandler):
    """Rasa's REST webhook on loopback: records each body and the connection it came on, answers []."""

    bodies: ClassVar[list[dict[str, Any]]] = []
    ports: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        RecordingWebhook.bodies.append(json.loads(self.rfile.read(length)))
        RecordingWebhook.ports.append(self.client_address[1])
        payload = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    RecordingWebhook.protocol_version = "HTTP/1.1"  # keep-alive, so a pooled connection is seen as one
    RecordingWebhook.bodies, RecordingWebhook.ports = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingWebhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_messages_share_one_pooled_connection_and_carry_metadata(webhook: str) -> None:
    async def talk() -> None:
        client = RasaClient(webhook, token="")
        client.open()
        try:
            assert await client.send("web:1", "hello", metadata={"request_id": "r-1"}) == []
            assert await client.send("web:1", "again") == []
        finally:
            await client.aclose()

    asyncio.run(talk())
    assert RecordingWebhook.bodies == [
        {"sender": "web:1", "message": "hello", "metadata": {"request_id": "r-1"}},
        {"sender": "web:1", "message": "again"},
    ]
    assert len(set(RecordingWebhook.ports)) == 1  # the second message came on the first one's connection


def test_a_refused_connection_is_rasa_unavailable() -> None:
    client = RasaClient("http://127.0.0.1:9", token="")
    with pytest.raises(RasaUnavailable, match="refused"):
        client.send_sync("web:1", "hello", retries=0)
    client.close_sync()
