"""Take answer events into the review queue: which ones become items, redacted and normalised, then clustered.

An event becomes an item when the customer's question went unanswered (kind `answer` with `answered: false`:
no_match, out_of_scope, personal_account, injection, not_ready), when a customer said an answer did not help
(the item is the rated question), or when they asked for a person (kind `handoff`). Clarifying questions and
"helpful" ratings do not. Greetings, thanks and goodbyes are never events. A payload with no letters in it
("1", a choice picked by number) or one character long is not a question, and neither is a button payload
("/feedback{...}").

Questions are redacted again here (channels.privacy.redact), whatever the channel stored: nothing unredacted
reaches the queue. Identical questions once normalised (case, accents kept, punctuation and spacing folded)
are one item with a count, per channel and kind.

Ingestion reads answer_events only through `ChannelStore.events_since`, from the queue's bookmark (an id and
that event's time, so ids that start again after the table was emptied are noticed). It is cheap (no model):
the gateway runs it every few seconds, and `assistant review export` before it prints. Clustering needs the
embedding model, so only the gateway does it (`cluster_pending`, in a thread).
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from channels.privacy import redact
from channels.review.cluster import embed_questions
from channels.review.store import Candidate, ReviewStore
from channels.store import ChannelStore

log = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 2000
BATCH = 500
PUNCTUATION = re.compile(r"[^\w\s\[\]]+")
SPACE = re.compile(r"\s+")


def normalise(question: str) -> str:
    """The merge key's text: NFKC, lower case, punctuation dropped (placeholders like [PHONE] kept), spaces
    folded."""
    text = unicodedata.normalize("NFKC", question).casefold()
    return SPACE.sub(" ", PUNCTUATION.sub(" ", text)).strip()


def question_key(question: str) -> str:
    """sha256 of the normalised question: identical questions share it."""
    return hashlib.sha256(normalise(question).encode()).hexdigest()


def is_question(text: str) -> bool:
    """False for what is not a customer's question: empty, one character, no letters, or a button payload."""
    text = text.strip()
    return len(text) > 1 and not text.startswith("/") and any(ch.isalpha() for ch in text)


def _signal(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """(signal, the question) for an event the queue takes, else None."""
    kind = event.get("kind")
    if kind == "answer":
        return "unanswered", str(event.get("question") or "")
    if kind == "feedback" and event.get("helpful") is False:
        return "not_helpful", str(event.get("about_question") or "")
    if kind == "handoff":
        return "handoff", str(event.get("question") or "")
    return None


def candidate_from(event: Mapping[str, Any]) -> Candidate | None:
    """The review candidate an answer event makes, redacted and keyed, or None when it is not one."""
    found = _signal(event)
    if found is None:
        return None
    signal, question = found
    if not is_question(question):
        return None
    clean = redact(question.strip())[:MAX_QUESTION_CHARS]
    if not is_question(clean):
        return None
    return Candidate(
        event_id=int(event["id"]),
        created_at=event["created_at"],
        channel=str(event["channel"]),
        signal=signal,
        question=clean,
        question_key=question_key(clean),
        conversation=str(event["conversation"])[:128],
        reason="not_helpful" if signal == "not_helpful" else event.get("reason"),
        lang=event.get("lang"),
        index_version=event.get("about_index_version") if signal == "not_helpful" else event.get("index_version"),
        rated_source_url=event.get("about_source_url") if signal == "not_helpful" else None,
        rated_chunk_digest=event.get("about_chunk_digest") if signal == "not_helpful" else None,
    )


def ingest_new(channels: ChannelStore, review: ReviewStore) -> int:
    """Take every answer event after the queue's bookmark; how many events were read. Blocking (a thread)."""
    read = 0
    while True:
        after, after_at = review.bookmark()
        events = channels.events_since(after, BATCH)
        if not events:
            if after and _restarted(channels, after, after_at):
                review.ingest(after, 0, [])
                log.warning("answer_events was emptied and its ids started again; reading it from the start")
                continue
            return read
        candidates = [c for c in (candidate_from(e) for e in events) if c is not None]
        last = events[-1]
        if review.ingest(after, int(last["id"]), candidates, last["created_at"].isoformat()) is None:
            continue  # another ingester took these; read on from where it left the bookmark
        read += len(events)
        if len(events) < BATCH:
            return read


def _restarted(channels: ChannelStore, after: int, after_at: str) -> bool:
    """True when the bookmark's event is gone or is another one, and no event is newer: the table was emptied
    (the retention purge can do that) and, on SQLite, its ids start again at 1."""
    probe = channels.events_since(after - 1, 1)
    same = bool(probe) and probe[0]["id"] == after and probe[0]["created_at"].isoformat() == after_at
    return not same and channels.last_event_id() <= after


def cluster_pending(review: ReviewStore, model: str, limit: int = 64) -> int:
    """Embed the items not in a cluster yet and place them; how many were placed. Blocking: the model runs."""
    placed = 0
    while True:
        items = review.unclustered(limit)
        if not items:
            return placed
        vectors = embed_questions(model, [item.question for item in items])
        placed += len(review.place_items({item.id: vector for item, vector in zip(items, vectors, strict=True)}, model))
        if len(items) < limit:
            return placed
