"""One customer turn, start to finish: read it in its conversation, search, and make the one answer.

Plain, synchronous code over a `Conversation` (the slots that matter), so it runs off the action server's
event loop and is tested without Rasa.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.actions import answer as replies
from assistant.actions.dialogue import (
    ambiguous_choices,
    is_elliptical,
    is_injection,
    is_personal_account,
    pick_choice,
    programme,
)
from content_sync.search import SearchResult, detect_language, get_searcher, get_sync_settings

# Chosen on the dev half of tests/eval (docs/benchmarks.md, "How the bars were chosen").
CLARIFY_MARGIN = 0.04  # pages whose ranking scores are this close may be what an ambiguous question means
OUT_OF_SCOPE_MIN_SCORE = 0.6  # a message NLU calls out of scope is answered only on a clear match
OUT_OF_SCOPE_MIN_CONFIDENCE = 0.5  # below this, NLU's out_of_scope counts for nothing

SLOTS = ("topic_url", "topic_question", "pending_choices", "pending_question", "last_answer", "language")


@dataclass
class Conversation:
    """What the assistant remembers between turns (Rasa slots)."""

    topic_url: str | None = None  # the page the conversation is about: the last one answered from
    topic_question: str | None = None  # the last self-contained question, which follow-ups lean on
    pending_choices: list[dict[str, Any]] | None = None  # pages offered by a clarification
    pending_question: str | None = None  # the question that clarification was about
    last_answer: dict[str, Any] | None = None  # what "Was this helpful?" refers to
    language: str | None = None

    @classmethod
    def from_slots(cls, slots: dict[str, Any]) -> Conversation:
        return cls(**{name: slots.get(name) for name in SLOTS})


@dataclass
class Turn:
    """The assistant's reply to one message, and the slots it changes."""

    payload: dict[str, Any]
    slots: dict[str, Any] = field(default_factory=dict)


def current_version() -> str | None:
    return get_searcher().store.current_version()


def _answerable(result: SearchResult, out_of_scope: bool) -> bool:
    if not result.hits:
        return False
    bar = get_sync_settings().answer_min_score
    if out_of_scope:
        bar = max(bar, OUT_OF_SCOPE_MIN_SCORE)
    return result.hits[0].score >= bar


def _answer(result: SearchResult, question: str, topic_question: str, out_of_scope: bool) -> Turn:
    lang = result.language
    if not _answerable(result, out_of_scope):
        reason = "out_of_scope" if out_of_scope else "no_match"
        score = round(result.hits[0].score, 4) if result.hits else None
        return Turn(replies.no_answer(result.index_version, reason, lang, score), {"language": lang})
    hit = result.hits[0]
    payload = replies.answer_from(hit, result, question)
    about = {
        "question": question,
        "source_url": payload["source_url"],
        "chunk_digest": payload["chunk_digest"],
        "index_version": payload["index_version"],
    }
    slots = {
        "topic_url": hit.chunk.url,
        "topic_question": topic_question,
        "pending_choices": None,
        "pending_question": None,
        "last_answer": about,
        "language": lang,
    }
    return Turn(payload, slots)


def _pick_by_search(text: str, choices: list[dict[str, Any]], lang: str) -> dict[str, Any] | None:
    """A reply that names a choice in other words ("funeral" for Burial Allowance): the choice it finds best."""
    by_url = {c["url"]: c for c in choices}
    by_programme = {programme(c["title"]): c for c in choices}
    for hit in get_searcher().search(text, k=10, language=lang).hits[:3]:
        found = by_url.get(hit.chunk.url) or by_programme.get(programme(hit.chunk.title))
        if found:
            return found
    return None


def answer_turn(text: str, conversation: Conversation, intent: str | None = None, confidence: float = 0.0) -> Turn:
    """The reply to one customer message in its conversation."""
    lang = detect_language(text)
    searcher = get_searcher()
    if is_injection(text):
        return Turn(replies.no_answer(current_version(), "injection", lang), {"pending_choices": None})
    if conversation.pending_choices:
        choice = pick_choice(text, conversation.pending_choices, lang) or _pick_by_search(
            text, conversation.pending_choices, lang
        )
        if choice is not None:
            question = f"{conversation.pending_question or ''} {choice['title']}".strip()
            result = searcher.search(question, prefer_url=choice["url"], language=lang)
            return _answer(result, question, question, out_of_scope=False)
    if is_personal_account(text):
        return Turn(replies.no_answer(current_version(), "personal_account", lang), {"pending_choices": None})
    out_of_scope = intent == "out_of_scope" and confidence >= OUT_OF_SCOPE_MIN_CONFIDENCE
    if conversation.topic_url and conversation.topic_question and is_elliptical(text, lang):
        question = f"{conversation.topic_question} {text}"
        result = searcher.search(question, prefer_url=conversation.topic_url, language=lang)
        return _answer(result, text, conversation.topic_question, out_of_scope=False)
    result = searcher.search(text, language=lang)
    choices = ambiguous_choices(text, result.hits, CLARIFY_MARGIN, lang)
    if choices and _answerable(result, out_of_scope):
        offered = [c.to_dict() for c in choices]
        return Turn(replies.clarify(result, offered), {"pending_choices": offered, "pending_question": text})
    return _answer(result, text, text, out_of_scope)


def feedback_turn(helpful: bool, conversation: Conversation, text: str = "") -> Turn:
    """Thanks for "Was this helpful?", recorded against the answer it rates."""
    lang = conversation.language or (detect_language(text) if text else "en")
    return Turn(replies.feedback_ack(helpful, conversation.last_answer, lang))


def handoff_turn(text: str) -> Turn:
    """How to reach a person."""
    return Turn(replies.handoff(detect_language(text), current_version()), {"handoff": True})
