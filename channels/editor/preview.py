"""Answer preview: ask Rasa as a throwaway conversation, and render the reply the way every channel would.

The question goes to Rasa over HTTP like a customer's, from a fresh sender id `preview:<uuid>`, so it joins no
customer's conversation; nothing is recorded (no answer event, no transcript turn). The renderings are made by
the channels' own renderers: `render_web` (web chat), `compose_sms` (what the SMS webhook sends) and
`render_email` (the email reply's body).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from channels.answers import PLAIN, Answer, answers_from_rasa, render_email, render_web
from channels.rasa_client import RasaClient
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
    def index_version(self) -> str | None:
        return next((a.index_version for a in self.answers if a.index_version), None)


def preview_sender() -> str:
    """A fresh Rasa sender id that belongs to no customer."""
    return f"{PREVIEW_PREFIX}{uuid.uuid4().hex}"


def render_preview(question: str, messages: list[dict[str, Any]], sms_max_chars: int) -> Preview:
    """The three renderings of Rasa's reply `messages`, made by the channels' own renderers."""
    answers = answers_from_rasa(messages)
    return Preview(
        question=question,
        answers=tuple(answers),
        web=tuple(render_web(answers)),
        sms=tuple(compose_sms(answers, sms_max_chars)),
        email=render_email(answers),
    )


async def preview_question(rasa: RasaClient, question: str, sms_max_chars: int) -> Preview:
    """Ask Rasa `question` as a new conversation (raises RasaUnavailable) and render its reply."""
    messages = await rasa.send(preview_sender(), question)
    return render_preview(question, messages, sms_max_chars)


def preview_question_sync(rasa: RasaClient, question: str, sms_max_chars: int) -> Preview:
    """`preview_question` for a thread that is not running an event loop (the what-changed re-check)."""
    return render_preview(question, rasa.send_sync(preview_sender(), question), sms_max_chars)
