"""Degraded mode: when Rasa or the action server is down, refuses, errs or is slow, answer from the index itself.

`Responder.ask` is how every channel asks for the one answer. It asks Rasa (within RASA_TIMEOUT); when that
fails, or Rasa answers nothing at all (what it does when the action server is down), the gateway makes the same
answer with the same code the action runs (`content_sync.search.turn.answer_turn`), renders the same Answer, and
flags it `degraded`. A small circuit breaker keeps a Rasa known to be down from costing every message a timeout:
after a failure, messages go straight to the index until RASA_RETRY_SECONDS have passed, and then one message's
short health probe of Rasa and the action server decides whether Rasa is back. A message with no answer at all
within ANSWER_TIMEOUT is told, in its language, that it has been passed on, and is recorded as unanswered
(reason `timeout`), so it enters the review queue like any other.

The search model (~400 MB with torch) is loaded only when degraded mode is first needed, and the CPU work runs in
a worker thread, off the event loop. What degraded conversations remember (the action's slots: the topic for
follow-ups, offered choices, the answer being rated) is kept here in memory, for at most MAX_CONVERSATIONS
conversations; it does not carry over into Rasa's tracker when Rasa is back (docs/adr/0017-degraded-mode.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from channels.answers import Answer, answer_from_custom, answers_from_rasa
from channels.rasa_client import RasaClient, RasaUnavailable, is_up, is_up_sync
from channels.settings import Settings

log = logging.getLogger(__name__)
MAX_CONVERSATIONS = 10_000  # degraded conversations whose slots are remembered; the least recently seen go first
PROBE_TIMEOUT = 1.0  # seconds each health probe may take
# The email listener marks these absent so that spaCy does not load them (channels/email/__main__.py); the search
# model needs them, so degraded mode lets them be imported after all.
MODEL_MODULES = ("torch", "transformers")
FEEDBACK = re.compile(r"^/feedback\s*(\{.*\})?\s*$", re.S)
RESTART = re.compile(r"^/restart\s*$|^\s*(start over|restart|empezar de nuevo|volver a empezar)\s*[.!]?\s*$", re.I)
HANDOFF = re.compile(
    r"\b(talk|speak|chat|connect|transfer|put)\b.{0,30}\b(person|human|someone|somebody|agent|representative|"
    r"caseworker|operator|staff|supervisor)\b|^\s*(agent|representative|operator|human)( please)?\s*[.!?]?\s*$"
    r"|\bhablar con (una persona|alguien|un agente|un representante|un humano)\b",
    re.I,
)
SMALL_TALK_KINDS = (  # which of the assistant's small-talk replies a message of only small-talk words gets
    ("thanks", re.compile(r"\b(thanks?|thx|ty|tysm|cheers|appreciated?|gracias)\b", re.I)),
    ("goodbye", re.compile(r"\b(bye|goodbye|goodnight|later|cya|ttyl|farewell|adios|chao|luego|vemos)\b", re.I)),
    ("bot_challenge", re.compile(r"\b(bot|robot|human|person|real|machine|ai|chatbot|persona)\b", re.I)),
)
PASSED_ON = {
    "en": (
        "I'm sorry, I couldn't find your answer in time. I've passed your question on to our staff, who look at "
        "every question the assistant could not answer. If you need help sooner, {contact}"
    ),
    "es": (
        "Lo siento, no pude encontrar su respuesta a tiempo. Pasé su pregunta a nuestro personal, que revisa cada "
        "pregunta que el asistente no pudo contestar. Si necesita ayuda antes, {contact}"
    ),
}


@dataclass
class Reply:
    """The Answers for one message, and the same reply in Rasa's REST form (what "Text me this" keeps)."""

    answers: list[Answer]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def degraded(self) -> bool:
        return any(a.degraded for a in self.answers)


class Breaker:
    """Whether to ask Rasa: closed (ask), or open after a failure until `retry_seconds` have passed, when one
    caller gets to probe. Thread-safe."""

    def __init__(self, retry_seconds: float) -> None:
        self.retry_seconds = retry_seconds
        self._retry_at = 0.0  # 0: closed
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._retry_at > 0

    def claim_probe(self) -> bool:
        """True when the breaker is open and a probe is due; the caller probes, and others wait another round."""
        with self._lock:
            now = time.monotonic()
            if self._retry_at == 0 or now < self._retry_at:
                return False
            self._retry_at = now + self.retry_seconds
            return True

    def trip(self) -> bool:
        """Open (again); True when it was closed."""
        with self._lock:
            was_closed = self._retry_at == 0
            self._retry_at = time.monotonic() + self.retry_seconds
            return was_closed

    def reset(self) -> bool:
        """Close; True when it was open."""
        with self._lock:
            was_open = self._retry_at > 0
            self._retry_at = 0.0
            return was_open


def _allow_model_imports() -> None:
    for name in MODEL_MODULES:
        if name in sys.modules and sys.modules[name] is None:
            del sys.modules[name]


def _small_talk_kind(text: str) -> str:
    return next((kind for kind, words in SMALL_TALK_KINDS if words.search(text)), "greet")


def _helpful(text: str) -> bool | None:
    """The rating a `/feedback{"helpful": "yes"}` button payload gives; None for anything else."""
    found = FEEDBACK.match(text.strip())
    if not found:
        return None
    try:
        value = json.loads(found.group(1) or "{}").get("helpful", "yes")
    except (ValueError, AttributeError):
        return None
    return str(value).lower() in ("yes", "true", "si", "sí", "1")


class DegradedAnswerer:
    """Make the action's answer in the gateway, with each conversation's slots kept in a bounded memory."""

    def __init__(self, max_conversations: int = MAX_CONVERSATIONS) -> None:
        self.max_conversations = max_conversations
        self._slots: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._loaded = False

    def _load(self) -> None:
        """The search model and the published index, on first use only (the gateway does not hold them else)."""
        if self._loaded:
            return
        started = time.monotonic()
        _allow_model_imports()
        from content_sync.search import IndexNotReady, get_searcher

        try:
            get_searcher().current()
            get_searcher().search("warm up", k=1)  # loads the embedding model too
        except IndexNotReady:
            return  # answered below as not_ready; loaded on a later message
        self._loaded = True
        log.warning("degraded mode: loaded the search model and index in %.1f s", time.monotonic() - started)

    def answer(self, sender: str, text: str) -> Reply:
        """The reply to one message of conversation `sender`, made as the action makes it. CPU work: call it
        from a worker thread."""
        from content_sync.errors import IndexNotReady
        from content_sync.search import answer as replies
        from content_sync.search import detect_language
        from content_sync.search.dialogue import is_small_talk
        from content_sync.search.turn import SLOTS, Conversation, Turn, answer_turn, feedback_turn, handoff_turn

        self._load()
        with self._lock:
            slots = dict(self._slots.get(sender) or {})
        conversation = Conversation.from_slots(slots)
        helpful = _helpful(text)
        plain: str | None = None
        turn: Turn | None = None
        try:
            if RESTART.match(text):
                plain, slots = replies.say("restart", detect_language(text)), {}
            elif helpful is not None:
                turn = feedback_turn(helpful, conversation, text)
            elif HANDOFF.search(text):
                turn = handoff_turn(text)
            elif is_small_talk(text) and not conversation.pending_choices:
                plain = replies.say(_small_talk_kind(text), detect_language(text))
            else:
                turn = answer_turn(text, conversation)
        except IndexNotReady:
            turn = Turn(replies.no_answer(None, "not_ready", detect_language(text)))
        if plain is not None:
            reply = Reply([Answer(text=plain, degraded=True)], [{"text": plain}])
        else:
            assert turn is not None
            slots.update({name: value for name, value in turn.slots.items() if name in SLOTS})
            reply = Reply([answer_from_custom(turn.payload, degraded=True)], [{"custom": turn.payload}])
        with self._lock:
            self._slots[sender] = slots
            self._slots.move_to_end(sender)
            while len(self._slots) > self.max_conversations:
                self._slots.popitem(last=False)
        return reply


def passed_on(text: str) -> Reply:
    """The reply when no answer was ready within ANSWER_TIMEOUT: the question has gone to staff (review queue)."""
    from content_sync.search import detect_language, get_sync_settings

    try:
        lang = detect_language(text)
    except Exception:  # the language detector must not stop the customer being told
        lang = "en"
    lang = lang if lang in PASSED_ON else "en"
    settings = get_sync_settings()
    contact = settings.agency_contact_es if lang == "es" and settings.agency_contact_es else settings.agency_contact
    message = PASSED_ON[lang].format(contact=contact)
    payload = {"kind": "answer", "answered": False, "text": message, "lang": lang, "reason": "timeout"}
    return Reply([answer_from_custom(payload)], [{"custom": payload}])


class Responder:
    """Ask Rasa for the one answer, or make it from the index when Rasa cannot (see the module's docstring)."""

    def __init__(self, rasa: RasaClient, settings: Settings, answerer: DegradedAnswerer, breaker: Breaker) -> None:
        self.rasa = rasa
        self.settings = settings
        self.answerer = answerer
        self.breaker = breaker

    @property
    def _health_urls(self) -> tuple[str, str]:
        return self.settings.rasa_url + "/", self.settings.actions_url + "/health"

    async def _rasa_is_back(self) -> bool:
        """Whether to ask Rasa now: yes when the breaker is closed, or when this message's probe finds both up."""
        if not self.breaker.is_open:
            return True
        if not self.breaker.claim_probe():
            return False
        rasa, actions = self._health_urls
        return await is_up(rasa, PROBE_TIMEOUT) and await is_up(actions, PROBE_TIMEOUT)

    def _failed(self, why: str) -> None:
        if self.breaker.trip():
            log.error("degraded mode on: %s; answering from the index until Rasa is back", why)

    def _answered(self) -> None:
        if self.breaker.reset():
            log.warning("degraded mode off: Rasa answers again")

    def _degraded(self, sender: str, text: str) -> Reply:
        """The answer from the index; a failure there (the index unreadable) is the passed-on notice."""
        try:
            return self.answerer.answer(sender, text)
        except Exception:
            log.exception("degraded mode could not answer either; the customer is told it was passed on")
            return passed_on(text)

    def _from_rasa(self, messages: list[dict[str, Any]]) -> Reply | None:
        """Rasa's reply, or None when it said nothing a customer can be given."""
        answers = answers_from_rasa(messages)
        if not answers:
            return None
        self._answered()
        return Reply(answers, messages)

    def _answered_nothing(self, actions_up: bool) -> None:
        self._failed("Rasa answered nothing" + ("" if actions_up else "; the action server is down"))

    async def _ask(self, sender: str, text: str, metadata: dict[str, Any] | None) -> Reply:
        if await self._rasa_is_back():
            try:
                messages = await self.rasa.send(
                    sender, text, retries=0, metadata=metadata, timeout=self.settings.rasa_timeout
                )
            except RasaUnavailable as exc:
                self._failed(str(exc))
            else:
                reply = self._from_rasa(messages)
                if reply is not None:
                    return reply
                # Rasa answers [] when its action server is down (or the action failed): nothing for the customer.
                self._answered_nothing(await is_up(self._health_urls[1], PROBE_TIMEOUT))
        return await asyncio.to_thread(self._degraded, sender, text)

    async def ask(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> Reply:
        """The reply to `text` from conversation `sender`: Rasa's, a degraded one, or the passed-on notice."""
        try:
            return await asyncio.wait_for(self._ask(sender, text, metadata), self.settings.answer_timeout)
        except TimeoutError:
            log.error(
                "no answer within ANSWER_TIMEOUT (%.1f s); the customer is told it was passed on",
                self.settings.answer_timeout,
            )
            return await asyncio.to_thread(passed_on, text)  # the language detector is CPU work too

    def ask_sync(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> Reply:
        """`ask` for code that is not async (the email worker thread). Nobody waits on a socket for an email, so
        there is no ANSWER_TIMEOUT here: the reply goes when Rasa, or the index, has made it."""
        go = not self.breaker.is_open
        if not go and self.breaker.claim_probe():
            rasa, actions = self._health_urls
            go = is_up_sync(rasa, PROBE_TIMEOUT) and is_up_sync(actions, PROBE_TIMEOUT)
        if go:
            try:
                messages = self.rasa.send_sync(
                    sender, text, retries=0, metadata=metadata, timeout=self.settings.rasa_timeout
                )
            except RasaUnavailable as exc:
                self._failed(str(exc))
            else:
                reply = self._from_rasa(messages)
                if reply is not None:
                    return reply
                self._answered_nothing(is_up_sync(self._health_urls[1], PROBE_TIMEOUT))
        return self._degraded(sender, text)


@lru_cache(maxsize=4)
def _shared(rasa_url: str, actions_url: str, retry_seconds: float) -> tuple[DegradedAnswerer, Breaker]:
    """The process's degraded memory and breaker, one per Rasa it talks to."""
    return DegradedAnswerer(), Breaker(retry_seconds)


def responder_for(rasa: RasaClient, settings: Settings) -> Responder:
    """The Responder for this process: `rasa` (the pooled client, or a test's), with the shared breaker and
    degraded conversations."""
    answerer, breaker = _shared(settings.rasa_url, settings.actions_url, settings.rasa_retry_seconds)
    return Responder(rasa, settings, answerer, breaker)
