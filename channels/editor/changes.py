"""What changed after a sync: the customers' top questions, the answer they got then, and the answer now.

`top_questions` reads transcript turns (the `messages` table: customer "in" turns and the assistant's "out"
replies, already redacted) and counts the questions by their normalised text, keeping the answer each last
got before the sync finished. `quoted_stale` finds the recent questions whose answer quoted a passage (by its
digest) that the index serving now no longer has, and `with_stale` adds them to the questions asked again.
`compare_answers` lines those answers up with the same questions asked again
now (through Rasa, as the preview asks them) and with the pages the sync touched. Both are pure: the routes
read the rows and ask Rasa.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

NOT_QUESTIONS = ("text", "feedback")  # plain responses (greetings, thanks) and ratings: not questions
PAGE_OUTCOMES = ("added", "changed", "deleted")
STALE_LIMIT = 25  # questions whose quoted passage changed, asked again beside the top questions
_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_PAYLOAD = re.compile(r"^(/|\d{1,2}$)")  # an intent payload ("/feedback...") or a choice picked by number


def normalise_question(text: str) -> str:
    """The form questions are counted by: case-folded, accents kept, spaces collapsed, edge punctuation dropped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _EDGE_PUNCT.sub("", _SPACE.sub(" ", text).strip())


@dataclass(frozen=True)
class SeenAnswer:
    """An answer as a customer saw it (from the transcript) or as it is given now (asked again)."""

    text: str
    answered: bool
    source_url: str | None
    index_version: str | None
    at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "answered": self.answered,
            "source_url": self.source_url,
            "index_version": self.index_version,
            "at": self.at.isoformat() if self.at else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeenAnswer:
        at = data.get("at")
        return cls(
            text=str(data.get("text") or ""),
            answered=bool(data.get("answered")),
            source_url=data.get("source_url"),
            index_version=data.get("index_version"),
            at=datetime.fromisoformat(at) if isinstance(at, str) else None,
        )


@dataclass(frozen=True)
class TopQuestion:
    """One question customers asked, by its normalised text: how often, and the last answer before the sync.
    `stale_quote` is true when that answer quoted a passage the index serving now no longer has."""

    key: str
    question: str
    count: int
    channels: tuple[str, ...]
    before: SeenAnswer | None
    stale_quote: bool = False


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _pairs(rows: Iterable[Mapping[str, Any]]) -> Iterable[tuple[Mapping[str, Any], list[Mapping[str, Any]]]]:
    """Each customer turn with the assistant's replies that followed it in its conversation."""
    by_conversation: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_conversation.setdefault(str(row["conversation"]), []).append(row)
    for turns in by_conversation.values():
        turns.sort(key=lambda r: r["id"])
        current: Mapping[str, Any] | None = None
        replies: list[Mapping[str, Any]] = []
        for turn in turns:
            if turn["direction"] == "in":
                if current is not None:
                    yield current, replies
                current, replies = turn, []
            elif current is not None:
                replies.append(turn)
        if current is not None:
            yield current, replies


def _reply(replies: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The reply that carries the answer: one from the guidance, else the action's own message."""
    answered = next((r for r in replies if r.get("answered")), None)
    return answered or next((r for r in replies if r.get("kind") not in NOT_QUESTIONS), None)


def top_questions(
    rows: Iterable[Mapping[str, Any]], limit: int = 10, until: datetime | None = None
) -> list[TopQuestion]:
    """The `limit` most asked questions in transcript `rows` (dicts with the `messages` columns), most asked first.

    A customer turn counts when a reply from the answering action followed it (greetings, thanks, ratings,
    quick-reply payloads and choices picked by number do not). `before` is the latest such reply given at or
    before `until` (when the sync finished), or None when every one came after it.
    """
    counts: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    channels: dict[str, set[str]] = {}
    before: dict[str, tuple[datetime, int, SeenAnswer]] = {}
    edge = _aware(until)
    for turn, replies in _pairs(rows):
        text = str(turn.get("text") or "").strip()
        reply = _reply(replies)
        if reply is None or not text or _PAYLOAD.match(text):
            continue
        key = normalise_question(text)
        if not key:
            continue
        counts[key] += 1
        forms.setdefault(key, Counter())[text] += 1
        channels.setdefault(key, set()).add(str(turn.get("channel") or ""))
        at = _aware(reply.get("created_at")) or datetime.min.replace(tzinfo=UTC)
        if edge is not None and at > edge:
            continue
        seen = SeenAnswer(
            text=str(reply.get("text") or ""),
            answered=bool(reply.get("answered")),
            source_url=reply.get("source_url"),
            index_version=reply.get("index_version"),
            at=at,
        )
        order = (at, int(reply["id"]))
        if key not in before or order > before[key][:2]:
            before[key] = (*order, seen)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [
        TopQuestion(
            key=key,
            question=forms[key].most_common(1)[0][0],
            count=count,
            channels=tuple(sorted(c for c in channels[key] if c)),
            before=before[key][2] if key in before else None,
        )
        for key, count in ranked
    ]


def _seen(reply: Mapping[str, Any], at: datetime) -> SeenAnswer:
    return SeenAnswer(
        text=str(reply.get("text") or ""),
        answered=bool(reply.get("answered")),
        source_url=reply.get("source_url"),
        index_version=reply.get("index_version"),
        at=at,
    )


def quoted_stale(
    rows: Iterable[Mapping[str, Any]],
    digests_now: Iterable[str],
    limit: int = STALE_LIMIT,
    until: datetime | None = None,
) -> list[TopQuestion]:
    """The questions in transcript `rows` whose answer quoted a passage (its `chunk_digest`) that is not among
    `digests_now` (the index serving now): its passage changed or was removed. One per normalised question,
    the most recently answered first, at most `limit`; `before` is the latest such answer (at or before
    `until` when given), `count` how many times such an answer was given, and `stale_quote` is true.
    """
    current = set(digests_now)
    edge = _aware(until)
    counts: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    channels: dict[str, set[str]] = {}
    latest: dict[str, tuple[datetime, int, SeenAnswer]] = {}
    for turn, replies in _pairs(rows):
        text = str(turn.get("text") or "").strip()
        reply = _reply(replies)
        if reply is None or not reply.get("answered") or not text or _PAYLOAD.match(text):
            continue
        quoted = reply.get("chunk_digest")
        key = normalise_question(text)
        at = _aware(reply.get("created_at")) or datetime.min.replace(tzinfo=UTC)
        if not quoted or quoted in current or not key or (edge is not None and at > edge):
            continue
        counts[key] += 1
        forms.setdefault(key, Counter())[text] += 1
        channels.setdefault(key, set()).add(str(turn.get("channel") or ""))
        order = (at, int(reply["id"]))
        if key not in latest or order > latest[key][:2]:
            latest[key] = (*order, _seen(reply, at))
    ranked = sorted(latest, key=lambda k: (latest[k][:2], k), reverse=True)[:limit]
    return [
        TopQuestion(
            key=key,
            question=forms[key].most_common(1)[0][0],
            count=counts[key],
            channels=tuple(sorted(c for c in channels[key] if c)),
            before=latest[key][2],
            stale_quote=True,
        )
        for key in ranked
    ]


def with_stale(top: Iterable[TopQuestion], stale: Iterable[TopQuestion]) -> list[TopQuestion]:
    """The questions to ask again: the top ones (marked when their quoted passage changed too), then the other
    questions whose quoted passage changed, each once."""
    stale_by_key = {q.key: q for q in stale}
    merged = [replace(q, stale_quote=True) if q.key in stale_by_key else q for q in top]
    seen = {q.key for q in merged}
    return merged + [q for key, q in stale_by_key.items() if key not in seen]


def _same_text(a: str, b: str) -> bool:
    return _SPACE.sub(" ", a).strip() == _SPACE.sub(" ", b).strip()


@dataclass(frozen=True)
class Change:
    """One top question: its answer before the sync, its answer now, and what differs."""

    question: TopQuestion
    after: SeenAnswer | None
    page_touched: bool

    @property
    def status(self) -> str:
        """A short verdict an editor can scan: what kind of change this is, if any."""
        before, after = self.question.before, self.after
        if after is None:
            return "not asked again yet"
        if before is None:
            return "no earlier answer"
        if before.answered != after.answered:
            return "now answered" if after.answered else "no longer answered"
        if before.source_url != after.source_url:
            return "new source page"
        if not _same_text(before.text, after.text):
            return "answer text changed"
        return "same answer"

    @property
    def changed(self) -> bool:
        return self.status not in ("same answer", "not asked again yet")


@dataclass(frozen=True)
class WhatChanged:
    """The top questions lined up before and after one sync, and the pages that sync touched."""

    changes: tuple[Change, ...]
    pages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def changed(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.changed)


def sync_pages(report: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The pages a sync added, changed and deleted, from its report (sorted, each outcome present)."""
    return {outcome: tuple(sorted(str(u) for u in report.get(outcome) or ())) for outcome in PAGE_OUTCOMES}


def compare_answers(
    top: Iterable[TopQuestion], after: Mapping[str, SeenAnswer], report: Mapping[str, Any]
) -> WhatChanged:
    """Line each top question's earlier answer up with `after` (the same question asked now, by its key).

    `page_touched` is true when the earlier or the new answer's source page is one the sync added, changed or
    deleted: those are the answers the sync is most likely to have moved.
    """
    pages = sync_pages(report)
    touched = {url for urls in pages.values() for url in urls}
    changes = []
    for question in top:
        now = after.get(question.key)
        sources = {question.before.source_url if question.before else None, now.source_url if now else None}
        changes.append(Change(question=question, after=now, page_touched=bool(sources & touched)))
    return WhatChanged(changes=tuple(changes), pages=pages)
