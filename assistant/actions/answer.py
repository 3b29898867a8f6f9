"""Make the one answer every channel renders: a passage of published guidance, its source and index version."""

from __future__ import annotations

import re
from typing import Any

from content_sync.search import SearchResult, get_sync_settings, search

MAX_PASSAGE = 700
# A sentence ends at . ! ? or : followed by a capital, a digit or an opening mark ("a.m. to" is not an end).
BOUNDARY = re.compile(r"(?<=[.!?:])\s+(?=[A-Z0-9¿¡\"'(])|\n")


def _passage(text: str) -> str:
    """The text up to MAX_PASSAGE characters, cut after a whole sentence, its wording and spacing untouched."""
    if len(text) <= MAX_PASSAGE:
        return text
    cuts = [m.start() for m in BOUNDARY.finditer(text) if m.start() <= MAX_PASSAGE]
    if cuts:
        return text[: cuts[-1]].strip()
    return text[:MAX_PASSAGE].rsplit(" ", 1)[0] + "…"


def no_answer(index_version: str | None, contact: str) -> dict[str, Any]:
    """The honest reply when the guidance has nothing good enough."""
    return {
        "kind": "answer",
        "answered": False,
        "text": (
            "I'm sorry, I couldn't find that in our published guidance, and I don't want to guess. "
            f"You could try asking in other words, or {contact}"
        ),
        "source_url": None,
        "source_title": None,
        "index_version": index_version,
    }


def out_of_scope(index_version: str | None, contact: str) -> dict[str, Any]:
    """The reply to a request outside the agency's business."""
    return no_answer(index_version, contact) | {
        "text": (
            "Sorry, I can only answer questions about this agency's published guidance, so I can't help with "
            f"that. You could ask about our services in other words, or {contact}"
        )
    }


def make_answer(result: SearchResult, min_score: float, contact: str) -> dict[str, Any]:
    """The answer for a search result: the best passage when it scores at least `min_score`."""
    if not result.hits or result.hits[0].score < min_score:
        return no_answer(result.index_version, contact) | {
            "score": round(result.hits[0].score, 4) if result.hits else None
        }
    best = result.hits[0]
    chunk = best.chunk
    return {
        "kind": "answer",
        "answered": True,
        "text": _passage(chunk.text),
        "source_url": chunk.url,
        "source_title": chunk.title,
        "section": chunk.headings[-1] if len(chunk.headings) > 1 else None,
        "index_version": result.index_version,
        "last_updated": chunk.last_updated,
        "chunk_id": chunk.id,
        "chunk_digest": chunk.digest,
        "score": round(best.score, 4),
    }


def answer_question(question: str, out_of_scope_bar: float | None = None) -> dict[str, Any]:
    """Search the published index and answer, or say honestly that nothing fits.

    For a message NLU called out of scope, `out_of_scope_bar` raises (never lowers) the bar set by
    ANSWER_MIN_SCORE, and the reply below it says the request is outside what the assistant answers.
    """
    settings = get_sync_settings()
    if out_of_scope_bar is None:
        return make_answer(search(question), settings.answer_min_score, settings.agency_contact)
    result = search(question)
    answer = make_answer(result, max(settings.answer_min_score, out_of_scope_bar), settings.agency_contact)
    return answer if answer["answered"] else out_of_scope(result.index_version, settings.agency_contact)
