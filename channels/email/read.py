"""Read an inbound email: who to answer, whether to answer at all, and the question without quotes or signature."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from bs4 import BeautifulSoup
from bs4.element import NavigableString

QUOTE_HEADER = re.compile(r"^\s*(On .{3,200} wrote:|-----\s*Original Message\s*-----|From:.*)\s*$", re.I)
ADDRESS = re.compile(r"^[^@\s<>,;:\"]+@[^@\s<>,;:\"]+\.[^@\s<>,;:\"]+$")
MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s]+>$")
HTML_QUOTES = ("blockquote", ".gmail_quote", ".moz-cite-prefix")
HTML_HISTORY_STARTS = ("#divRplyFwdMsg", "#appendonsend", "hr")  # everything after these is the old thread
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


def _header(message: EmailMessage, name: str) -> str:
    """A header's text; a header the parser rejects (a folded address, a bad encoded word) comes back raw."""
    try:
        return str(message.get(name, ""))
    except (ValueError, IndexError, TypeError, LookupError):
        return next((str(v) for k, v in message.raw_items() if k.lower() == name.lower()), "")


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
        for tag in soup(["script", "style"]):
            tag.decompose()
        for selector in HTML_QUOTES:
            for tag in soup.select(selector):
                tag.decompose()
        for selector in HTML_HISTORY_STARTS:
            for tag in soup.select(selector):
                tag.replace_with(NavigableString("\n-----Original Message-----\n"))
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
    auto = (_header(message, "Auto-Submitted") or "no").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if _header(message, "Precedence").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return "Precedence: bulk/junk/list"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "List-Id"):
        if header in message:
            return f"{header} header"
    if message.get_content_type() == "multipart/report":
        return "delivery report (bounce)"
    sender = parseaddr(_header(message, "From"))[1].lower()
    if not envelope_from or envelope_from == "<>":
        return "empty envelope sender (a bounce)"
    local = (sender or envelope_from).split("@")[0]
    if local in ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply"):
        return f"sender {local} does not read replies"
    if own_address and own_address.lower() in (sender, envelope_from.lower()):
        return "mail from the assistant itself"
    return None


def read_mail(raw: bytes, envelope_from: str, own_address: str) -> InboundMail:
    """Everything needed to answer one message, or the reason not to.

    The reply goes to the From address (or the envelope sender), never to Reply-To: a reply is only ever
    sent back to whoever the message says sent it.
    """
    message = parse_bytes(raw)
    from_ = _header(message, "From")
    bracketed = re.findall(r"<([^<>\s]+)>", from_)
    candidates = bracketed + [addr for _, addr in getaddresses([from_])] + [envelope_from]
    sender = next((addr for addr in candidates if ADDRESS.match(addr or "")), "")
    subject = " ".join(_header(message, "Subject").split())
    question = question_from_text(_body_text(message))
    if not question:
        question = SUBJECT_PREFIX.sub("", subject).strip()
    message_id = _header(message, "Message-ID").strip()
    references = " ".join(ref for ref in _header(message, "References").split() if MESSAGE_ID.match(ref))
    reason = skip_reason(message, envelope_from, own_address)
    return InboundMail(
        sender=sender,
        subject=subject,
        message_id=message_id if MESSAGE_ID.match(message_id) else None,
        references=references,
        question=question,
        skip_reason=reason or (None if sender else "no valid sender address to answer"),
    )
