"""Answer preview: ask Rasa as a throwaway conversation, and render the reply the way every channel would.

The question goes to Rasa over HTTP like a customer's, from a fresh sender id `preview:<uuid>`, so it joins no
customer's conversation; nothing is recorded (no answer event, no transcript turn). It is asked through the
channels' Responder (channels/degraded.py), so while Rasa is down or slow the preview shows what customers are
given then: the same answer made from the index, flagged degraded. The renderings are made by
the channels' own renderers: `render_web` (web chat), `compose_sms` (what the SMS webhook sends) and
`render_email` (the email reply's body).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from channels.answers import PLAIN, Answer, render_email, render_web
from channels.degraded import Responder
from channels.sms.text import compose_sms

PREVIEW_PREFIX = "preview:"
MAX_QUESTION_CHARS = 1000


@dataclass(frozen=True)
class Preview:
    """One question's answers and their three renderings."""

    question: str
    answers: tuple[Answer, ...]
    web: tuple[dict[str, Any], ...]
    sms: tuple[str, ...]
    email: str

    @property
    def main(self) -> Answer | None:
        """The answer that matters: the one from the guidance, else the action's own, else the first."""
        answered = next((a for a in self.answers if a.answered), None)
        own = next((a for a in self.answers if a.kind != PLAIN), None)
        return answered or own or (self.answers[0] if self.answers else None)

    @property
    def answered(self) -> bool:
        return any(a.answered for a in self.answers)

    @property
    def source_url(self) -> str | None:
        main = self.main
        return main.source_url if main else None

    @property
    def degraded(self) -> bool:
        """True when the gateway made the answer from the index because Rasa could not (degraded mode)."""
        return any(a.degraded for a in self.answers)

    @property
    def index_version(self) -> str | None:
        return next((a.index_version for a in self.answers if a.index_version), None)


def preview_sender() -> str:
    """A fresh Rasa sender id that belongs to no customer."""
    return f"{PREVIEW_PREFIX}{uuid.uuid4().hex}"


def preview_of(question: str, answers: list[Answer], sms_max_chars: int) -> Preview:
    """The three renderings of `answers`, made by the channels' own renderers."""
    return Preview(
        question=question,
        answers=tuple(answers),
        web=tuple(render_web(answers)),
        sms=tuple(compose_sms(answers, sms_max_chars)),
        email=render_email(answers),
    )


async def preview_question(responder: Responder, question: str, sms_max_chars: int) -> Preview:
    """Ask `question` as a new conversation (Rasa's answer, or the degraded one) and render the reply."""
    reply = await responder.ask(preview_sender(), question)
    return preview_of(question, reply.answers, sms_max_chars)


def preview_question_sync(responder: Responder, question: str, sms_max_chars: int) -> Preview:
    """`preview_question` for a thread that is not running an event loop (the what-changed re-check)."""
    return preview_of(question, responder.ask_sync(preview_sender(), question).answers, sms_max_chars)
