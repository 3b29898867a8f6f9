"""Read an inbound email: who to answer, whether to answer at all, and the question without quotes or signature."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from bs4 import BeautifulSoup

QUOTE_HEADER = re.compile(r"^\s*(On .{3,200} wrote:|-----\s*Original Message\s*-----|From: .+)\s*$", re.I)
SIGN_OFF = re.compile(
    r"^\s*(thanks|thank you|many thanks|regards|kind regards|best regards|best|cheers|sincerely|yours)\b[ ,.!]*$", re.I
)
SUBJECT_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv)\s*:\s*)+", re.I)


@dataclass
class InboundMail:
    """What the assistant needs from one inbound message."""

    sender: str
    subject: str
    message_id: str | None
    references: str
    question: str
    skip_reason: str | None = None


def parse_bytes(raw: bytes) -> EmailMessage:
    """Parse leniently: broken MIME gives what could be read, and defects are not raised."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _body_text(message: EmailMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, LookupError):
        part = None
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset, broken transfer encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        soup = BeautifulSoup(content, "lxml")
        for tag in soup(["script", "style", "blockquote"]):
            tag.decompose()
        content = soup.get_text("\n")
    return content


def question_from_text(text: str) -> str:
    """The new text of a message: stop at quoted history, a signature or a sign-off line."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(">") or QUOTE_HEADER.match(line) or line.rstrip() in ("--", "-- ", "__"):
            break
        if kept and SIGN_OFF.match(line) and any(k.strip() for k in kept):
            break
        kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def skip_reason(message: EmailMessage, envelope_from: str, own_address: str) -> str | None:
    """Why this message must not be answered (auto-replies, bounces, lists, our own mail), or None."""
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if str(message.get("Precedence", "")).strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return "Precedence: bulk/junk/list"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "List-Id"):
        if message.get(header) is not None:
            return f"{header} header"
    if message.get_content_type() == "multipart/report":
        return "delivery report (bounce)"
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    if not envelope_from or envelope_from == "<>":
        return "empty envelope sender (a bounce)"
    local = (sender or envelope_from).split("@")[0]
    if local in ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply"):
        return f"sender {local} does not read replies"
    if own_address and own_address.lower() in (sender, envelope_from.lower()):
        return "mail from the assistant itself"
    return None


def read_mail(raw: bytes, envelope_from: str, own_address: str) -> InboundMail:
    """Everything needed to answer one message, or the reason not to."""
    message = parse_bytes(raw)
    reply_to = getaddresses([str(message.get("Reply-To", ""))])
    from_ = getaddresses([str(message.get("From", ""))])
    sender = next((addr for _, addr in reply_to + from_ if "@" in addr), envelope_from)
    subject = " ".join(str(message.get("Subject", "")).split())
    question = question_from_text(_body_text(message))
    if not question:
        question = SUBJECT_PREFIX.sub("", subject).strip()
    return InboundMail(
        sender=sender,
        subject=subject,
        message_id=str(message["Message-ID"]).strip() if message.get("Message-ID") else None,
        references=" ".join(str(message.get("References", "")).split()),
        question=question,
        skip_reason=skip_reason(message, envelope_from, own_address),
    )
