"""Read an inbound email: who to answer, whether to answer at all, and the question without quotes or signature.

The text is the plain part, else the HTML part sanitised by nh3 and read as text. Quoted history and signatures
go in two passes: mail-parser-reply (its English and Spanish reply headers and sign-offs), then our own
line rules, which also catch a Spanish "El ... escribió:" header wrapped over two lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

import nh3
from bs4 import BeautifulSoup
from bs4.element import NavigableString
from mailparser_reply.parser import EmailMessage as ReplyText

QUOTE_HEADER = re.compile(
    r"^\s*(On .{3,200} wrote:|El .{3,200} escribi[oó]:"
    r"|-----\s*(Original Message|Mensaje original)\s*-----|From:.*)\s*$",
    re.I,
)
WROTE_START = re.compile(r"^\s*(On|El)\s", re.I)  # a reply header that a client may wrap onto a second line
HTML_TAGS = {"p", "br", "div", "span", "blockquote", "hr", "li", "ul", "ol", "table", "tr", "td", "th", "pre"}
HTML_TAGS |= {"h1", "h2", "h3", "h4", "h5", "h6"}
HTML_DROPPED = {"script", "style", "title", "noscript", "template"}  # removed with their content
TEXT_READ_CHARS = 200_000  # the new text comes first; a longer message is refused as too long anyway
NOT_ANSWERED_BY = ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply")
ADDRESS = re.compile(r"^[^@\s<>,;:\"]+@[^@\s<>,;:\"]+\.[^@\s<>,;:\"]+$")
MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s]+>$")
HTML_QUOTES = ("blockquote", ".gmail_quote", ".moz-cite-prefix")
HTML_HISTORY_STARTS = ("#divRplyFwdMsg", "#appendonsend", "hr")  # everything after these is the old thread
SIGN_OFF = re.compile(
    r"^\s*(thanks|thank you|many thanks|regards|kind regards|best regards|best|cheers|sincerely|yours"
    r"|gracias|muchas gracias|saludos|un saludo|saludos cordiales|un cordial saludo|atentamente|cordialmente)"
    r"\b[ ,.!]*$",
    re.I,
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
    auth_results: tuple[str, ...] = ()  # the Authentication-Results values, top first
    has_attachments: bool = False


def _header(message: EmailMessage, name: str) -> str:
    """A header's text; a header the parser rejects (a folded address, a bad encoded word) comes back raw."""
    try:
        return str(message.get(name, ""))
    except (ValueError, IndexError, TypeError, LookupError):
        return next((str(v) for k, v in message.raw_items() if k.lower() == name.lower()), "")


def _all_headers(message: EmailMessage, name: str) -> list[str]:
    """Every value of a header, top first, as text; one the parser rejects comes back raw."""
    values = []
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            try:
                values.append(str(value))
            except (ValueError, IndexError, TypeError, LookupError):
                continue
    return values


def parse_bytes(raw: bytes) -> EmailMessage:
    """Parse leniently: broken MIME gives what could be read, and defects are not raised."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _decode(payload: bytes, charset: str | None) -> str:
    """Bytes in a declared charset, else UTF-8, else Windows-1252: an odd or wrong label never loses the text."""
    for name in (charset, "utf-8", "cp1252"):
        if not name:
            continue
        try:
            return payload.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


def _part_text(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset, broken transfer encoding
        content = None
    if isinstance(content, str) and "\ufffd" not in content:
        return content
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return content if isinstance(content, str) else ""
    try:
        return payload.decode("utf-8")  # mislabelled UTF-8 (declared ASCII or Latin-1) is common
    except UnicodeDecodeError:
        return content if isinstance(content, str) else _decode(payload, part.get_content_charset())


def html_to_text(html: str) -> str:
    """HTML sanitised by nh3 (no scripts, styles, links or images), quoted history removed, as plain text."""
    clean = nh3.clean(
        html,
        tags=HTML_TAGS,
        clean_content_tags=HTML_DROPPED,
        attributes={"*": {"id", "class"}},
        strip_comments=True,
        link_rel=None,
    )
    soup = BeautifulSoup(clean, "lxml")
    for selector in HTML_QUOTES:
        for tag in soup.select(selector):
            tag.decompose()
    for selector in HTML_HISTORY_STARTS:
        for tag in soup.select(selector):
            tag.replace_with(NavigableString("\n-----Original Message-----\n"))
    return soup.get_text("\n")


def has_attachments(message: EmailMessage) -> bool:
    """Whether the message carries anything besides its text: files, images, other messages."""
    for part in message.walk():
        if part.is_multipart():
            continue
        if part.is_attachment() or part.get_content_maintype() != "text":
            return True
    return False


def _body_text(message: EmailMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, LookupError):
        part = None
    if part is None:
        return ""
    content = _part_text(part)
    if part.get_content_type() == "text/html":
        content = html_to_text(content)
    return content


def question_from_text(text: str) -> str:
    """The new text of a message: stop at quoted history, a signature or a sign-off line (English or Spanish)."""
    text = text[:TEXT_READ_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    if text.strip():
        replies = ReplyText(text=text, languages=["en", "es"], keep_hyphen_lists=True).read().replies
        if replies:
            text = replies[0].body
    lines = text.split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        wrapped = f"{line} {lines[i + 1]}" if i + 1 < len(lines) and WROTE_START.match(line) else ""
        if line.startswith(">") or QUOTE_HEADER.match(line) or (wrapped and QUOTE_HEADER.match(wrapped)):
            break
        if line.rstrip() in ("--", "-- ", "__"):
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
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "List-Id", "List-Unsubscribe"):
        if header in message:
            return f"{header} header"
    if message.get_content_type() == "multipart/report":
        return "delivery report (bounce)"
    sender = parseaddr(_header(message, "From"))[1].lower()
    if not envelope_from or envelope_from == "<>":
        return "empty envelope sender (a bounce)"
    envelope = envelope_from.strip("<>").lower()
    for address in (sender, envelope):
        local = address.split("@")[0].split("+")[0]
        if local in NOT_ANSWERED_BY:
            return f"sender {local} does not read replies"
    if own_address and own_address.lower() in (sender, envelope):
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
        auth_results=tuple(_all_headers(message, "Authentication-Results")),
        has_attachments=has_attachments(message),
    )
