"""Rasa custom actions: `action_answer_question` answers from the published guidance."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.answer import answer_question, no_answer
from content_sync.errors import IndexNotReady

log = logging.getLogger(__name__)
# A message NLU calls out_of_scope is answered only when the guidance matches it clearly; intent models make
# mistakes on short questions ("how long do you keep my records?"), and a clear match in the index wins.
OUT_OF_SCOPE_MIN_SCORE = 0.6


class ActionAnswerQuestion(Action):  # type: ignore[misc]
    """Answer the latest user message from the index, as a `custom` payload every channel renders."""

    def name(self) -> str:
        return "action_answer_question"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        question = (tracker.latest_message.get("text") or "").strip()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        out_of_scope = intent == "out_of_scope"
        try:
            answer = answer_question(question, out_of_scope_bar=OUT_OF_SCOPE_MIN_SCORE if out_of_scope else None)
        except IndexNotReady:
            log.warning("asked %r before any index was published", question[:80])
            answer = no_answer(None, "please try again in a minute: the guidance is still being loaded.")
        dispatcher.utter_message(json_message=answer)
        return []
