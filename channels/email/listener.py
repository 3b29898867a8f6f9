"""The inbound SMTP listener: every accepted message is spooled to disk first, then answered by a worker.

A message is acknowledged (250) only once it is on disk, so none is lost if Rasa or the outbound SMTP
server is down: the worker keeps it in `inbox/` and tries again. Spool under `<DATA_DIR>/mail/`:

    inbox/<id>.eml, inbox/<id>.json    waiting (raw message, envelope sender)
    done/  skipped/  failed/            where each ends: a .json note of what happened (failed/ keeps the .eml)

A message is deleted once it is answered, and once it is skipped (a loop, a sender our mail server did not
authenticate, a sender past the rate limit): only its note stays, with the reason, and with the sender as
`<hash>@domain` (channels.privacy.mask_email), never the address or the text (docs/adr/0011-personal-data.md).
A message that failed keeps its .eml in `failed/` for an operator, until the retention purge. One over
MAX_MESSAGE_BYTES is refused with 552 before anything is spooled: the sending server keeps it and tells its
sender, and the listener logs the refusal. The rate limiter lives in the listener's memory, counts masked
addresses, and is seeded from `done/` at start.

Each message is also written to the inbound journal (channels.store `inbound_messages`) under its sender and
Message-ID before it is answered, and marked once its reply is queued: a second copy of one message (a sending
server's retry after a lost 250, a provider's webhook sent twice) is skipped as a duplicate, not answered
twice (docs/adr/0018-inbound-journal.md).

A reply (plain text and HTML, rendered from the same Answers) goes into the email outbox, keyed by the spool
id so that a message answered twice after a crash is queued once; the outbox's sender loop, started here too,
delivers it (channels/email/outbox.py). POST /email/inbound puts a provider's raw message into the same spool.
A message that brings a continuation code joins the sender to that web conversation (channels/continuation.py).
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.answers import (
    Answer,
    email_update_note,
    events_to_record,
    render_email,
    render_email_html,
)
from channels.continuation import JOINED, Redeemed, conversation_for, redeem
from channels.degraded import responder_for
from channels.email.guard import ReplyLimiter, auth_refusal
from channels.email.outbox import queue_email, start_sender
from channels.email.read import InboundMail, read_mail
from channels.email.send import build_reply
from channels.observability.metrics import count_turn, observe_reply
from channels.observability.requests import new_request_id
from channels.privacy import mask_email, pseudonym, redact, warm_up
from channels.rasa_client import RasaClient, RasaUnavailable
from channels.review.deps import review_store_for
from channels.review.optin import opt_in_email
from channels.settings import Settings
from channels.store import ChannelStore
from content_sync.logs import bind_request_id

log = logging.getLogger("channels.email")
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
SPOOL_PURGE_EVERY = 24 * 3600.0  # seconds between the spool's retention purges
NO_QUESTION = (
    "Thank you for your email. I couldn't find a question in it, so I can't look anything up yet. "
    "Please reply with your question written in the message, and I'll answer from our published guidance."
)
ATTACHMENTS = {
    False: "I can't open attachments, so I have read only the text of your email.",
    True: "No puedo abrir archivos adjuntos, así que solo he leído el texto de su correo.",
}


class SizeLoggingSMTP(SMTP):
    """aiosmtpd's SMTP server, logging each message it refuses for its size (552)."""

    mail_arg = ""

    async def smtp_MAIL(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's command hook
        self.mail_arg = arg or ""  # a SIZE= refusal comes before the envelope has a sender
        await super().smtp_MAIL(arg)

    async def push(self, status: AnyStr) -> None:
        text = status if isinstance(status, str) else status.decode("ascii", "replace")
        if text.startswith("552"):
            sender = (self.envelope.mail_from if self.envelope else None) or "".join(
                re.findall(r"<([^<>]{0,320})>", self.mail_arg)[:1]
            )
            log.warning(
                "refused a message from %s over %s bytes (%s); nothing was spooled, the sending server "
                "keeps it and tells its sender",
                redact(sender),
                self.data_size_limit,
                text,
            )
        await super().push(status)


class ListenerController(Controller):
    """The aiosmtpd controller, with the size-logging server."""

    def factory(self) -> SMTP:
        return SizeLoggingSMTP(self.handler, **self.SMTP_kwargs)


def spool_age(msg_id: str) -> float:
    """Seconds since the message with spool id `msg_id` was accepted (the id starts with that time)."""
    try:
        accepted = calendar.timegm(time.strptime(msg_id[:15], "%Y%m%dT%H%M%S")) + int(msg_id[15:24]) / 1e9
    except ValueError:
        return 0.0
    return max(0.0, time.time() - accepted)


class Spool:
    """Folders that hold each message from acceptance to its end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in ("inbox", "done", "skipped", "failed", "tmp"):
            (root / name).mkdir(parents=True, exist_ok=True)

    def put(self, raw: bytes, envelope_from: str) -> str:
        """Store a message durably; only then may SMTP say 250."""
        now = time.time_ns()  # ids sort in arrival order, so the worker answers (and rate-limits) in that order
        msg_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 10**9)) + f"{now % 10**9:09d}-{uuid.uuid4().hex[:8]}"
        tmp = self.root / "tmp" / msg_id
        with open(f"{tmp}.eml", "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        Path(f"{tmp}.json").write_text(json.dumps({"envelope_from": envelope_from}))
        os.replace(f"{tmp}.json", self.root / "inbox" / f"{msg_id}.json")
        os.replace(f"{tmp}.eml", self.root / "inbox" / f"{msg_id}.eml")
        return msg_id

    def waiting(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "inbox").glob("*.eml"))

    def read(self, msg_id: str) -> tuple[bytes, dict[str, Any]]:
        raw = (self.root / "inbox" / f"{msg_id}.eml").read_bytes()
        meta_path = self.root / "inbox" / f"{msg_id}.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"envelope_from": ""}
        return raw, meta

    def note(self, msg_id: str, meta: dict[str, Any]) -> None:
        """Replace a waiting message's notes (atomically)."""
        tmp = self.root / "tmp" / f"{msg_id}.json"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self.root / "inbox" / f"{msg_id}.json")

    def finish(self, msg_id: str, where: str, note: dict[str, Any], keep_message: bool = False) -> None:
        """End a message in `where` with its note; the message itself is deleted unless `keep_message`."""
        (self.root / where / f"{msg_id}.json").write_text(json.dumps(note, indent=1))
        if keep_message:
            shutil.move(self.root / "inbox" / f"{msg_id}.eml", self.root / where / f"{msg_id}.eml")
        else:
            (self.root / "inbox" / f"{msg_id}.eml").unlink(missing_ok=True)
        (self.root / "inbox" / f"{msg_id}.json").unlink(missing_ok=True)

    def purge_older_than(self, days: int, now: float | None = None) -> int:
        """Delete finished messages and notes older than `days` days (RETENTION_DAYS); how many files went."""
        cutoff = (time.time() if now is None else now) - days * 86400
        gone = 0
        for where in ("done", "skipped", "failed"):
            for path in (self.root / where).iterdir():
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        gone += 1
                except OSError:
                    continue  # removed meanwhile
        return gone


class InboundHandler:
    """aiosmtpd handler: accepts mail for EMAIL_FROM only, and spools it."""

    def __init__(self, spool: Spool, address: str, wake: threading.Event) -> None:
        self.spool = spool
        self.address = address.lower()
        self.wake = wake

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() != self.address:
            return f"550 5.1.1 <{address}>: this assistant only takes mail for <{self.address}>"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode("utf-8", "replace")
        msg_id = self.spool.put(raw, envelope.mail_from or "")
        log.info("accepted message %s", msg_id)
        self.wake.set()
        return "250 2.0.0 Message accepted; the answer will come by email"


class Answerer:
    """Works through the spool: asks Rasa, records what it could not answer, sends the reply, and keeps what
    could not be done yet.
    """

    def __init__(
        self,
        settings: Settings,
        spool: Spool,
        store: ChannelStore | None = None,
        outbox_wake: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.outbox_wake = outbox_wake or threading.Event()  # wakes the outbox's sender when a reply is queued
        self.rasa = RasaClient(settings.rasa_url, settings.rasa_token.get_secret_value())
        self.privacy_key = settings.privacy_key.get_secret_value()
        self.store = store if store is not None else ChannelStore(settings.database_url, privacy_key=self.privacy_key)
        self.limiter = ReplyLimiter(settings.rate_limit_per_session)
        self.limiter.seed(spool.root / "done")
        self._journal_row: int | None = None  # the journal row of the message being answered

    def _journal(self, msg_id: str, mail: InboundMail) -> int | None:
        """Write the message to the inbound journal under its sender and Message-ID (the spool id when it has
        none); its row id, or None when another copy of it was answered or is being answered.
        """
        key = self.store.inbound_key("email", f"{mail.sender.lower()}\n{mail.message_id or 'spool:' + msg_id}")
        wrote, row = self.store.journal_inbound("email", key, ref=msg_id)
        if wrote or row["ref"] == msg_id:  # new, or this copy again (after a crash, or while Rasa was down)
            return int(row["id"])
        if self.store.take_over_inbound(int(row["id"]), self.settings.inbound_lease_seconds, ref=msg_id):
            return int(row["id"])  # the other copy failed, or expired unanswered
        return None

    def process(self, msg_id: str) -> bool:
        """Handle one message; False means keep it and try again later. Nothing here may kill the worker."""
        try:
            with bind_request_id(new_request_id()):  # its log lines, Rasa's and the action's carry it
                return self._process(msg_id)
        except Exception as exc:
            log.error("message %s failed: %s", msg_id, type(exc).__name__)  # the text may quote the message
            self.spool.finish(msg_id, "failed", {"error": redact(f"{type(exc).__name__}: {exc}")}, keep_message=True)
            if self._journal_row is not None:  # another copy of it may be answered
                try:
                    self.store.finish_inbound(self._journal_row, "failed")
                except Exception as journal_exc:
                    log.error("message %s: could not mark it failed in the journal: %s", msg_id, journal_exc)
            return True
        finally:
            self._journal_row = None

    def _reply_body(self, msg_id: str, mail: InboundMail, meta: dict[str, Any]) -> tuple[str, str] | None:
        """The reply's text and HTML, made once: a retry does not ask Rasa again."""
        if meta.get("reply_body") and meta.get("reply_html"):
            return str(meta["reply_body"]), str(meta["reply_html"])
        answers = self._answers(msg_id, mail, meta)
        if answers is None:
            return None
        spanish = next((a.spanish for a in answers if a.lang), False)
        notes = [ATTACHMENTS[spanish]] if mail.has_attachments else []
        later = email_update_note(answers) if meta.get("told_later") else None
        notes = [later, *notes] if later else notes
        body, html = render_email(answers, notes), render_email_html(answers, notes)
        self.spool.note(msg_id, {**meta, "reply_body": body, "reply_html": html})
        return body, html

    def _code(self, msg_id: str, mail: InboundMail, meta: dict[str, Any]) -> Redeemed | None:
        """The continuation code the message brings, used once: a retry reads what came of it from the spool."""
        if "code" in meta:
            return Redeemed(**meta["code"]) if meta["code"] else None
        redeemed = redeem(self.store, self.privacy_key, "email", mail.sender, mail.question)
        meta["code"] = asdict(redeemed) if redeemed else None
        self.spool.note(msg_id, meta)
        return redeemed

    def _answers(self, msg_id: str, mail: InboundMail, meta: dict[str, Any]) -> list[Answer] | None:
        """The Answers to reply with, made here (no question, too long, a continuation code) or by Rasa; None
        while Rasa is unreachable.
        """
        if not mail.question:
            return [Answer(text=NO_QUESTION)]
        if len(mail.question) > self.settings.max_message_chars:
            return [
                Answer(
                    text=f"Thank you for your email. It is longer than I can read ({self.settings.max_message_chars} "
                    "characters at most), so please send your question on its own in a shorter message."
                )
            ]
        question = mail.question
        redeemed = self._code(msg_id, mail, meta)
        if redeemed is not None:
            if redeemed.outcome != JOINED or not redeemed.rest:
                return [Answer(text=redeemed.reply)]
            question = redeemed.rest
        # Rasa knows the customer by a keyed hash of the address, never the address (channels/privacy.py), or
        # by the web conversation the address joined with a continuation code.
        own = pseudonym(self.privacy_key, "email", mail.sender)
        conversation = conversation_for(self.store, self.privacy_key, "email", mail.sender, own)
        try:
            # Rasa's answer, or the same one made from the index while Rasa is down (channels/degraded.py).
            answers = responder_for(self.rasa, self.settings).ask_sync(conversation, question).answers
        except RasaUnavailable as exc:
            log.warning("message %s waits for Rasa: %s", msg_id, exc)
            return None
        self.store.record_events(events_to_record(answers, "email", conversation, question))
        self.store.record_turn("email", conversation, question, answers)
        count_turn("email", answers)  # /metrics (with PROMETHEUS_MULTIPROC_DIR: channels/observability)
        if email_update_note(answers):  # unanswered for now: reply in this thread once a sync answers it
            meta["told_later"] = self._keep_to_tell(mail, conversation)
        return answers

    def _keep_to_tell(self, mail: InboundMail, conversation: str) -> bool:
        """Keep the sender in the review queue, to be told by a reply in this thread (channels/review/optin.py)."""
        review = review_store_for(self.settings.database_url)
        return opt_in_email(
            self.store, review, conversation, mail.sender, mail.message_id or "", mail.references, mail.subject
        )

    def _process(self, msg_id: str) -> bool:
        raw, meta = self.spool.read(msg_id)
        mail = read_mail(raw, meta.get("envelope_from", ""), self.settings.email_from)
        self._journal_row = self._journal(msg_id, mail)
        if self._journal_row is None:
            log.info("message %s not answered: a copy of a message already answered", msg_id)
            masked = mask_email(self.privacy_key, mail.sender)
            self.spool.finish(msg_id, "skipped", {"reason": "duplicate", "from": masked})
            return True
        reason = mail.skip_reason or auth_refusal(mail.auth_results, self.settings.email_authserv_id, mail.sender)
        masked = mask_email(self.privacy_key, mail.sender)  # what the limiter counts and the notes keep
        if not reason and not meta.get("admitted"):
            fingerprint = ReplyLimiter.fingerprint(masked, mail.subject, mail.question)
            reason = self.limiter.admit(masked, fingerprint)
            if not reason:
                meta = {**meta, "admitted": True, "fingerprint": fingerprint}
                self.spool.note(msg_id, meta)
        if reason:
            log.info("message %s not answered: %s", msg_id, reason)
            envelope_from = str(meta.get("envelope_from", ""))
            envelope = mask_email(self.privacy_key, envelope_from) if "@" in envelope_from else envelope_from
            self.store.finish_inbound(self._journal_row, "skipped")
            self.spool.finish(msg_id, "skipped", {"reason": reason, "from": masked, "envelope_from": envelope})
            return True
        reply = self._reply_body(msg_id, mail, meta)
        if reply is None:
            return False
        # Queued under the spool id: answering this message again after a crash cannot queue a second reply.
        body, html = reply
        message = build_reply(mail, body, self.settings.email_from, html)
        outbox_id = queue_email(self.store, message, f"reply:{msg_id}")
        observe_reply("email", spool_age(msg_id))  # /metrics: from acceptance to the reply queued
        self.store.finish_inbound(self._journal_row, "answered")  # before the spool lets go of it
        self.outbox_wake.set()
        done = {"to": masked, "fingerprint": meta.get("fingerprint"), "outbox_id": outbox_id}
        self.spool.finish(msg_id, "done", done)
        log.info("answered message %s (outbox %s)", msg_id, outbox_id)
        return True

    def purge_spool(self) -> int:
        """Delete the spool's finished files older than RETENTION_DAYS; how many. Never raises."""
        try:
            return self.spool.purge_older_than(self.settings.retention_days)
        except OSError as exc:
            log.warning("the spool's retention purge failed (%s); trying again tomorrow", exc)
            return 0

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        """Answer every waiting message in order; one that must wait does not hold up the others."""
        backoff = 1.0
        next_purge = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_purge:  # finished messages' notes (and failed ones) older than RETENTION_DAYS
                self.purge_spool()
                next_purge = time.monotonic() + SPOOL_PURGE_EVERY
            pending = self.spool.waiting()
            waiting = 0
            for msg_id in pending:
                if stop.is_set():
                    break
                waiting += not self.process(msg_id)
            backoff = min(backoff * 2, 30.0) if waiting else 1.0
            wake.wait(backoff if waiting or not pending else 0.1)
            wake.clear()


def serve(settings: Settings, stop: threading.Event) -> Controller:
    """Run the channels' migrations, then start the listener and the answering thread; returns the controller."""
    # migrates to head, before any message is accepted
    store = ChannelStore(settings.database_url, privacy_key=settings.privacy_key.get_secret_value())
    threading.Thread(target=warm_up, name="privacy-warm-up", daemon=True).start()  # redaction, loaded now
    spool = Spool(settings.data_dir / "mail")
    wake = threading.Event()
    controller = ListenerController(
        InboundHandler(spool, settings.email_from, wake),
        hostname=settings.bind_host,
        port=settings.smtp_listen_port,
        data_size_limit=MAX_MESSAGE_BYTES,
        server_hostname="assistant",
    )
    controller.start()
    outbox_wake = start_sender(settings, store, stop)  # delivers the outbox, the gateway's emails too
    threading.Thread(
        target=Answerer(settings, spool, store, outbox_wake).run, args=(stop, wake), daemon=True, name="answerer"
    ).start()
    return controller
