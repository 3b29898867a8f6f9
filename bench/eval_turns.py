"""The answer decision on its own: every eval item through `content_sync.search.turn.answer_turn`, in process.

This is the tuning loop for the dialogue layer (follow-ups, clarifications, the honest "no", Spanish). It runs
the same turn logic the action runs, with the conversation's slots carried from turn to turn as Rasa would
carry them, but without Rasa: NLU's intents are not in it (every message is treated as a question), so
`make eval` through `/api/chat` remains the figure that is reported.

    .venv/bin/python bench/eval_answers.py --split dev --search-only --data /tmp/eval-data   # builds the index
    .venv/bin/python bench/eval_turns.py --data /tmp/eval-data --split dev [--show]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.evalset import EvalSet, has_phrase, load_eval, path_of, table, turn_kind  # noqa: E402

TURN_LABELS = {
    "first": "first turns",
    "clarified": "clarified answers",
    "switch": "new question after a topic",
    "follow-up": "follow-up turns",
}


def _rate(hits: int, total: int) -> str:
    return f"{hits / max(1, total):.3f} ({hits}/{total})"


class Turns:
    """Ask questions of the turn logic, keeping each conversation's slots."""

    def __init__(self) -> None:
        from content_sync.search.turn import Conversation, answer_turn

        self._conversation = Conversation
        self._answer_turn = answer_turn
        self.slots: dict[str, dict[str, Any]] = defaultdict(dict)

    def ask(self, text: str, conversation: str | None = None) -> dict[str, Any]:
        slots = self.slots[conversation] if conversation else {}
        turn = self._answer_turn(text, self._conversation.from_slots(slots))
        if conversation:
            slots.update(turn.slots)
        return turn.payload


def answerable(turns: Turns, evalset: EvalSet, show: bool) -> list[list[str]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in evalset.questions:
        payload = turns.ask(item["question"])
        right = payload["answered"] and path_of(payload["source_url"]) == item["path"]
        phrase = payload["answered"] and has_phrase(payload["text"], item["phrases"])
        for key in ("all", "lang:" + item["lang"], item.get("style", "plain")):
            counts[f"top-1 {key}"][0] += right
            counts[f"top-1 {key}"][1] += 1
        counts["phrase in the answer"][0] += phrase
        counts["phrase in the answer"][1] += 1
        counts["refused"][0] += not payload["answered"] and payload.get("kind") != "clarify"
        counts["refused"][1] += 1
        counts["asked back"][0] += payload.get("kind") == "clarify"
        counts["asked back"][1] += 1
        if item["lang"] == "es":
            counts["Spanish answered in Spanish"][0] += payload.get("lang") == "es"
            counts["Spanish answered in Spanish"][1] += 1
        if show and not right:
            got = path_of(payload.get("source_url")) if payload["answered"] else payload.get("reason")
            print(f"  MISS {item['id']} [{payload.get('score')}] {item['question']!r} -> {got} (want {item['path']})")
    return [[k, _rate(*v)] for k, v in sorted(counts.items())]


def refusals(turns: Turns, evalset: EvalSet, show: bool) -> list[list[str]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in evalset.refusals:
        payload = turns.ask(item["question"])
        for key in (item["kind"], "all"):
            counts[key][0] += bool(payload["answered"])
            counts[key][1] += 1
        if show and payload["answered"]:
            print(f"  FALSE {item['id']} [{payload.get('score')}] {item['question']!r} -> {payload['source_url']}")
    return [[k, _rate(*v)] for k, v in sorted(counts.items())]


def conversations(turns: Turns, evalset: EvalSet, show: bool) -> list[list[str]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for convo in evalset.conversations:
        for n, turn in enumerate(convo["turns"]):
            payload = turns.ask(turn["text"], convo["id"])
            if turn.get("expect") == "clarify":
                asked = payload.get("kind") == "clarify"
                counts["ambiguous first turns asked back"][0] += asked
                counts["ambiguous first turns asked back"][1] += 1
                if show and not asked:
                    print(f"  NOCLARIFY {convo['id']} {turn['text']!r} -> {path_of(payload.get('source_url'))}")
                continue
            ok = payload["answered"] and path_of(payload["source_url"]) == turn["path"]
            key = TURN_LABELS[turn_kind(convo, n)]
            counts[key][0] += ok
            counts[key][1] += 1
            if show and not ok:
                got = path_of(payload.get("source_url")) if payload["answered"] else payload.get("reason")
                print(f"  MISS {convo['id']}#{n} {key}: {turn['text']!r} -> {got} (want {turn['path']})")
    return [[k, _rate(*v)] for k, v in sorted(counts.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the DATA_DIR eval_answers.py --data synced")
    parser.add_argument("--split", choices=["dev", "test", "all"], default="dev")
    parser.add_argument("--show", action="store_true", help="print every miss and false answer")
    args = parser.parse_args()
    os.environ["DATA_DIR"] = str(args.data / "search")
    evalset = load_eval().half(args.split)
    turns = Turns()
    print(table(answerable(turns, evalset, args.show), ["answerable questions", args.split]) + "\n")
    print(table(refusals(turns, evalset, args.show), ["must-not-answer: answered anyway", args.split]) + "\n")
    print(table(conversations(turns, evalset, args.show), ["conversations, top-1", args.split]))


if __name__ == "__main__":
    main()
