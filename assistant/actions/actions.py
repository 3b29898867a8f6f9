"""Rasa custom actions. Thin: each reads the tracker, hands the turn to `turn`, and sends its one payload.

The search and the answer are CPU work (embedding, FAISS, BM25), so they run in a worker thread: the action
server's event loop stays free and concurrent conversations are not served one at a time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import Restarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from content_sync.errors import IndexNotReady
from content_sync.logs import bind_request_id, valid_request_id
from content_sync.search import answer as replies
from content_sync.search import detect_language
from content_sync.search.dialogue import is_small_talk
from content_sync.search.turn import SLOTS, Conversation, Turn, answer_turn, feedback_turn, handoff_turn

log = logging.getLogger(__name__)
SMALL_TALK = ("greet", "goodbye", "thanks", "bot_challenge")
NEGATIVE = ("not", "no", "didn't", "didnt", "wasn't", "wasnt", "wrong", "useless", "doesn't", "doesnt", "nope")


def _text(tracker: Tracker) -> str:
    return (tracker.latest_message.get("text") or "").strip()


def _intent(tracker: Tracker) -> tuple[str | None, float]:
    intent = tracker.latest_message.get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def _send(dispatcher: CollectingDispatcher, turn: Turn) -> list[dict[str, Any]]:
    dispatcher.utter_message(json_message=turn.payload)
    return [SlotSet(name, value) for name, value in turn.slots.items()]


def _request_id(tracker: Tracker) -> str | None:
    """The gateway's request id, sent with the message as Rasa metadata (content_sync.logs)."""
    metadata = tracker.latest_message.get("metadata") or {}
    return valid_request_id(metadata.get("request_id")) if isinstance(metadata, dict) else None


async def _answer(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    text = _text(tracker)
    intent, confidence = _intent(tracker)
    conversation = Conversation.from_slots({name: tracker.get_slot(name) for name in SLOTS})
    with bind_request_id(_request_id(tracker)):  # every line logged for this turn carries it (never the text)
        try:
            turn = await asyncio.to_thread(answer_turn, text, conversation, intent, confidence)
        except IndexNotReady:
            log.warning("asked a question before any index was published")
            turn = Turn(replies.no_answer(None, "not_ready", detect_language(text)))
        payload = turn.payload
        log.info(
            "answer made",
            extra={"kind": payload.get("kind"), "answered": payload.get("answered"), "reason": payload.get("reason")},
        )
    return _send(dispatcher, turn)


class ActionAnswerQuestion(Action):  # type: ignore[misc]
    """Answer the latest message from the index, as a `custom` payload every channel renders."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return await _answer(dispatcher, tracker)


class ActionSmallTalk(Action):  # type: ignore[misc]
    """Greetings, thanks, goodbyes and "are you a bot", unless the message also asks a question."""

    def name(self) -> str:
        return "action_small_talk"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = _text(tracker)
        intent, _ = _intent(tracker)
        if not is_small_talk(text) or tracker.get_slot("pending_choices"):
            return await _answer(dispatcher, tracker)
        dispatcher.utter_message(text=replies.say(intent if intent in SMALL_TALK else "greet", detect_language(text)))
        return []


class ActionRecordFeedback(Action):  # type: ignore[misc]
    """Thank the customer for "Was this helpful?"; the payload names the answer it rates, for the record."""

    def name(self) -> str:
        return "action_record_feedback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = _text(tracker)
        given = next(
            (str(e.get("value")) for e in tracker.latest_message.get("entities") or [] if e.get("entity") == "helpful"),
            None,
        )
        if given is not None:
            helpful = given.lower() in ("yes", "true", "si", "sí", "1")
        else:
            lowered = text.lower().replace("’", "'")
            helpful = not any(word in lowered.split() for word in NEGATIVE)
        conversation = Conversation.from_slots({name: tracker.get_slot(name) for name in SLOTS})
        return _send(dispatcher, feedback_turn(helpful, conversation, text))


class ActionHandoff(Action):  # type: ignore[misc]
    """How to reach a person, from the AGENCY_CONTACT setting; the conversation is marked as asking for one."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return _send(dispatcher, await asyncio.to_thread(handoff_turn, _text(tracker)))


class ActionRestart(Action):  # type: ignore[misc]
    """Rasa's `action_restart`, overridden: say so in the customer's language, then forget the conversation."""

    def name(self) -> str:
        return "action_restart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=replies.say("restart", detect_language(_text(tracker))))
        return [Restarted()]
