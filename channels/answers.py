"""The one Answer, made from Rasa's reply, and one renderer per channel. Channels only render."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    """One assistant message. `answered` is true only when it quotes the index and cites `source_url`."""

    text: str
    answered: bool = False
    source_url: str | None = None
    source_title: str | None = None
    index_version: str | None = None
    last_updated: str | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


def answers_from_rasa(messages: list[dict[str, Any]]) -> list[Answer]:
    """Turn Rasa's REST reply into Answers: the action's `custom` payload, or a plain response's text."""
    answers: list[Answer] = []
    for message in messages:
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("kind") == "answer":
            answered = bool(custom.get("answered")) and bool(custom.get("source_url"))
            answers.append(
                Answer(
                    text=str(custom.get("text") or ""),
                    answered=answered,
                    source_url=custom.get("source_url") if answered else None,
                    source_title=custom.get("source_title") if answered else None,
                    index_version=custom.get("index_version"),
                    last_updated=custom.get("last_updated") if answered else None,
                )
            )
        elif message.get("text"):
            answers.append(Answer(text=str(message["text"])))
    return answers


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for stop in (". ", "\n"):
        at = cut.rfind(stop)
        if at > limit // 2:
            return cut[: at + 1].strip()
    return cut.rsplit(" ", 1)[0] + "…"


def render_web(answers: list[Answer]) -> list[dict[str, Any]]:
    """The /api/chat `messages` list; the widget shows text and links with textContent, never as HTML."""
    return [a.public() for a in answers]


def render_sms(answers: list[Answer], limit: int) -> str:
    """One SMS body: the answer shortened to whole sentences, then the source URL written out in full."""
    parts = []
    for answer in answers:
        if answer.answered and answer.source_url:
            tail = f"\nMore: {answer.source_url}"
            parts.append(_shorten(answer.text, max(80, limit - len(tail))) + tail)
        else:
            parts.append(_shorten(answer.text, limit))
    return "\n\n".join(parts) or "Sorry, I have no answer for that. Please try asking in other words."


def render_email(answers: list[Answer]) -> str:
    """A plain-text email body: the full answer, its source, the page's date and the guidance version.

    The customer's own text is not quoted back: a forged sender must not be able to make the agency's
    address deliver text of their choosing.
    """
    parts = []
    for answer in answers:
        part = answer.text
        if answer.answered and answer.source_url:
            part += f"\n\nSource: {answer.source_title or answer.source_url}\n{answer.source_url}"
            if answer.last_updated:
                part += f"\n(page updated {answer.last_updated})"
            part += f"\nGuidance version: {answer.index_version}"
        parts.append(part)
    body = "\n\n".join(parts) or "Sorry, I have no answer for that."
    note = "This reply was written by the agency's automated assistant from our published guidance."
    return f"Hello,\n\n{body}\n\n{note}\n"


def render_text(answers: list[Answer]) -> str:
    """The terminal view for `assistant ask`."""
    lines = []
    for answer in answers:
        lines.append(answer.text)
        if answer.answered:
            lines.append(f"  source: {answer.source_title} <{answer.source_url}>")
        lines.append(f"  answered: {str(answer.answered).lower()}  index version: {answer.index_version}")
    return "\n".join(lines)
