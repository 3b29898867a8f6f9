"""Whom the assistant may write back to: senders our own mail server authenticated, and not too often.

An auto-reply to a forged sender is backscatter: the agency's address delivering mail to someone who never
wrote. Two checks stand between an accepted message and a reply:

- `auth_refusal`: when EMAIL_AUTHSERV_ID is set, the topmost `Authentication-Results` header added by that
  server (RFC 8601; headers naming any other server are ignored, anyone can write them) must show
  `spf=pass` for the domain the reply goes to, or `dmarc=pass` for the From domain.
- `ReplyLimiter`: at most RATE_LIMIT_PER_SESSION replies per minute to one address and to one domain, and one
  reply per identical message (same sender, subject and question) in ten minutes (RFC 3834's spirit).

Both return the reason a message is not answered, which the spool keeps beside the message.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Iterable
from pathlib import Path

import authres
import authres.dmarc

SUBJECT_MAX_CHARS = 78  # RFC 5322's recommended line length, "Re: " included
DUPLICATE_WINDOW = 600.0  # seconds in which an identical message gets one reply
TAG = re.compile(r"<[^<>]{0,200}>")
_FEATURES = authres.FeatureContext(authres.dmarc)


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip().rstrip(".").lower() if "@" in address else address.strip().lower()


def auth_refusal(headers: Iterable[str], authserv_id: str, sender: str) -> str | None:
    """Why the sender is not authenticated by our server (None: it is, or no server is configured).

    `headers` are the message's `Authentication-Results` values, top first. Only the topmost one whose
    authserv-id is ours counts: our server adds its header above whatever the message arrived with.
    """
    if not authserv_id:
        return None
    ours = authserv_id.strip().lower()
    domain = _domain(sender)
    for value in headers:
        try:
            parsed = _FEATURES.parse_value(" ".join(value.split()))
        except (authres.AuthResError, ValueError, IndexError, TypeError):
            continue  # a header we cannot read is nobody's word
        if str(parsed.authserv_id or "").lower() != ours:
            continue
        for result in parsed.results:
            method, outcome = str(result.method).lower(), str(result.result).lower()
            if outcome != "pass" or method not in ("spf", "dmarc"):
                continue
            wanted = ("smtp", "mailfrom") if method == "spf" else ("header", "from")
            names = [
                _domain(str(p.value))
                for p in result.properties
                if (str(p.type).lower(), str(p.name).lower()) == wanted and p.value
            ]
            if domain and domain in names:
                return None
            if method == "dmarc" and not names:
                return None  # DMARC is about the From domain by definition
        return f"not authenticated: {authserv_id}'s Authentication-Results show no SPF or DMARC pass for {domain}"
    return f"not authenticated: no Authentication-Results header from {authserv_id}"


def clean_subject(subject: str, prefix_re: re.Pattern[str]) -> str:
    """The subject as it may be echoed: one line, no control characters or tags, at most 78 chars with `Re: `."""
    text = "".join(" " if unicodedata.category(ch)[0] in ("C", "Z") else ch for ch in subject)
    text = TAG.sub("", text)
    text = " ".join(prefix_re.sub("", " ".join(text.split())).split())
    room = SUBJECT_MAX_CHARS - len("Re: ")
    if len(text) > room:
        text = text[: room - 1].rstrip() + "…"
    return text


MAX_TRACKED_KEYS = 10_000  # addresses and domains counted at once before idle ones are forgotten


class ReplyLimiter:
    """Replies sent lately, per address and per domain, kept in the listener's memory.

    `seed` reads the last minutes of `done/` notes from the spool, so a restart does not reset the count.
    """

    def __init__(self, per_minute: int, window: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window = window
        self._by_key: dict[str, deque[float]] = {}
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def fingerprint(sender: str, subject: str, question: str) -> str:
        """One identical message's key: the same sender, subject and question text."""
        text = "\n".join((sender.lower(), " ".join(subject.lower().split()), " ".join(question.split())))
        return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]

    def seed(self, done: Path, now: float | None = None) -> None:
        """Count the replies the spool's `done/` folder says were sent in the last ten minutes."""
        now = time.time() if now is None else now
        for note in done.glob("*.json"):
            try:
                when = note.stat().st_mtime
                if now - when > DUPLICATE_WINDOW:
                    continue
                data = json.loads(note.read_text())
            except (OSError, ValueError):
                continue
            to = str(data.get("to", ""))
            if not to:
                continue
            if now - when <= self.window:
                for key in (f"address:{to.lower()}", f"domain:{_domain(to)}"):
                    self._by_key.setdefault(key, deque()).append(when)
            if data.get("fingerprint"):
                self._seen[str(data["fingerprint"])] = when
        for times in self._by_key.values():
            sorted_times = sorted(times)
            times.clear()
            times.extend(sorted_times)

    def admit(self, sender: str, fingerprint: str, now: float | None = None) -> str | None:
        """Count one reply to `sender`, or say why there must be none now."""
        now = time.time() if now is None else now
        with self._lock:
            self._seen = {k: t for k, t in self._seen.items() if now - t < DUPLICATE_WINDOW}
            if len(self._by_key) > MAX_TRACKED_KEYS:  # bounded: forget senders with nothing in the window
                self._by_key = {k: t for k, t in self._by_key.items() if t and now - t[-1] < self.window}
            if fingerprint in self._seen:
                return "rate limit: the same message from this sender was answered less than 10 minutes ago"
            keys = [f"address:{sender.lower()}", f"domain:{_domain(sender)}"]
            if self.per_minute:
                for key in keys:
                    times = self._by_key.setdefault(key, deque())
                    while times and now - times[0] >= self.window:
                        times.popleft()
                    if len(times) >= self.per_minute:
                        kind, name = key.split(":", 1)
                        return f"rate limit: {self.per_minute} replies a minute to {kind} {name} already sent"
                for key in keys:
                    self._by_key[key].append(now)
            self._seen[fingerprint] = now
            return None
