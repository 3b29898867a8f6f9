"""SMS text rules, pure: segment counting (GSM-7 or UCS-2), fitting a reply into two segments, keywords.

A message written only in the GSM-7 alphabet costs 7 bits a character: one segment holds 160, and a
concatenated message 153 per segment; the extension table's characters (`^{}[]~|\\€` and form feed) take an
escape, so count 2. Any other character makes the whole message UCS-2: 70 UTF-16 units in one segment, 67 per
segment once concatenated, an emoji (a surrogate pair) counting 2. A segment never splits an escape or a pair.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

from channels.answers import Answer, render_sms

MAX_INBOUND_CHARS = 1600  # Twilio's own limit for one inbound message
MAX_SEGMENTS = 2

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
Keyword = Literal["stop", "start", "help"]

SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
URL = re.compile(r"https?://\S+")


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 alphabet (basic or extension table)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def _units(text: str) -> list[int]:
    """The cost of each character: septets for GSM-7 text, UTF-16 code units for UCS-2 text."""
    if is_gsm7(text):
        return [2 if ch in GSM7_EXTENDED else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def segment_count(text: str) -> int:
    """How many SMS segments `text` is sent as (an empty message is one segment)."""
    units = _units(text)
    single, multi = (160, 153) if is_gsm7(text) else (70, 67)
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for cost in units:  # a character never straddles two segments
        if used + cost > multi:
            segments, used = segments + 1, 0
        used += cost
    return segments


def keyword(body: str) -> Keyword | None:
    """The opt-out, opt-in or help keyword that `body` is (one word, any case, trailing punctuation ignored)."""
    word = body.strip().rstrip(".!?").strip().upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def inbound_problem(body: str) -> str | None:
    """The reply for a message that cannot be asked (empty, or over Twilio's 1,600 characters); None if fine."""
    if not body.strip():
        return "Please text your question about our services, and I'll look it up in our published guidance."
    if len(body) > MAX_INBOUND_CHARS:
        return (
            f"That message is too long for me ({len(body)} characters). "
            f"Please send a shorter question, under {MAX_INBOUND_CHARS} characters."
        )
    return None


def first_sentence(text: str) -> str:
    """The first sentence of `text` (or its first line)."""
    line = text.strip().split("\n", 1)[0]
    return SENTENCE_END.split(line, 1)[0]


def fit_reply(
    render: Callable[[int], str],
    max_chars: int,
    keep: Sequence[str] = (),
    max_segments: int = MAX_SEGMENTS,
    shortest: str | None = None,
) -> list[str]:
    """The SMS messages for one reply: one message of at most `max_segments` segments where possible.

    `render(limit)` makes the reply within `limit` characters (shortened to whole sentences); `keep` lists what
    must survive shortening (the sentence that answers, the full source URL); `shortest`, if given, is the
    last try (just that sentence and the URL). When nothing fits and keeps them, the full reply is split at
    sentence boundaries into numbered messages, "(1/2) ...".
    """
    full = render(max_chars)
    if segment_count(full) <= max_segments:
        return [full]
    for limit in range(min(len(full), max_chars) - 1, 59, -4):
        text = render(limit)
        if segment_count(text) <= max_segments and all(piece in text for piece in keep):
            return [text]
    if shortest is not None and segment_count(shortest) <= max_segments and all(p in shortest for p in keep):
        return [shortest]
    return split_reply(full, max_segments)


def _pieces(text: str) -> list[tuple[str, str]]:
    """(joiner, piece) pairs: sentences, and lines holding a URL kept whole; joiner is what came before."""
    pieces: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if not line.strip():
            if pieces:
                pieces.append(("\n", ""))
            continue
        parts = [line] if URL.search(line) else SENTENCE_END.split(line)
        for n, part in enumerate(parts):
            pieces.append(("" if not pieces else " " if n else "\n", part))
    return pieces


def _words_fitting(piece: str, fits: Callable[[str], bool]) -> list[str]:
    """Cut a piece too long for one message at spaces (a URL is never cut)."""
    if fits(piece) or URL.fullmatch(piece.strip()):
        return [piece]
    out, current = [], ""
    for word in piece.split(" "):
        trial = f"{current} {word}" if current else word
        if current and not fits(trial):
            out.append(current)
            current = word
        else:
            current = trial
    return [*out, current] if current else out


def split_reply(text: str, max_segments: int = MAX_SEGMENTS) -> list[str]:
    """`text` as numbered messages "(i/n) ...", each within `max_segments` segments, cut between sentences."""
    prefix_room = "(99/99) "

    def fits(body: str) -> bool:
        return segment_count(prefix_room + body) <= max_segments

    pieces: list[tuple[str, str]] = []
    for joiner, piece in _pieces(text):
        for i, part in enumerate(_words_fitting(piece, fits)):
            pieces.append((joiner if i == 0 else " ", part))
    parts: list[str] = []
    current = ""
    for joiner, piece in pieces:
        trial = current + joiner + piece if current else piece
        if current and not fits(trial.strip()):
            parts.append(current.strip())
            current = piece
        else:
            current = trial
    if current.strip():
        parts.append(current.strip())
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return parts or [text]
    return [f"({i}/{len(parts)}) {part}" for i, part in enumerate(parts, start=1)]


def compose_sms(answers: Sequence[Answer], max_chars: int) -> list[str]:
    """The SMS messages for Rasa's answers: `render_sms`, fitted into two segments where it keeps the
    sentence that answers and the full source URL, else split into numbered messages.
    """
    keep = [a.short_text or first_sentence(a.text) for a in answers if a.answered and a.text.strip()]
    keep += [a.source_url for a in answers if a.answered and a.source_url]
    shortest = None
    if len(answers) == 1 and answers[0].answered and answers[0].source_url:
        only = answers[0]
        more = "Más información" if only.spanish else "More"
        shortest = f"{only.short_text or first_sentence(only.text)}\n{more}: {only.source_url}"
    return fit_reply(lambda limit: render_sms(list(answers), limit), max_chars, keep, shortest=shortest)
