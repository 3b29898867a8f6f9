"""One customer turn, start to finish: read it in its conversation, search, and make the one answer.

Plain, synchronous code over a `Conversation` (the slots that matter), so it runs off the action server's
event loop and is tested without Rasa.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from content_sync.search import Hit, SearchResult, detect_language, get_searcher, get_sync_settings, words
from content_sync.search import answer as replies
from content_sync.search.dialogue import (
    ambiguous_choices,
    generic_title_words,
    is_elliptical,
    is_injection,
    is_personal_account,
    names_other_programme,
    pick_choice,
    points_back,
    programme,
)

# An answer's confidence is its page's best cosine plus COVERAGE_WEIGHT × the share of the question's content
# words found on the page; it must reach ANSWER_MIN_SCORE. Fitted on the dev half for at most 5% false answers
# on must-not-answer questions with the most right answers kept (bench/calibrate.py).
COVERAGE_WEIGHT = 0.3
SHORT_REPLY_WORDS = 5  # a reply this short may name an offered choice in its own words ("funeral")
CLARIFY_CANDIDATES = 8  # the best pages among which a clarification's programmes are looked for
CLARIFY_MARGIN = 0.1  # pages this close may be what an ambiguous question means (0.1–0.3 tried on dev)
# A question of at most CLARIFY_WIDE_WORDS topic words that names only what several programmes share ("the
# supplement") is ambiguous within the wider margin too: its one distinctive word ("much") favours one page.
CLARIFY_WIDE_WORDS = 2
CLARIFY_WIDE_MARGIN = 0.3
# A message NLU calls out of scope is answered only on a clear match. Set by hand (0.6 cosine in the old units,
# plus typical coverage), not tuned: on dev a lower general bar with this one still let 17.5% false answers by.
OUT_OF_SCOPE_MIN_SCORE = 0.85
OUT_OF_SCOPE_MIN_CONFIDENCE = 0.5  # below this, NLU's out_of_scope counts for nothing
FOLLOW_UP_WORDS = 3  # a message with at most this many topic words may lean on the conversation (2–4 tried on dev)
FOLLOW_UP_MIN_SCORE = 0.6  # the bar for a follow-up answered from the topic's own programme (0.5–0.6 tried on dev)
FOLLOW_UP_PREFER_BONUS = 0.04  # for the page under discussion, in a follow-up's search (0.04 and 0.08 tried on dev)

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
    """The version answers come from now (the published one until the first query has loaded it)."""
    searcher = get_searcher()
    return searcher.loaded_version() or searcher.current_version()


def confidence(hit: Hit) -> float:
    """How clearly a page answers: its best cosine, plus a little for every question word the page contains."""
    return hit.score + COVERAGE_WEIGHT * hit.coverage


def _answerable(result: SearchResult, out_of_scope: bool, bar: float | None = None) -> bool:
    """The best page clears the bar: ANSWER_MIN_SCORE unless `bar` is given, raised for out-of-scope messages."""
    if not result.hits:
        return False
    bar = get_sync_settings().answer_min_score if bar is None else bar
    if out_of_scope:
        bar = max(bar, OUT_OF_SCOPE_MIN_SCORE)
    return confidence(result.hits[0]) >= bar


def _answer(result: SearchResult, question: str, topic_question: str, out_of_scope: bool) -> Turn:
    lang = result.language
    if not _answerable(result, out_of_scope):
        reason = "out_of_scope" if out_of_scope else "no_match"
        score = round(confidence(result.hits[0]), 4) if result.hits else None
        cleared = {"language": lang, "pending_choices": None, "pending_question": None}
        return Turn(replies.no_answer(result.index_version, reason, lang, score), cleared)
    hit = result.hits[0]
    payload = replies.answer_from(hit, result, question, confidence(hit))
    about = {
        "question": question,
        "source_url": payload["source_url"],
        "chunk_digest": payload["chunk_digest"],
        "index_version": payload["index_version"],
    }
    slots: dict[str, Any] = {
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
    hits = get_searcher().search(text, k=1, language=lang).hits
    if not hits:
        return None
    return by_url.get(hits[0].chunk.url) or by_programme.get(programme(hits[0].chunk.title))


def _language(text: str, conversation: Conversation) -> str:
    """The message's language; a reply too short to tell ("2", "ok") keeps the conversation's."""
    if conversation.language and len(words(text)) <= 2:
        return conversation.language
    return detect_language(text)


def _picked(text: str, conversation: Conversation, lang: str) -> Turn | None:
    """The answer from the offered page a reply picks, or None when the reply picks none of them."""
    choices = conversation.pending_choices or []
    choice = pick_choice(text, choices, lang)
    if choice is None and len(words(text)) <= SHORT_REPLY_WORDS:
        choice = _pick_by_search(text, choices, lang)
    if choice is None:
        return None
    question = f"{conversation.pending_question or ''} {choice['title']}".strip()
    result = get_searcher().search(question, prefer_url=choice["url"], language=lang)
    return _answer(result, question, question, out_of_scope=False)


@lru_cache(maxsize=4)
def _generic_words(index_version: str) -> frozenset[str]:
    """The title words too common to name a programme, for one index version (a few versions kept)."""
    pages = get_searcher().current().version.pages
    return generic_title_words([str(p.get("title") or "") for p in pages.values()])


def _follow_up(text: str, conversation: Conversation, lang: str, out_of_scope: bool) -> Turn | None:
    """The answer to a follow-up searched with the earlier topic, or None when the message needs no context.

    A message that points back ("that", "it", "what about…") or names almost no topic of its own is searched with
    the conversation's topic, and the page under discussion is preferred. It is answered on a lower bar when the
    page found belongs to the topic's programme: the conversation has already shown what it is about. A message
    that names another programme is a new question, searched alone, and never drags the old topic along.
    """
    if not (conversation.topic_url and conversation.topic_question):
        return None
    if not points_back(text) and not is_elliptical(text, lang, FOLLOW_UP_WORDS):
        return None
    searcher = get_searcher()
    # The topic is named by its page's programme ("Burial Allowance"), not by the whole earlier question, whose
    # other words ("how much") would pull the follow-up back to the page that answered it.
    title = searcher.current().version.pages.get(conversation.topic_url, {}).get("title")
    topic = programme(title) if title else conversation.topic_question
    alone = searcher.search(text, k=1, language=lang)
    generic = _generic_words(alone.index_version)
    if alone.hits and names_other_programme(text, alone.hits[0].chunk.title, topic, lang, generic):
        return None
    # A lighter preference than a picked choice gets: the topic's other pages ("how to apply") must still win.
    ranking = replace(searcher.ranking, prefer_bonus=FOLLOW_UP_PREFER_BONUS)
    result = searcher.search(f"{topic} {text}", prefer_url=conversation.topic_url, language=lang, ranking=ranking)
    on_topic = bool(result.hits) and programme(result.hits[0].chunk.title) == topic
    if not _answerable(result, out_of_scope, FOLLOW_UP_MIN_SCORE if on_topic else None):
        return None
    return _answer(result, text, conversation.topic_question, out_of_scope)


def _alone(text: str, lang: str) -> SearchResult:
    return get_searcher().search(text, k=CLARIFY_CANDIDATES, language=lang)


def answer_turn(text: str, conversation: Conversation, intent: str | None = None, nlu_confidence: float = 0.0) -> Turn:
    """The reply to one customer message in its conversation."""
    lang = _language(text, conversation)
    cleared = {"pending_choices": None, "pending_question": None}
    if is_injection(text):
        return Turn(replies.no_answer(current_version(), "injection", lang), cleared)
    if conversation.pending_choices:
        picked = _picked(text, conversation, lang)
        if picked is not None:
            return picked
    if is_personal_account(text):
        return Turn(replies.no_answer(current_version(), "personal_account", lang), cleared)
    out_of_scope = intent == "out_of_scope" and nlu_confidence >= OUT_OF_SCOPE_MIN_CONFIDENCE
    follow_up = _follow_up(text, conversation, lang, out_of_scope)
    if follow_up is not None:
        return follow_up
    result = _alone(text, lang)
    choices = ambiguous_choices(text, result.hits, CLARIFY_MARGIN, lang)
    if not choices and is_elliptical(text, lang, CLARIFY_WIDE_WORDS):  # "how much is the supplement?"
        choices = ambiguous_choices(text, result.hits, CLARIFY_WIDE_MARGIN, lang)
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
