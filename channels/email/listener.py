"""The inbound SMTP listener: every accepted message is spooled to disk first, then answered by a worker.

A message is acknowledged (250) only once it is on disk, so none is lost if Rasa or the outbound SMTP
server is down: the worker keeps it in `inbox/` and tries again. Spool under `<DATA_DIR>/mail/`:

    inbox/<id>.eml, inbox/<id>.json    waiting (raw message, envelope sender)
    done/  skipped/  failed/            where each ends, with a .json note of what happened

A message that is not answered (a loop, a sender our mail server did not authenticate, a sender past the
rate limit) is kept in `skipped/` with its reason. One over MAX_MESSAGE_BYTES is refused with 552 before
anything is spooled: the sending server keeps it and tells its sender, and the listener logs the refusal.
The rate limiter lives in the listener's memory and is seeded from `done/` at start.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import smtplib
import threading
import time
import uuid
from pathlib import Path
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.answers import answers_from_rasa, events_to_record, render_email
from channels.email.guard import ReplyLimiter, auth_refusal
from channels.email.read import InboundMail, read_mail
from channels.email.send import build_reply, send_message
from channels.rasa_client import RasaClient, RasaUnavailable
from channels.settings import Settings
from channels.store import ChannelStore

log = logging.getLogger("channels.email")
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
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
                "refused a message from <%s> over %s bytes (%s); nothing was spooled, the sending server "
                "keeps it and tells its sender",
                sender,
                self.data_size_limit,
                text,
            )
        await super().push(status)


class ListenerController(Controller):
    """The aiosmtpd controller, with the size-logging server."""

    def factory(self) -> SMTP:
        return SizeLoggingSMTP(self.handler, **self.SMTP_kwargs)


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

    def finish(self, msg_id: str, where: str, note: dict[str, Any]) -> None:
        shutil.move(self.root / "inbox" / f"{msg_id}.eml", self.root / where / f"{msg_id}.eml")
        (self.root / where / f"{msg_id}.json").write_text(json.dumps(note, indent=1))
        (self.root / "inbox" / f"{msg_id}.json").unlink(missing_ok=True)


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
        log.info("accepted message %s from <%s>", msg_id, envelope.mail_from)
        self.wake.set()
        return "250 2.0.0 Message accepted; the answer will come by email"


class Answerer:
    """Works through the spool: asks Rasa, records what it could not answer, sends the reply, and keeps what
    could not be done yet.
    """

    def __init__(self, settings: Settings, spool: Spool, store: ChannelStore | None = None) -> None:
        self.settings = settings
        self.spool = spool
        self.rasa = RasaClient(settings.rasa_url, settings.rasa_token.get_secret_value())
        self.store = store if store is not None else ChannelStore(settings.database_url)
        self.limiter = ReplyLimiter(settings.rate_limit_per_session)
        self.limiter.seed(spool.root / "done")

    def process(self, msg_id: str) -> bool:
        """Handle one message; False means keep it and try again later. Nothing here may kill the worker."""
        try:
            return self._process(msg_id)
        except Exception as exc:
            log.exception("message %s failed", msg_id)
            self.spool.finish(msg_id, "failed", {"error": f"{type(exc).__name__}: {exc}"})
            return True

    def _reply_body(self, msg_id: str, mail: InboundMail, meta: dict[str, Any]) -> str | None:
        """The reply's text, made once: a retry after an SMTP failure does not ask Rasa again."""
        if meta.get("reply_body"):
            return str(meta["reply_body"])
        spanish = False
        if not mail.question:
            body = NO_QUESTION
        elif len(mail.question) > self.settings.max_message_chars:
            body = (
                f"Thank you for your email. It is longer than I can read ({self.settings.max_message_chars} "
                "characters at most), so please send your question on its own in a shorter message."
            )
        else:
            conversation = f"email:{mail.sender.lower()}"
            try:
                answers = answers_from_rasa(self.rasa.send_sync(conversation, mail.question))
            except RasaUnavailable as exc:
                log.warning("message %s waits for Rasa: %s", msg_id, exc)
                return None
            self.store.record_events(events_to_record(answers, "email", conversation, mail.question))
            body = render_email(answers)
            spanish = next((a.spanish for a in answers if a.lang), False)
        if mail.has_attachments:
            body = body.rstrip("\n") + "\n\n" + ATTACHMENTS[spanish] + "\n"
        self.spool.note(msg_id, {**meta, "reply_body": body})
        return body

    def _process(self, msg_id: str) -> bool:
        raw, meta = self.spool.read(msg_id)
        mail = read_mail(raw, meta.get("envelope_from", ""), self.settings.email_from)
        reason = mail.skip_reason or auth_refusal(mail.auth_results, self.settings.email_authserv_id, mail.sender)
        if not reason and not meta.get("admitted"):
            fingerprint = ReplyLimiter.fingerprint(mail.sender, mail.subject, mail.question)
            reason = self.limiter.admit(mail.sender, fingerprint)
            if not reason:
                meta = {**meta, "admitted": True, "fingerprint": fingerprint}
                self.spool.note(msg_id, meta)
        if reason:
            log.info("message %s from <%s> not answered: %s", msg_id, mail.sender, reason)
            note = {"reason": reason, "from": mail.sender, "envelope_from": meta.get("envelope_from", "")}
            self.spool.finish(msg_id, "skipped", note)
            return True
        body = self._reply_body(msg_id, mail, meta)
        if body is None:
            return False
        try:
            send_message(self.settings, build_reply(mail, body, self.settings.email_from))
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            log.warning("message %s: the reply was refused for good: %s", msg_id, exc)
            self.spool.finish(msg_id, "failed", {"to": mail.sender, "error": f"refused: {exc}"})
            return True
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                self.spool.finish(msg_id, "failed", {"to": mail.sender, "error": f"SMTP {exc.smtp_code}: {exc}"})
                return True
            log.warning("message %s waits for the outbound SMTP server: %s", msg_id, exc)
            return False
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("message %s waits for the outbound SMTP server: %s", msg_id, exc)
            return False
        done = {"to": mail.sender, "question": mail.question[:500], "fingerprint": meta.get("fingerprint")}
        self.spool.finish(msg_id, "done", done)
        log.info("answered message %s to <%s>", msg_id, mail.sender)
        return True

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        """Answer every waiting message in order; one that must wait does not hold up the others."""
        backoff = 1.0
        while not stop.is_set():
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
    store = ChannelStore(settings.database_url)  # migrates to head, before any message is accepted
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
    threading.Thread(
        target=Answerer(settings, spool, store).run, args=(stop, wake), daemon=True, name="answerer"
    ).start()
    return controller
