"""Make the one answer every channel renders: a passage of published guidance, its source and index version."""

from __future__ import annotations

import re
from typing import Any

from content_sync.search import Hit, SearchResult, get_sync_settings, stem_tokens, words

MAX_PASSAGE = 700
SHORT_PASSAGE = 400  # a best passage shorter than this is read with the next-best one of its page
SHORT_FORM = 220  # the brief form of an answer (SMS): with its source URL it fits two GSM-7 segments
# A sentence ends at . ! ? or : followed by a capital, a digit or an opening mark ("a.m. to" is not an end).
BOUNDARY = re.compile(r"(?<=[.!?:])\s+(?=[A-Z0-9¿¡\"'(])|\n")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9¿¡\"'(])")


def _units(text: str) -> list[str]:
    """A passage's blocks and sentences, in order, each kept whole."""
    units: list[str] = []
    for block in text.split("\n"):
        units.extend(u.strip() for u in SENTENCE.split(block) if u.strip())
    return units


def _cut(text: str) -> str:
    """At most MAX_PASSAGE characters, ending after a whole sentence where there is one."""
    if len(text) <= MAX_PASSAGE:
        return text
    cuts = [m.start() for m in BOUNDARY.finditer(text) if m.start() <= MAX_PASSAGE]
    if cuts:
        return text[: cuts[-1]].strip()
    return text[:MAX_PASSAGE].rsplit(" ", 1)[0] + "…"


def passage_for(hit: Hit, question: str) -> str:
    """The part of a page's best passage that answers: whole sentences around the one closest to the question.

    A short best passage is read together with the page's next-best one, in page order, because the sentence
    that answers is often in the neighbouring section. A passage that fits is shown whole. A longer one is cut to
    a window of whole sentences (and table rows, with their header row) around the sentence that shares most
    content words with the question.
    """
    text = hit.chunk.text
    if len(text) < SHORT_PASSAGE and len(hit.passages) > 1:
        pair = sorted(hit.passages[:2], key=lambda c: int(c.id.rsplit("_", 1)[-1]) if "_" in c.id else 0)
        text = "\n".join(c.text for c in pair)
    if len(text) <= MAX_PASSAGE:
        return text
    units = _units(text)
    if len(units) <= 1:
        return _cut(text)
    return "\n".join(units[i] for i in _window(units, question, hit.language or "en", MAX_PASSAGE))


def _window(units: list[str], question: str, lang: str, limit: int) -> list[int]:
    """The indexes of whole units, in order, within `limit` characters around the unit that shares most content
    words with the question, growing towards the side whose next unit is closer to the question."""
    overlap = _overlaps(units, question, lang)
    best = max(range(len(units)), key=lambda i: (overlap[i], -i))
    chosen = {best}
    if " | " in units[best] and " | " in units[0]:
        chosen.add(0)  # a table row makes sense only under its header row
    size = sum(len(units[i]) + 1 for i in chosen)
    left, right = best - 1, best + 1
    while left >= 0 or right < len(units):
        # Grow towards the side whose next sentence is closer to the question, the following one on a tie.
        options = [i for i in (right, left) if 0 <= i < len(units)]
        pick = max(options, key=lambda i: overlap[i])
        if size + len(units[pick]) + 1 > limit:
            break
        chosen.add(pick)
        size += len(units[pick]) + 1
        if pick == right:
            right += 1
        else:
            left -= 1
    return sorted(chosen)


def _overlaps(units: list[str], question: str, lang: str) -> list[int]:
    """How many of the question's content words (stemmed) each unit shares."""
    wanted = set(stem_tokens(words(question), lang))
    return [len(wanted & set(stem_tokens(words(u), lang))) for u in units]


def short_passage_for(passage: str, question: str, lang: str, limit: int = SHORT_FORM) -> str | None:
    """The same answer for channels that must be brief (SMS): the whole sentences of `passage`, within `limit`
    characters, around the one closest to the question, chosen as `passage_for` chooses. None when the passage
    is short enough already or is one sentence."""
    if len(passage) <= limit:
        return None
    units = _units(passage)
    if len(units) <= 1:
        return None
    return "\n".join(units[i] for i in _window(units, question, lang, limit))


MESSAGES = {
    "en": {
        "no_match": (
            "I'm sorry, I couldn't find that in our published guidance, and I don't want to guess. "
            "You could try asking in other words, or {contact}"
        ),
        "out_of_scope": (
            "Sorry, I can only answer questions about this agency's published guidance, so I can't help with "
            "that. You could ask about our services in other words, or {contact}"
        ),
        "personal_account": (
            "I can't see your case or account, so I can't answer that for you. To check it, {account}, or {contact}"
        ),
        "injection": (
            "I can only answer questions from this agency's published guidance, and I can't follow instructions "
            "like that. Ask me about our services, or {contact}"
        ),
        "not_ready": "Please try again in a minute: the guidance is still being loaded.",
        "clarify": "I found a few pages that could answer that. Which one do you mean?",
        "english_only": "",
        "feedback_prompt": "Was this helpful?",
        "yes": "Yes",
        "no": "No",
        "thanks_helpful": "Thank you! I'm glad it helped.",
        "thanks_not_helpful": (
            "Thank you for telling us; it helps us improve our guidance. You could ask in other words, or {contact}"
        ),
        "handoff": "To talk with a person, {contact}. I've noted that you asked to speak with someone.",
        "greet": (
            "Hello! I'm this agency's virtual assistant. Ask me a question about our services, such as who can get "
            "help, how to apply, payments, renewals, appeals or our offices, and I'll look it up in our published "
            "guidance."
        ),
        "goodbye": "Goodbye, and take care. You can come back any time with another question.",
        "thanks": "You're welcome! Is there anything else I can help you find?",
        "bot_challenge": (
            "I'm an automated assistant, not a person. I answer only from this agency's published guidance, and I "
            "link you to the page each answer comes from. To speak with a person, ask me for one."
        ),
        "restart": "OK, let's start over. What would you like to know?",
    },
    "es": {
        "no_match": (
            "Lo siento, no encontré eso en nuestra información publicada y no quiero adivinar. "
            "Puede preguntar con otras palabras, o {contact}"
        ),
        "out_of_scope": (
            "Lo siento, solo puedo responder preguntas sobre la información publicada por esta agencia, así que "
            "no puedo ayudarle con eso. Puede preguntar sobre nuestros servicios con otras palabras, o {contact}"
        ),
        "personal_account": (
            "No puedo ver su caso ni su cuenta, así que no puedo responderle eso. Para consultarlo, {account}, "
            "o {contact}"
        ),
        "injection": (
            "Solo puedo responder preguntas con la información publicada por esta agencia y no puedo seguir "
            "instrucciones como esa. Pregúnteme sobre nuestros servicios, o {contact}"
        ),
        "not_ready": "Por favor, intente de nuevo en un minuto: todavía estamos cargando la información.",
        "clarify": "Encontré varias páginas que podrían responder. ¿Cuál de ellas busca?",
        "english_only": "Esta información solo está publicada en inglés:\n",
        "feedback_prompt": "¿Le sirvió esta respuesta?",
        "yes": "Sí",
        "no": "No",
        "thanks_helpful": "¡Gracias! Me alegra que le haya servido.",
        "thanks_not_helpful": (
            "Gracias por decírnoslo; nos ayuda a mejorar nuestra información. Puede preguntar con otras "
            "palabras, o {contact}"
        ),
        "handoff": "Para hablar con una persona, {contact}. Anoté que usted pidió hablar con alguien.",
        "greet": (
            "¡Hola! Soy el asistente virtual de esta agencia. Hágame una pregunta sobre nuestros servicios, como "
            "quién puede recibir ayuda, cómo solicitar, pagos, renovaciones, apelaciones u oficinas, y la buscaré en "
            "nuestra información publicada."
        ),
        "goodbye": "Adiós, que le vaya bien. Puede volver cuando quiera con otra pregunta.",
        "thanks": "¡De nada! ¿Hay algo más que pueda ayudarle a encontrar?",
        "bot_challenge": (
            "Soy un asistente automático, no una persona. Solo respondo con la información publicada por esta "
            "agencia y le doy el enlace a la página de cada respuesta. Para hablar con una persona, pídamelo."
        ),
        "restart": "Muy bien, empecemos de nuevo. ¿Qué le gustaría saber?",
    },
}


def say(key: str, lang: str) -> str:
    """One of the assistant's own messages, in the customer's language, with the agency's details filled in."""
    settings = get_sync_settings()
    lang = lang if lang in MESSAGES else "en"
    contact = settings.agency_contact_es if lang == "es" and settings.agency_contact_es else settings.agency_contact
    return MESSAGES[lang][key].format(contact=contact, account=settings.account_help)


def _base(kind: str, lang: str, index_version: str | None) -> dict[str, Any]:
    return {
        "kind": kind,
        "answered": False,
        "text": "",
        "source_url": None,
        "source_title": None,
        "index_version": index_version,
        "lang": lang,
    }


def no_answer(index_version: str | None, reason: str, lang: str = "en", score: float | None = None) -> dict[str, Any]:
    """The honest reply when the assistant won't answer from the guidance; `reason` says why."""
    return _base("answer", lang, index_version) | {"text": say(reason, lang), "reason": reason, "score": score}


def answer_from(hit: Hit, result: SearchResult, question: str, confidence: float) -> dict[str, Any]:
    """The answer: the page's passage that answers, its source and version, and "Was this helpful?"."""
    chunk = hit.chunk
    lang = result.language
    text = passage_for(hit, question)
    short = short_passage_for(text, question, hit.language or "en")  # before any note is put in front
    if lang == "es" and (hit.language or "en") != "es":
        text = MESSAGES["es"]["english_only"] + text
    return _base("answer", lang, result.index_version) | {
        "answered": True,
        "text": text,
        "source_url": chunk.url,
        "source_title": chunk.title,
        "section": chunk.headings[-1] if len(chunk.headings) > 1 else None,
        "last_updated": hit.updated,
        "indexed_at": hit.indexed_at,
        "chunk_id": chunk.id,
        "chunk_digest": chunk.digest,
        "short_text": short,
        "score": round(confidence, 4),
        "feedback": {
            "prompt": say("feedback_prompt", lang),
            "buttons": [
                {"title": say("yes", lang), "payload": '/feedback{"helpful": "yes"}'},
                {"title": say("no", lang), "payload": '/feedback{"helpful": "no"}'},
            ],
        },
    }


def clarify(result: SearchResult, choices: list[dict[str, Any]]) -> dict[str, Any]:
    """The question back: which of these pages is meant."""
    return _base("clarify", result.language, result.index_version) | {
        "text": say("clarify", result.language),
        "reason": "clarify",
        "choices": choices,
    }


def handoff(lang: str, index_version: str | None) -> dict[str, Any]:
    """How to reach a person, from the AGENCY_CONTACT setting."""
    return _base("handoff", lang, index_version) | {"text": say("handoff", lang), "reason": "handoff", "handoff": True}


def feedback_ack(helpful: bool, about: dict[str, Any] | None, lang: str) -> dict[str, Any]:
    """The reply to "Was this helpful?", naming the answer that was rated."""
    index_version = (about or {}).get("index_version")
    return _base("feedback", lang, index_version) | {
        "text": say("thanks_helpful" if helpful else "thanks_not_helpful", lang),
        "reason": "feedback",
        "helpful": helpful,
        "about": about or {},
    }
