"""The real email listener against abuse, with aiosmtpd delivering on loopback and a sink catching replies:
forged senders and senders past the rate limit get no reply (each kept, with its reason), and a 25 MB
message is refused by size before anything is spooled.

No Rasa is needed: with MAX_MESSAGE_CHARS at 10 every question gets the "too long" reply, made locally.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from bench.stack import MailSink
from channels.email.listener import serve
from channels.privacy import mask_email
from channels.settings import Settings
from channels.store import ChannelStore
from tests.conftest import free_port

OWN = "help@agency.example"
OURS = "mx.agency.example"
KEY = "abuse-test-privacy-key-0123456789"


def inbound(sender: str, question: str, auth: str | None, attachment: bool = False) -> tuple[str, bytes]:
    message = EmailMessage()
    if auth is not None:
        message["Authentication-Results"] = auth
    message["From"], message["To"], message["Subject"] = f"Resident <{sender}>", OWN, "A question"
    message_id = f"<{uuid.uuid4().hex}@customer.example>"
    message["Message-ID"] = message_id
    message.set_content(question)
    if attachment:
        message.add_attachment(b"\x89PNG...", maintype="image", subtype="png", filename="letter.png")
    return message_id, bytes(message)


def passing(domain: str) -> str:
    return f"{OURS}; spf=pass smtp.mailfrom={domain}; dmarc=pass header.from={domain}"


class Listener:
    def __init__(self, port: int, data_dir: Path, sink: MailSink) -> None:
        self.port, self.mail, self.sink = port, data_dir / "mail", sink

    def send(self, sender: str, raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
            smtp.sendmail(sender, [OWN], raw)

    def settle(self, timeout: float = 30) -> None:
        """Wait until the answerer has finished with every accepted message, and the outbox has delivered
        (or failed) every reply it queued.
        """
        end = time.monotonic() + timeout
        while any((self.mail / "inbox").glob("*.eml")):
            assert time.monotonic() < end, "the listener never worked through its spool"
            time.sleep(0.1)
        store = ChannelStore(f"sqlite:///{self.mail.parent / 'assistant.db'}", migrate=False, privacy_key=KEY)
        while any(row["state"] in ("queued", "sending") for row in store.outbox()):
            assert time.monotonic() < end, "the outbox never delivered the replies"
            time.sleep(0.1)

    def skipped(self) -> list[dict[str, str]]:
        """The notes of skipped messages; the messages themselves are deleted (docs/adr/0011-personal-data.md)."""
        assert not any((self.mail / "skipped").glob("*.eml")), "a skipped message was kept"
        return [json.loads(p.read_text()) for p in sorted((self.mail / "skipped").glob("*.json"))]

    def replied_to(self) -> list[str]:
        return [str(m["To"]) for m in self.sink.messages]


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    sink = MailSink()
    sink.controller.start()
    port = free_port()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'assistant.db'}",
        bind_host="127.0.0.1",
        smtp_listen_port=port,
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        email_from=OWN,
        email_authserv_id=OURS,
        rate_limit_per_session=2,
        max_message_chars=10,
        rasa_url="http://127.0.0.1:9",  # never asked: every question here is too long
        sync_webhook_token="x" * 20,
        twilio_auth_token="y" * 20,
        privacy_key=KEY,
    )
    stop = threading.Event()
    controller = serve(settings, stop)
    try:
        yield Listener(port, tmp_path, sink)
    finally:
        stop.set()
        controller.stop()
        sink.controller.stop()


def test_only_senders_our_server_authenticated_get_a_reply(listener: Listener) -> None:
    spoofed = inbound("victim@example.org", "How do I appeal a decision?", auth=None)
    forged = inbound(
        "victim@example.org",
        "How do I appeal a decision?",
        auth=passing("example.org").replace(OURS, "mx.evil.example"),
    )
    genuine_id, genuine = inbound("resident@example.org", "How do I appeal a decision?", passing("example.org"), True)
    for _, raw in (spoofed, forged):
        listener.send("victim@example.org", raw)
    listener.send("resident@example.org", genuine)
    listener.settle()

    assert listener.replied_to() == ["resident@example.org"]
    reply = listener.sink.reply_to(genuine_id, timeout=1)
    assert reply is not None
    body = reply.get_body(preferencelist=("plain",)).get_content()
    assert "longer than I can read" in body
    assert "I can't open attachments, so I have read only the text of your email." in body
    assert [(n["from"], n["reason"]) for n in listener.skipped()] == [
        (mask_email(KEY, "victim@example.org"), f"not authenticated: no Authentication-Results header from {OURS}")
    ] * 2
    kept = "".join(p.read_text() for p in listener.mail.rglob("*") if p.is_file())
    assert "victim" not in kept, "the address was kept"


def test_replies_stop_at_the_rate_limit_per_address_and_per_domain(listener: Listener) -> None:
    for n in range(3):
        listener.send("a@example.net", inbound("a@example.net", f"Question number {n}", passing("example.net"))[1])
    listener.send("b@example.net", inbound("b@example.net", "Another question", passing("example.net"))[1])
    listener.send("c@other.example", inbound("c@other.example", "A third question", passing("other.example"))[1])
    listener.settle()

    assert listener.replied_to() == ["a@example.net", "a@example.net", "c@other.example"]
    a, b = mask_email(KEY, "a@example.net"), mask_email(KEY, "b@example.net")
    assert sorted((n["from"], n["reason"]) for n in listener.skipped()) == sorted(
        [
            (a, f"rate limit: 2 replies a minute to address {a} already sent"),
            (b, "rate limit: 2 replies a minute to domain example.net already sent"),
        ]
    )


def test_a_25_mb_message_is_refused_by_size_and_logged(listener: Listener, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="channels.email")
    _, small = inbound("resident@example.org", "How do I appeal?", passing("example.org"))
    big = small + b"x" * 76 + (b"\r\n" + b"x" * 76) * (25 * 1024 * 1024 // 78)
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=60) as smtp:
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:  # smtplib declares SIZE=, refused at MAIL
            smtp.sendmail("resident@example.org", [OWN], big)
        assert declared.value.smtp_code == 552
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=60) as smtp:  # a client that declares no size
        smtp.ehlo()
        assert smtp.mail("resident@example.org")[0] == 250
        assert smtp.rcpt(OWN)[0] == 250
        assert smtp.data(big)[0] == 552
    listener.settle()
    assert not any(listener.mail.rglob("*.eml")), "a refused message must not be half-spooled"
    refusals = [r.getMessage() for r in caplog.records if "refused a message from [EMAIL]" in r.getMessage()]
    assert len(refusals) == 2 and all("nothing was spooled" in text for text in refusals)
    assert not any("resident@example.org" in r.getMessage() for r in caplog.records), "a log line named the sender"
