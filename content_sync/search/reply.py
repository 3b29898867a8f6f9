"""The one Answer both sides share: the action's `custom` payload, validated into a typed value.

The action server makes the payload (content_sync.search.turn and answer) and sends it through Rasa; the
gateway reads it back with `answer_from_custom`, and in degraded mode makes the same payload itself and reads it
the same way. Neither owns this module, so the gateway never imports the Rasa side and the action never imports
channels. Rendering per channel stays in channels/answers.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["PLAIN", "Answer", "Button", "Choice", "Feedback", "Rated", "answer_from_custom"]

PLAIN = "text"  # the kind of a plain Rasa response, which has no `custom` payload
LANG = re.compile(r"^[a-z]{2}(-[A-Za-z]{2})?$")
HTTP_URL = re.compile(r"^https?://", re.I)


@dataclass(frozen=True)
class Choice:
    """One page the customer may pick when the assistant asks which one is meant."""

    n: int
    title: str
    payload: str
    url: str | None = None


@dataclass(frozen=True)
class Button:
    """A quick reply: `title` is shown, `payload` is what is sent back to the assistant."""

    title: str
    payload: str


@dataclass(frozen=True)
class Feedback:
    """The "Was this helpful?" question offered with an answer."""

    prompt: str
    buttons: tuple[Button, ...]


@dataclass(frozen=True)
class Rated:
    """The answer a piece of feedback is about."""

    question: str | None = None
    source_url: str | None = None
    chunk_digest: str | None = None
    index_version: str | None = None


@dataclass(frozen=True)
class Answer:
    """One assistant message. `answered` is true only when it quotes the index and cites `source_url`.

    `kind` is the action's (answer, clarify, feedback, handoff) or `text` for a plain Rasa response; `reason`
    says why a message did not answer; `choices` and `feedback` are quick replies the customer may send back.
    `degraded` is true when the gateway made it from the index itself because Rasa could not
    (docs/adr/0017-degraded-mode.md).
    """

    text: str
    answered: bool = False
    source_url: str | None = None
    source_title: str | None = None
    index_version: str | None = None
    last_updated: str | None = None
    indexed_at: str | None = None
    kind: str = PLAIN
    lang: str | None = None
    reason: str | None = None
    choices: tuple[Choice, ...] = ()
    feedback: Feedback | None = None
    helpful: bool | None = None
    about: Rated | None = None
    chunk_digest: str | None = None  # the quoted passage's digest (answered only): which text exactly was shown
    short_text: str | None = None  # the action's brief form of `text` (answered only), for SMS; None: text is brief
    degraded: bool = False

    @property
    def spanish(self) -> bool:
        return (self.lang or "").startswith("es")

    def public(self) -> dict[str, Any]:
        """The /api/chat message: the contract's fields, then kind, lang, the quick replies and `degraded`."""
        return {
            "text": self.text,
            "answered": self.answered,
            "source_url": self.source_url,
            "source_title": self.source_title,
            "index_version": self.index_version,
            "last_updated": self.last_updated,
            "indexed_at": self.indexed_at,
            "kind": self.kind,
            "lang": self.lang,
            "choices": [{"n": c.n, "title": c.title, "url": c.url, "payload": c.payload} for c in self.choices],
            "feedback": (
                {
                    "prompt": self.feedback.prompt,
                    "buttons": [{"title": b.title, "payload": b.payload} for b in self.feedback.buttons],
                }
                if self.feedback
                else None
            ),
            "degraded": self.degraded,
        }


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _url(value: object) -> str | None:
    url = _str(value)
    return url if url and HTTP_URL.match(url) else None


def _choices(value: object) -> tuple[Choice, ...]:
    choices = []
    for number, item in enumerate(value if isinstance(value, list) else [], start=1):
        if not isinstance(item, dict):
            continue
        title, payload = _str(item.get("title")), item.get("payload")
        n = item.get("n")
        n = n if isinstance(n, int) and not isinstance(n, bool) else number
        if title:
            choices.append(
                Choice(n=n, title=title, payload=str(payload) if payload else str(n), url=_url(item.get("url")))
            )
    return tuple(choices)


def _feedback(value: object) -> Feedback | None:
    if not isinstance(value, dict) or not _str(value.get("prompt")):
        return None
    buttons = tuple(
        Button(title=b["title"], payload=b["payload"])
        for b in value.get("buttons") or []
        if isinstance(b, dict) and _str(b.get("title")) and _str(b.get("payload"))
    )
    return Feedback(prompt=str(value["prompt"]), buttons=buttons) if buttons else None


def _rated(value: object) -> Rated | None:
    if not isinstance(value, dict):
        return None
    return Rated(
        question=_str(value.get("question")),
        source_url=_str(value.get("source_url")),
        chunk_digest=_str(value.get("chunk_digest")),
        index_version=_str(value.get("index_version")),
    )


def _short_text(custom: dict[str, Any]) -> str | None:
    """The action's brief form of the passage, kept only if every line of it is word for word in the passage."""
    short = _str(custom.get("short_text"))
    text = str(custom.get("text") or "")
    if not short or not short.strip() or not all(line.strip() in text for line in short.splitlines()):
        return None
    return short.strip()


def answer_from_custom(custom: dict[str, Any], degraded: bool = False) -> Answer:
    """The Answer for one of the action's `custom` payloads (`degraded`: made by the gateway, not Rasa)."""
    kind = str(custom["kind"])
    answered = kind == "answer" and bool(custom.get("answered")) and bool(custom.get("source_url"))
    lang = _str(custom.get("lang"))
    helpful = custom.get("helpful")
    return Answer(
        text=str(custom.get("text") or ""),
        answered=answered,
        source_url=custom.get("source_url") if answered else None,
        source_title=custom.get("source_title") if answered else None,
        index_version=_str(custom.get("index_version")),
        last_updated=_str(custom.get("last_updated")) if answered else None,
        indexed_at=_str(custom.get("indexed_at")) if answered else None,
        kind=kind,
        lang=lang if lang and LANG.match(lang) else None,
        reason=None if answered else _str(custom.get("reason")),
        choices=_choices(custom.get("choices")),
        feedback=_feedback(custom.get("feedback")) if answered else None,
        helpful=helpful if isinstance(helpful, bool) else None,
        about=_rated(custom.get("about")),
        chunk_digest=_str(custom.get("chunk_digest")) if answered else None,
        short_text=_short_text(custom) if answered else None,
        degraded=degraded,
    )
