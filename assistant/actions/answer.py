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


def answer_question(question: str, min_score: float | None = None) -> dict[str, Any]:
    """Search the published index and answer, or say honestly that nothing fits.

    `min_score` raises (never lowers) the bar set by ANSWER_MIN_SCORE.
    """
    settings = get_sync_settings()
    bar = max(settings.answer_min_score, min_score or settings.answer_min_score)
    return make_answer(search(question), bar, settings.agency_contact)
