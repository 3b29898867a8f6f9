"""The email outbox: every email the assistant sends waits in `email_outbox`, and a sender loop in the email
process delivers it through SMTP_HOST:SMTP_PORT with aiosmtplib, once.

A sender claims a row with one atomic update (state `sending`, its own claim token, a LEASE), sends the stored
message (its Message-ID fixed when it was made), and marks it `sent` at once, under that token. While the SMTP
server is down or answers 4xx the row waits, tried again with backoff (1 s doubling to MAX_BACKOFF). A 5xx for
this message marks it `failed` with the server's words; so does MAX_AGE without delivery. A sender that died
holding a row loses it after LEASE, and another sends it again: the same bytes, the same Message-ID.

That is the one window for a duplicate (at least once): the SMTP server said 250, and the process died before
the `sent` update committed (a few milliseconds; nothing else happens between them). The resend has the
same Message-ID, which mail clients and many servers use to drop the copy. See docs/adr/0012-email-outbox.md.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

import aiosmtplib

from channels.privacy import redact
from channels.settings import Settings
from channels.store import ChannelStore

log = logging.getLogger("channels.email.outbox")
LEASE = 300.0  # seconds a claim is held: well past SMTP_TIMEOUT for each step of one delivery
SMTP_TIMEOUT = 30.0  # seconds for each SMTP step (connect, each command, the data)
MAX_BACKOFF = 60.0  # seconds between tries, at most, while the SMTP server is down
MAX_AGE = timedelta(days=5)  # undelivered for this long (RFC 5321's suggestion): failed, given up
POLL_EVERY = 1.0  # seconds between looks at the table when nothing wakes the loop
SMTP_POLICY = policy.SMTP.clone(cte_type="7bit")  # 7-bit safe: no server needs 8BITMIME


def message_bytes(message: EmailMessage) -> bytes:
    """The message as sent: CRLF line ends, 7-bit (non-ASCII headers and bodies encoded)."""
    return message.as_bytes(policy=SMTP_POLICY)


def queue_email(store: ChannelStore, message: EmailMessage, dedupe_key: str, envelope_from: str | None = None) -> int:
    """Put a finished message (From, To, Subject and Message-ID set) in the outbox; the row's id.

    `dedupe_key` names what the email is for: queueing the same key again is a no-op, so a step redone after
    a crash cannot send twice. The envelope sender is `envelope_from`, else the From address.
    """
    message_id = str(message["Message-ID"] or "").strip()
    recipients = [addr for _, addr in getaddresses([str(v) for v in message.get_all("To", [])]) if addr]
    sender = envelope_from or next((addr for _, addr in getaddresses([str(message["From"] or "")]) if addr), "")
    if not message_id or len(recipients) != 1 or not sender:
        raise ValueError("an outbox email needs a Message-ID, exactly one To address and a From address")
    subject = str(message["Subject"] or "")
    return store.enqueue_email(dedupe_key, message_id, recipients[0], sender, subject, message_bytes(message))


def _backoff(attempts: int) -> float:
    return float(min(2 ** max(attempts - 1, 0), MAX_BACKOFF))


def _permanent(exc: Exception) -> str | None:
    """The reason a refusal is final for this message (a 5xx about its sender, recipient or content), or None
    for everything worth trying again (4xx, connection trouble, and server-wide 5xx such as a failed login).
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        if codes and all(code >= 500 for code in codes):
            return "; ".join(f"SMTP {r.code} for <{r.recipient}>: {r.message}" for r in exc.recipients)
        return None
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError) and (
        exc.code >= 500
    ):
        return f"SMTP {exc.code}: {exc.message}"
    return None


class OutboxSender:
    """Claims due rows and delivers them; many senders (processes, threads) may share one table."""

    def __init__(self, settings: Settings, store: ChannelStore) -> None:
        self.settings = settings
        self.store = store

    async def _deliver(self, row: dict[str, Any]) -> str:
        _, response = await aiosmtplib.send(
            row["raw"],
            sender=row["sender"],
            recipients=[row["recipient"]],
            hostname=self.settings.smtp_host,
            port=self.settings.smtp_port,
            username=self.settings.smtp_username or None,
            password=self.settings.smtp_password.get_secret_value() or None,
            start_tls=self.settings.smtp_starttls,  # False: never upgrade unasked (None would upgrade when offered)
            timeout=SMTP_TIMEOUT,
        )
        return str(response)

    async def send_row(self, row: dict[str, Any], token: str) -> str:
        """Deliver one claimed row; its new state (sent, queued or failed)."""
        row_id = row["id"]
        try:
            response = await self._deliver(row)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return self._after_failure(row, token, exc)
        if not self.store.mark_email_sent(row_id, token, response):  # right after the 250: the window is this
            log.error("outbox %s: sent, but its claim was taken over (lease ran out); it may be sent twice", row_id)
        else:
            log.info("outbox %s: sent %s (%s)", row_id, row["message_id"], redact(response))  # no address in logs
        return "sent"

    def _after_failure(self, row: dict[str, Any], token: str, exc: Exception) -> str:
        row_id, error = row["id"], f"{type(exc).__name__}: {exc}"
        reason = _permanent(exc)
        if reason:
            log.warning("outbox %s failed for good: %s", row_id, redact(reason))
            self.store.fail_email(row_id, token, reason)
            return "failed"
        now = datetime.now(UTC)
        if now - row["created_at"] > MAX_AGE:
            log.warning("outbox %s: given up after %s: %s", row_id, MAX_AGE, redact(error))
            self.store.fail_email(row_id, token, f"not delivered in {MAX_AGE.days} days; last error: {error}")
            return "failed"
        wait = _backoff(row["attempts"])
        log.warning(
            "outbox %s waits for the SMTP server at %s:%s (attempt %s; next in %.0f s): %s",
            row_id,
            self.settings.smtp_host,
            self.settings.smtp_port,
            row["attempts"],
            wait,
            redact(error),
        )
        self.store.retry_email(row_id, token, error, now + timedelta(seconds=wait))
        return "queued"

    async def send_due(self) -> int:
        """One pass: claim and deliver every row that is due; how many were claimed."""
        claimed = 0
        for row_id in self.store.due_emails(LEASE):
            token = uuid.uuid4().hex
            row = self.store.claim_email(row_id, token, LEASE)
            if row is None:
                continue  # another sender took it first
            claimed += 1
            await self.send_row(row, token)
        return claimed

    async def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """Send until `stop` is set; `wake` (set when a row is queued in this process) ends a wait early."""
        wake = wake or threading.Event()
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                busy = await self.send_due()
            except Exception:
                log.exception("outbox: a pass failed; trying again in %.0f s", POLL_EVERY)
                busy = 0
            if not busy:
                await loop.run_in_executor(None, wake.wait, POLL_EVERY)
                wake.clear()

    def run_forever(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """`run` on this thread's own event loop (the email process runs it on a thread of its own)."""
        asyncio.run(self.run(stop, wake))


def start_sender(settings: Settings, store: ChannelStore, stop: threading.Event) -> threading.Event:
    """Start the sender loop on its own thread; the event that wakes it when a row is queued.

    The thread is not a daemon: once `stop` is set, a delivery under way finishes and is marked before the
    process exits, so a clean shutdown never leaves the window of a duplicate open.
    """
    wake = threading.Event()
    sender = OutboxSender(settings, store)
    threading.Thread(target=sender.run_forever, args=(stop, wake), daemon=False, name="outbox").start()
    return wake
