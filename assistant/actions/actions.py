"""Rasa custom actions: `action_answer_question` answers from the published guidance."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.answer import answer_question, no_answer
from content_sync.errors import IndexNotReady

log = logging.getLogger(__name__)


class ActionAnswerQuestion(Action):  # type: ignore[misc]
    """Answer the latest user message from the index, as a `custom` payload every channel renders."""

    def name(self) -> str:
        return "action_answer_question"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        question = (tracker.latest_message.get("text") or "").strip()
        try:
            answer = answer_question(question)
        except IndexNotReady:
            log.warning("asked %r before any index was published", question[:80])
            answer = no_answer(None, "please try again in a minute: the guidance is still being loaded.")
        dispatcher.utter_message(json_message=answer)
        return []
