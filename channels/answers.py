"""The one Answer, made from Rasa's reply, and one renderer per channel. Channels only render.

Rasa's REST channel brings two kinds of message. The action's `custom` payload (`kind` answer, clarify,
feedback or handoff) becomes an Answer with everything the action said; a plain response (greetings, thanks,
"are you a bot") becomes an Answer of kind `text`. The renderers below read the fields and never change what
the answer is: which passage, whether it `answered`, its source, its choices. The Answer type itself lives in
content_sync/search/reply.py, shared with the action side and with degraded mode (channels/degraded.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

# The Answer type and its validation are shared with the action side (content_sync/search/reply.py); they are
# re-exported here for the channels' code.
from content_sync.search.reply import HTTP_URL, LANG, PLAIN, Answer, Button, Choice, Feedback, Rated, answer_from_custom

__all__ = [
    "LANG",
    "PLAIN",
    "Answer",
    "AnswerEvent",
    "Button",
    "Choice",
    "Feedback",
    "Rated",
    "answer_from_custom",
    "answers_from_rasa",
    "events_to_record",
    "render_email",
    "render_email_html",
    "render_sms",
    "render_text",
    "render_web",
]

MIN_SMS_TEXT = 40  # the least of a clarifying question SMS keeps before it shortens the choices' titles
# Unanswered for these reasons (not a customer's own case, not an attempt to instruct the assistant), the guidance
# may answer after a sync (a new programme's name is out of scope until its page is published): SMS offers to
# tell the customer, and email says it will (channels/review/optin.py keeps them; the closed loop tells them once).
UPDATE_OFFER_REASONS = frozenset({"no_match", "out_of_scope", "not_ready"})
SMS_UPDATE_OFFER = {
    False: "Text YES to be told when we can answer this.",
    True: "Responda SI y le avisaremos cuando podamos contestar esto.",
}
EMAIL_UPDATE_NOTE = {
    False: "If our published guidance answers this later, we will reply to this email to tell you.",
    True: "Si más adelante nuestra guía publicada contesta esto, le responderemos a este correo para avisarle.",
}


@dataclass(frozen=True)
class AnswerEvent:
    """One assistant message that did not answer from the guidance (or a rating), as the store records it."""

    channel: str
    conversation: str
    question: str
    kind: str
    reason: str | None
    lang: str | None
    index_version: str | None
    helpful: bool | None = None
    about_question: str | None = None
    about_source_url: str | None = None
    about_chunk_digest: str | None = None
    about_index_version: str | None = None


def answers_from_rasa(messages: list[dict[str, Any]]) -> list[Answer]:
    """Turn Rasa's REST reply into Answers: the action's `custom` payload, or a plain response's text."""
    answers: list[Answer] = []
    for message in messages:
        custom = message.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("kind"), str) and custom["kind"]:
            answers.append(answer_from_custom(custom))
        elif message.get("text"):
            answers.append(Answer(text=str(message["text"])))
    return answers


def events_to_record(answers: list[Answer], channel: str, conversation: str, question: str) -> list[AnswerEvent]:
    """One event for each of the action's messages that did not answer from the guidance, ratings included.

    Plain Rasa responses (greetings, thanks, goodbyes) are not recorded.
    """
    events = []
    for answer in answers:
        if answer.kind == PLAIN or answer.answered:
            continue
        about = answer.about if answer.kind == "feedback" else None
        events.append(
            AnswerEvent(
                channel=channel,
                conversation=conversation,
                question=question,
                kind=answer.kind,
                reason=answer.reason,
                lang=answer.lang,
                index_version=answer.index_version,
                helpful=answer.helpful if answer.kind == "feedback" else None,
                about_question=about.question if about else None,
                about_source_url=about.source_url if about else None,
                about_chunk_digest=about.chunk_digest if about else None,
                about_index_version=about.index_version if about else None,
            )
        )
    return events


def reply_hint(numbers: list[int], spanish: bool) -> str:
    """'Reply 1, 2 or 3.' / 'Responda 1, 2 o 3.'"""
    words = [str(n) for n in numbers]
    if len(words) > 1:
        last = words[-1]
        # Spanish writes "u" before a word said with an o- sound: 8 (ocho), 11 (once), 80...
        joiner = (" u " if last.startswith("8") or last == "11" else " o ") if spanish else " or "
        words = [", ".join(words[:-1]) + joiner + last]
    return ("Responda " if spanish else "Reply ") + "".join(words) + "."


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for stop in (". ", "\n"):
        at = cut.rfind(stop)
        if at > limit // 2:
            return cut[: at + 1].strip()
    return cut.rsplit(" ", 1)[0] + "…"


def _clip(text: str, limit: int) -> str:
    """Cut a title to `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "…"


def render_web(answers: list[Answer]) -> list[dict[str, Any]]:
    """The /api/chat `messages` list; the widget shows text and links with textContent, never as HTML."""
    return [a.public() for a in answers]


def _sms_choices(answer: Answer, budget: int) -> str:
    """A clarifying question, its numbered choices (titles only) and 'Reply 1, 2 or 3.', within `budget`."""
    hint = reply_hint([c.n for c in answer.choices], answer.spanish)
    numbers = [f"{c.n}. " for c in answer.choices]
    titles = [c.title for c in answer.choices]
    text = answer.text.strip()

    def size(text: str, titles: list[str]) -> int:
        lines = [text] if text else []
        return len("\n".join([*lines, *(n + t for n, t in zip(numbers, titles, strict=True)), hint]))

    if size(text, titles) > budget:  # the question gives way first, down to a third of the message
        room = budget - size("", titles) - 1
        text = _shorten(text, max(room, MIN_SMS_TEXT, budget // 3)) if text else ""
    if size(text, titles) > budget:
        spare = budget - size(text, [""] * len(titles))
        titles = [_clip(t, max(spare // len(titles), 8)) for t in titles]
    lines = [text] if text else []
    return "\n".join([*lines, *(n + t for n, t in zip(numbers, titles, strict=True)), hint])


def offers_update(answer: Answer) -> bool:
    """True for an unanswered question the guidance may answer after a sync (UPDATE_OFFER_REASONS)."""
    return answer.kind == "answer" and not answer.answered and answer.reason in UPDATE_OFFER_REASONS


def email_update_note(answers: Sequence[Answer]) -> str | None:
    """The email reply's note that we will write again once the guidance answers, when one of them offers it."""
    offering = next((a for a in answers if offers_update(a)), None)
    return EMAIL_UPDATE_NOTE[offering.spanish] if offering else None


def _sms_part(answer: Answer, budget: int) -> str:
    if answer.answered and answer.source_url:
        tail = f"\n{'Más información' if answer.spanish else 'More'}: {answer.source_url}"
        room = max(80, budget - len(tail))
        if answer.short_text and len(answer.text) > room:  # the action's brief form: the sentences that answer
            return _shorten(answer.short_text, room) + tail
        return _shorten(answer.text, room) + tail
    if answer.choices:
        return _sms_choices(answer, budget)
    if offers_update(answer):  # the offer is the last line, never cut: "YES" must reach the customer
        tail = "\n" + SMS_UPDATE_OFFER[answer.spanish]
        return _shorten(answer.text, max(40, budget - len(tail))).rstrip() + tail
    return _shorten(answer.text, budget)


def _shares(wants: list[int], total: int) -> list[int]:
    """Split `total` characters between parts: short parts keep their length, long ones share the rest."""
    shares = [0] * len(wants)
    left = total
    order = sorted(range(len(wants)), key=lambda i: wants[i])
    for done, i in enumerate(order):
        shares[i] = min(wants[i], left // (len(wants) - done))
        left -= shares[i]
    return shares


def render_sms(answers: list[Answer], limit: int) -> str:
    """One SMS body of at most `limit` characters: each answer shortened to whole sentences, its source URL
    written out in full, and a clarifying question's choices numbered. No "Was this helpful?" (segments cost).
    """
    if not answers:
        return "Sorry, I have no answer for that. Please try asking in other words."
    separators = 2 * (len(answers) - 1)
    wants = [len(_sms_part(a, limit)) for a in answers]
    shares = _shares(wants, limit - separators)  # each part's own length when they all fit
    return "\n\n".join(_sms_part(a, max(share, 20)) for a, share in zip(answers, shares, strict=True))


EMAIL_WORDS = {
    False: {
        "hello": "Hello,",
        "source": "Source",
        "updated": "(page updated {date})",
        "version": "Guidance version",
        "none": "Sorry, I have no answer for that.",
        "note": "This reply was written by the agency's automated assistant from our published guidance.",
        "title": "Your answer from the agency's assistant",
    },
    True: {
        "hello": "Hola:",
        "source": "Fuente",
        "updated": "(página actualizada el {date})",
        "version": "Versión de la guía",
        "none": "Lo siento, no tengo una respuesta para eso.",
        "note": "Esta respuesta la escribió el asistente automático de la agencia a partir de nuestra guía publicada.",
        "title": "Su respuesta del asistente de la agencia",
    },
}


def render_email(answers: list[Answer], notes: Sequence[str] = ()) -> str:
    """A plain-text email body: the full answer, its source, the page's date and the guidance version, and
    a clarifying question's choices numbered with their links; then the channel's `notes` (paragraphs).

    The customer's own text is not quoted back: a forged sender must not be able to make the agency's
    address deliver text of their choosing.
    """
    spanish = next((a.spanish for a in answers if a.lang), False)
    words = EMAIL_WORDS[spanish]
    parts = []
    for answer in answers:
        own = EMAIL_WORDS[answer.spanish] if answer.lang else words
        part = answer.text
        if answer.answered and answer.source_url:
            part += f"\n\n{own['source']}: {answer.source_title or answer.source_url}\n{answer.source_url}"
            if answer.last_updated:
                part += "\n" + own["updated"].format(date=answer.last_updated)
            part += f"\n{own['version']}: {answer.index_version}"
        if answer.choices:
            lines = [f"{c.n}. {c.title}" + (f"\n   {c.url}" if c.url else "") for c in answer.choices]
            part += "\n\n" + "\n".join(lines) + "\n\n" + reply_hint([c.n for c in answer.choices], answer.spanish)
        parts.append(part)
    body = "\n\n".join([*(parts or [words["none"]]), *notes])
    return f"{words['hello']}\n\n{body}\n\n{words['note']}\n"


def _html_paragraphs(text: str) -> str:
    """Escaped text as paragraphs: a blank line starts a new one, a single line break stays a line break."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join("<p>" + "<br>\n".join(escape(line) for line in p.splitlines()) + "</p>\n" for p in paragraphs)


def _html_link(url: str | None, label: str) -> str:
    """A link when `url` is http(s), else the label alone; both escaped."""
    if url and HTTP_URL.match(url):
        return f'<a href="{escape(url, quote=True)}">{escape(label)}</a>'
    return escape(label)


def _html_part(answer: Answer, own: dict[str, str], lang: str | None) -> str:
    html = _html_paragraphs(answer.text)
    if answer.answered and answer.source_url:
        lines = [f"{escape(own['source'])}: {_html_link(answer.source_url, answer.source_title or answer.source_url)}"]
        if answer.last_updated:
            lines.append(escape(own["updated"].format(date=answer.last_updated)))
        lines.append(f"{escape(own['version'])}: {escape(answer.index_version or '')}")
        html += "<p>" + "<br>\n".join(lines) + "</p>\n"
    if answer.choices:
        items = "".join(f'<li value="{c.n}">{_html_link(c.url, c.title)}</li>\n' for c in answer.choices)
        html += f"<ol>\n{items}</ol>\n<p>{escape(reply_hint([c.n for c in answer.choices], answer.spanish))}</p>\n"
    return f'<div lang="{lang}">\n{html}</div>\n' if lang else html


def render_email_html(answers: list[Answer], notes: Sequence[str] = ()) -> str:
    """The same email as `render_email`, as simple accessible HTML: the document's `lang` (and a part's own
    when it differs), the source as a real link, no images, no scripts, every text escaped.
    """
    spanish = next((a.spanish for a in answers if a.lang), False)
    words = EMAIL_WORDS[spanish]
    lang = "es" if spanish else "en"
    parts = []
    for answer in answers:
        own_lang = ("es" if answer.spanish else "en") if answer.lang else lang
        own = EMAIL_WORDS[own_lang == "es"]
        parts.append(_html_part(answer, own, own_lang if own_lang != lang else None))
    body = "".join(parts) or _html_paragraphs(words["none"])
    body += "".join(_html_paragraphs(note) for note in notes)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}" dir="ltr">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(words['title'])}</title>\n</head>\n"
        '<body style="margin: 0; padding: 16px; background: #ffffff; color: #1b1b1b; '
        'font-family: Arial, Helvetica, sans-serif; font-size: 16px; line-height: 1.5;">\n'
        '<div style="max-width: 40em;">\n'
        f"<p>{escape(words['hello'])}</p>\n{body}"
        f'<p style="color: #565c65; font-size: 14px;">{escape(words["note"])}</p>\n'
        "</div>\n</body>\n</html>\n"
    )


def render_text(answers: list[Answer]) -> str:
    """The terminal view for `assistant ask`: what the customer sees, then what the action said about it."""
    lines = []
    for answer in answers:
        lines.append(answer.text)
        if answer.answered:
            lines.append(f"  source: {answer.source_title} <{answer.source_url}>")
        for choice in answer.choices:
            lines.append(f"  {choice.n}. {choice.title}" + (f" <{choice.url}>" if choice.url else ""))
        if answer.feedback:
            buttons = " / ".join(b.title for b in answer.feedback.buttons)
            lines.append(f"  {answer.feedback.prompt} [{buttons}]")
        facts = [f"kind: {answer.kind}", f"answered: {str(answer.answered).lower()}"]
        if answer.reason:
            facts.append(f"reason: {answer.reason}")
        if answer.lang:
            facts.append(f"lang: {answer.lang}")
        facts.append(f"index version: {answer.index_version}")
        lines.append("  " + "  ".join(facts))
    return "\n".join(lines)
