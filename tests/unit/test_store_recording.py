"""Web chat, SMS and email record what the assistant could not answer, with Rasa replaced by canned replies.

The gateway runs in-process (its start-up migrates a fresh SQLite file); only Rasa's HTTP reply is faked.
The end-to-end path through the real Rasa and action server is in tests/integration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from channels.app import create_app
from channels.degraded import _shared as degraded_state
from channels.deps import get_channel_store, get_rasa
from channels.email.listener import Answerer, Spool
from channels.email.read import InboundMail
from channels.privacy import hash_sender, pseudonym
from channels.settings import Settings, get_settings
from channels.store import ChannelStore
from tests.unit.test_answers import FEEDBACK_ACK, PAYLOAD, clarify, not_answered

TWILIO_TOKEN = "test-twilio-token"
PRIVACY_KEY = "test-privacy-key-0123456789"


class CannedRasa:
    """Answers every message with the same Rasa REST reply, and remembers what it was sent."""

    def __init__(self, reply: list[dict[str, Any]]) -> None:
        self.reply = reply
        self.sent: list[tuple[str, str]] = []

    async def send(self, sender: str, text: str, retries: int = 2, **_: Any) -> list[dict[str, Any]]:
        self.sent.append((sender, text))
        return self.reply

    def send_sync(self, sender: str, text: str, retries: int = 2, **_: Any) -> list[dict[str, Any]]:
        self.sent.append((sender, text))
        return self.reply


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name, value in {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'assistant.db'}",
        "SYNC_WEBHOOK_TOKEN": "test-sync-token",
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "PRIVACY_KEY": PRIVACY_KEY,
        "PUBLIC_BASE_URL": "http://testserver",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    degraded_state.cache_clear()  # a breaker another test opened would answer these from the index instead
    yield tmp_path
    get_settings.cache_clear()
    degraded_state.cache_clear()


def gateway(reply: list[dict[str, Any]], store: ChannelStore | None = None) -> tuple[FastAPI, CannedRasa]:
    rasa = CannedRasa(reply)
    app = create_app()
    app.dependency_overrides[get_rasa] = lambda: rasa
    if store is not None:
        app.dependency_overrides[get_channel_store] = lambda: store
    return app, rasa


def talk(app: FastAPI, calls: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    """Start the app (its start-up runs the migrations), make the calls, and stop it."""

    async def run() -> Any:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await calls(client)

    return asyncio.run(run())


def events(tmp_path: Path) -> list[dict[str, Any]]:
    return ChannelStore(f"sqlite:///{tmp_path / 'assistant.db'}", privacy_key=PRIVACY_KEY).recent_events()


def conversation(sender_id: str) -> str:
    """What the store keeps for a Rasa sender id: its keyed hash."""
    return hash_sender(PRIVACY_KEY, sender_id)


def test_web_chat_records_a_clarification_and_returns_its_choices(env: Path) -> None:
    app, rasa = gateway([{"recipient_id": "x", "custom": clarify()}])
    response = talk(app, lambda c: c.post("/api/chat", json={"session_id": "s-1", "text": "burial help"}))
    assert response.status_code == 200
    (message,) = response.json()["messages"]
    assert message["kind"] == "clarify" and message["answered"] is False and message["lang"] == "en"
    assert [c["payload"] for c in message["choices"]] == ["1", "2", "3"]
    assert rasa.sent == [("web:s-1", "burial help")]
    (row,) = events(env)
    assert (row["channel"], row["conversation"], row["question"]) == ("web", conversation("web:s-1"), "burial help")
    assert (row["kind"], row["reason"], row["index_version"]) == ("clarify", "clarify", "v1")


def test_web_chat_records_feedback_but_not_answers_or_greetings(env: Path) -> None:
    reply: list[dict[str, Any]] = [{"text": "Hi!"}, {"custom": PAYLOAD}, {"custom": FEEDBACK_ACK | {"helpful": True}}]
    app, _ = gateway(reply)
    response = talk(app, lambda c: c.post("/api/chat", json={"text": '/feedback{"helpful": "yes"}'}))
    messages = response.json()["messages"]
    assert [m["kind"] for m in messages] == ["text", "answer", "feedback"]
    assert messages[1]["feedback"]["buttons"][0] == {"title": "Yes", "payload": '/feedback{"helpful": "yes"}'}
    (row,) = events(env)
    assert row["reason"] == "feedback" and row["helpful"] is True
    assert row["about_chunk_digest"] == "d1g35t" and row["about_index_version"] == "v1"
    assert row["conversation"] == conversation("web:" + response.json()["session_id"])


def test_web_chat_answers_when_recording_fails(env: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = ChannelStore(f"sqlite:///{env / 'empty.db'}", migrate=False)  # no tables at all
    app, _ = gateway([{"custom": not_answered("no_match")}], store=broken)
    with caplog.at_level(logging.ERROR, logger="channels.store"):
        response = talk(app, lambda c: c.post("/api/chat", json={"text": "something odd"}))
    assert response.status_code == 200
    assert response.json()["messages"][0]["text"].startswith("I'm sorry")
    assert "could not record" in caplog.text


async def signed_sms(client: httpx.AsyncClient, body: str, sid: str, sender: str = "+15550104477") -> str:
    params = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": sid}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature("http://testserver/sms/twilio", params)
    response = await client.post("/sms/twilio", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text
    return unescape(response.text)


def test_sms_records_and_numbers_the_choices(env: Path) -> None:
    app, rasa = gateway([{"custom": clarify("es")}])

    async def twice(client: httpx.AsyncClient) -> tuple[str, str]:
        first = await signed_sms(client, "ayuda con el entierro", "SM1")
        return first, await signed_sms(client, "ayuda con el entierro", "SM1")  # Twilio retrying: same reply

    twiml, again = talk(app, twice)
    assert "1. Burial Allowance\n2. Funeral Costs Help\n3. Survivor Benefits\nResponda 1, 2 o 3." in twiml
    assert again == twiml and len(rasa.sent) == 1
    assert rasa.sent[0][0] == pseudonym(PRIVACY_KEY, "sms", "+15550104477") != "sms:+15550104477"
    (row,) = events(env)
    assert (row["channel"], row["conversation"], row["question"]) == (
        "sms",
        conversation(rasa.sent[0][0]),
        "ayuda con el entierro",
    )
    assert row["lang"] == "es"


def test_email_records_what_it_could_not_answer(env: Path) -> None:
    settings = Settings()
    store = ChannelStore(settings.database_url)
    answerer = Answerer(settings, Spool(env / "mail"), store)
    answerer.rasa = CannedRasa([{"custom": {**not_answered("handoff"), "kind": "handoff"}}])  # type: ignore[assignment]
    mail = InboundMail("Resident@Example.org", "Help", "<m1@example.org>", "", "I want to talk to a person")
    reply = answerer._reply_body("msg-1", mail, {})  # (text, html)
    assert reply is not None and "I'm sorry" in reply[0]
    (row,) = store.recent_events()
    rasa_sender = pseudonym(PRIVACY_KEY, "email", "resident@example.org")
    assert answerer.rasa.sent == [(rasa_sender, "I want to talk to a person")]  # type: ignore[attr-defined]
    assert (row["channel"], row["conversation"], row["kind"]) == ("email", conversation(rasa_sender), "handoff")
    assert row["question"] == "I want to talk to a person"
    assert [(m["direction"], m["kind"]) for m in store.transcript(row["conversation"])] == [
        ("in", None),
        ("out", "handoff"),
    ]
