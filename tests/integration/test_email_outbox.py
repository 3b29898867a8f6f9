"""The email outbox against real SMTP servers on loopback (aiosmtpd): 100 replies queued while the server is down
are delivered exactly once when it is back, even with two senders racing (issue 16's fault test); a sender that
died holding a row is taken over with the same Message-ID; a 5xx fails the row with the server's reason, a 4xx is
tried again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from channels.email.outbox import LEASE, OutboxSender, queue_email
from channels.email.send import build_message
from channels.settings import Settings
from channels.store import ChannelStore, email_outbox
from tests.conftest import free_port

pytestmark = pytest.mark.integration
OWN = "help@agency.example"
KEY = "outbox-test-privacy-key-0123456789"
QUEUED = 100  # replies queued while the SMTP server is down


class Sink:
    """An SMTP server on a fixed loopback port that can be stopped and started again; keeps what it got."""

    def __init__(self, port: int, refuse: Callable[[str], str | None] = lambda _: None) -> None:
        self.port = port
        self.refuse = refuse
        self.messages: list[EmailMessage] = []
        self.controller: Controller | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        refusal = self.refuse(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(BytesParser(policy=policy.default).parsebytes(envelope.content))
        return "250 2.0.0 OK queued"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


def settings_for(tmp_path: Path, port: int) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'assistant.db'}",
        smtp_host="127.0.0.1",
        smtp_port=port,
        email_from=OWN,
        sync_webhook_token="x" * 20,
        twilio_auth_token="y" * 20,
        privacy_key=KEY,
    )


def answer_to(address: str, n: int) -> EmailMessage:
    return build_message(address, f"Your answer {n}", f"Answer number {n}.", OWN, f"<p>Answer number {n}.</p>")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, what
        time.sleep(0.1)


@pytest.fixture
def store(tmp_path: Path) -> ChannelStore:
    return ChannelStore(f"sqlite:///{tmp_path / 'assistant.db'}", privacy_key=KEY)


@pytest.fixture
def senders(tmp_path: Path, store: ChannelStore) -> Iterator[Callable[[int, int], None]]:
    """Start `count` sender loops on their own threads, as if in as many email processes."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(port: int, count: int) -> None:
        for _ in range(count):
            sender = OutboxSender(settings_for(tmp_path, port), store)
            thread = threading.Thread(target=sender.run_forever, args=(stop,), daemon=True)
            thread.start()
            threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def test_replies_queued_while_smtp_is_down_are_each_delivered_once_when_it_is_back(
    tmp_path: Path, store: ChannelStore, senders: Callable[[int, int], None]
) -> None:
    port = free_port()
    sink = Sink(port)
    sink.start()
    senders(port, 2)  # two senders race for every row
    early = answer_to("early@example.org", 0)
    queue_email(store, early, "reply:early")
    wait_until(lambda: len(sink.messages) == 1, 15, "the first reply was not delivered while SMTP was up")
    sink.stop()

    queued = {}
    for n in range(1, QUEUED + 1):
        message = answer_to(f"resident{n}@example.org", n)
        queued[str(message["Message-ID"])] = queue_email(store, message, f"reply:spool-{n}")
    assert queue_email(store, answer_to("resident1@example.org", 1), "reply:spool-1") == queued[next(iter(queued))]
    wait_until(
        lambda: all(r["attempts"] >= 2 for r in store.outbox(state="queued", limit=1000))
        and len(store.outbox(state="queued", limit=1000)) == QUEUED,
        30,
        "the replies were not retried while SMTP was down",
    )
    waiting = store.outbox(state="queued", limit=1000)
    assert all("Connect" in (r["last_error"] or "") or "refused" in (r["last_error"] or "") for r in waiting), waiting

    sink.start()
    try:
        wait_until(
            lambda: len(store.outbox(state="sent", limit=1000)) == QUEUED + 1,
            90,
            "not every reply was sent once SMTP was back",
        )
        time.sleep(3)  # room for a wrong second copy to arrive
    finally:
        sink.stop()
    assert sorted(sink.ids()) == sorted([str(early["Message-ID"]), *queued])  # each exactly once, nothing else
    rows = {r["message_id"]: r for r in store.outbox(limit=1000)}
    assert rows[next(iter(queued))]["dedupe_key"] == "reply:spool-1" and len(rows) == QUEUED + 1
    for message_id in queued:
        assert rows[message_id]["state"] == "sent" and rows[message_id]["sent_at"] is not None
        assert "250" in (rows[message_id]["smtp_response"] or "") or "OK" in (rows[message_id]["smtp_response"] or "")
    delivered = {str(m["Message-ID"]): m for m in sink.messages}
    some = next(iter(queued))
    assert delivered[some].get_body(preferencelist=("html",)) is not None


def test_a_row_whose_sender_died_is_sent_again_after_the_lease_with_the_same_message_id(
    tmp_path: Path, store: ChannelStore
) -> None:
    port = free_port()
    sink = Sink(port)
    sink.start()
    try:
        dead = answer_to("dead@example.org", 1)
        held = answer_to("held@example.org", 2)
        dead_id, held_id = queue_email(store, dead, "reply:dead"), queue_email(store, held, "reply:held")
        assert store.claim_email(dead_id, "died", LEASE) is not None  # its sender died mid-send, long ago:
        long_ago = datetime.now(UTC) - timedelta(seconds=LEASE + 60)
        with store.engine.begin() as conn:
            conn.execute(email_outbox.update().where(email_outbox.c.id == dead_id).values(claimed_at=long_ago))
        assert store.claim_email(held_id, "alive", LEASE) is not None  # its sender is still at it
        sender = OutboxSender(settings_for(tmp_path, port), store)
        assert asyncio.run(sender.send_due()) == 1
    finally:
        sink.stop()
    assert sink.ids() == [str(dead["Message-ID"])]
    rows = {r["id"]: r for r in store.outbox()}
    assert rows[dead_id]["state"] == "sent" and rows[dead_id]["attempts"] == 2
    assert rows[held_id]["state"] == "sending"  # within its lease nobody else sends it
    assert not store.mark_email_sent(dead_id, "died", "250 late")  # the dead sender's token no longer counts


def test_a_5xx_fails_the_row_with_the_reason_and_a_4xx_is_tried_again(
    tmp_path: Path, store: ChannelStore, senders: Callable[[int, int], None]
) -> None:
    busy_once: list[str] = []

    def refuse(address: str) -> str | None:
        if address.startswith("gone@"):
            return "550 5.1.1 <gone@example.org>: no such user"
        if address.startswith("busy@") and not busy_once:
            busy_once.append(address)
            return "451 4.3.0 try again later"
        return None

    port = free_port()
    sink = Sink(port, refuse)
    sink.start()
    try:
        gone = queue_email(store, answer_to("gone@example.org", 1), "reply:gone")
        busy = queue_email(store, answer_to("busy@example.org", 2), "reply:busy")
        fine = queue_email(store, answer_to("fine@example.org", 3), "reply:fine")
        senders(port, 1)
        wait_until(
            lambda: {r["id"]: r["state"] for r in store.outbox()} == {gone: "failed", busy: "sent", fine: "sent"},
            30,
            f"the outbox did not settle: {store.outbox()}",
        )
    finally:
        sink.stop()
    rows = {r["id"]: r for r in store.outbox()}
    assert "550" in rows[gone]["last_error"] and "no such user" in rows[gone]["last_error"]
    assert rows[gone]["attempts"] == 1 and rows[gone]["sent_at"] is None
    assert rows[busy]["attempts"] == 2 and "451" in rows[busy]["last_error"]
    assert sorted(str(m["To"]) for m in sink.messages) == ["busy@example.org", "fine@example.org"]
