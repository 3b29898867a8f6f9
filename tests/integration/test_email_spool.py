"""The email spool against a real SMTP server on loopback: every message is answered into the outbox, and
one undeliverable reply (a 550) is failed there with its reason without holding up the others."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from channels.email.listener import Answerer, Spool
from channels.email.outbox import OutboxSender
from channels.settings import Settings
from channels.store import ChannelStore
from tests.conftest import free_port

OWN = "help@agency.example"


class RefusingSink:
    """Accepts mail, except for one recipient it refuses for good (550)."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.delivered.extend(envelope.rcpt_tos)
        return "250 OK"


def mail_from(sender: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, OWN, ""
    message["Message-ID"] = f"<{sender.split('@')[0]}@customer.example>"
    message.set_content("")  # no question: the polite reply needs no Rasa
    return bytes(message)


def test_a_refused_reply_fails_in_the_outbox_and_the_next_is_sent(tmp_path: Path) -> None:
    sink = RefusingSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'assistant.db'}",
            privacy_key="spool-test-privacy-key-0123456789",
            smtp_host="127.0.0.1",
            smtp_port=port,
            email_from=OWN,
            sync_webhook_token="x",
            twilio_auth_token="y",
        )
        spool = Spool(tmp_path / "mail")
        spool.put(mail_from("gone@example.org"), "gone@example.org")
        spool.put(mail_from("resident@example.org"), "resident@example.org")
        store = ChannelStore(settings.database_url, privacy_key=settings.privacy_key.get_secret_value())
        answerer = Answerer(settings, spool, store)
        results = [answerer.process(msg_id) for msg_id in spool.waiting()]
        assert asyncio.run(OutboxSender(settings, store).send_due()) == 2
    finally:
        controller.stop()
    assert results == [True, True]
    assert sink.delivered == ["resident@example.org"]
    assert spool.waiting() == [] and len(list((tmp_path / "mail" / "done").glob("*.json"))) == 2
    rows = {row["recipient"]: row for row in store.outbox()}
    assert rows["gone@example.org"]["state"] == "failed" and "550" in rows["gone@example.org"]["last_error"]
    assert rows["resident@example.org"]["state"] == "sent"
