"""The product measured from outside, through `POST /api/chat` on a real stack (Rasa, actions, gateway)."""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from bench.evalset import EvalSet, has_phrase, path_of, table, turn_kind
from bench.stack import apply_updates, running_stack


def _rate(hits: int, total: int) -> str:
    return f"{hits / total:.3f} ({hits}/{total})" if total else "n/a"


class Chat:
    """A client for /api/chat that keeps the latency of every call."""

    def __init__(self, gateway: str) -> None:
        self.url = gateway + "/api/chat"
        self.client = httpx.Client(timeout=120)
        self.latency: list[float] = []

    def ask(self, text: str, session: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text, "session_id": session or f"eval-{uuid.uuid4().hex[:12]}"}
        start = time.perf_counter()
        response = self.client.post(self.url, json=body)
        self.latency.append(time.perf_counter() - start)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]


def first(reply: dict[str, Any], kind: str | None = None) -> dict[str, Any] | None:
    """The reply's first message that answers (or is of `kind`)."""
    for message in reply["messages"]:
        if (kind and message.get("kind") == kind) or (not kind and message.get("answered")):
            return message
    return None


def _answerable(chat: Chat, evalset: EvalSet) -> tuple[list[str], dict[str, bool]]:
    right: dict[str, bool] = {}
    phrase = spanish_ok = spanish_lang = 0
    spanish = [q for q in evalset.questions if q["lang"] == "es"]
    for item in evalset.questions:
        message = first(chat.ask(item["question"]))
        ok = message is not None and path_of(message["source_url"]) == item["path"]
        right[item["id"]] = ok
        phrase += message is not None and has_phrase(message["text"], item["phrases"])
        if item["lang"] == "es":
            spanish_ok += ok
            spanish_lang += message is not None and message.get("lang") == "es"
    n = len(evalset.questions)
    lines = [
        table(
            [
                ["top-1 page through /api/chat", _rate(sum(right.values()), n)],
                ["phrase in the answer", _rate(phrase, n)],
                ["Spanish questions, top-1", _rate(spanish_ok, len(spanish))],
                ["Spanish questions answered in Spanish", _rate(spanish_lang, len(spanish))],
            ],
            ["answerable questions", "product"],
        )
    ]
    return lines, right


def _refusals(chat: Chat, evalset: EvalSet) -> list[str]:
    answered: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for item in evalset.refusals:
        total[item["kind"]] += 1
        answered[item["kind"]] += first(chat.ask(item["question"])) is not None
    rows = [[kind, _rate(answered[kind], total[kind])] for kind in sorted(total)]
    rows.append(["**all**", _rate(sum(answered.values()), sum(total.values()))])
    return [table(rows, ["must-not-answer kind", "answered anyway (false answers)"])]


TURN_LABELS = {
    "first": "first turns, top-1",
    "clarified": "clarified answers, top-1",
    "switch": "new self-contained question after a topic, top-1",
    "follow-up": "follow-up turns, top-1",
}


def _conversations(chat: Chat, evalset: EvalSet) -> list[str]:
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for convo in evalset.conversations:
        session = f"eval-{uuid.uuid4().hex[:12]}"
        for n, turn in enumerate(convo["turns"]):
            reply = chat.ask(turn["text"], session)
            if turn.get("expect") == "clarify":
                stats["ambiguous first turns asked back"][1] += 1
                stats["ambiguous first turns asked back"][0] += first(reply, "clarify") is not None
                continue
            message = first(reply)
            ok = message is not None and path_of(message["source_url"]) == turn["path"]
            key = TURN_LABELS[turn_kind(convo, n)]
            stats[key][0] += ok
            stats[key][1] += 1
    order = [
        "first turns, top-1",
        "follow-up turns, top-1",
        "ambiguous first turns asked back",
        "clarified answers, top-1",
        "new self-contained question after a topic, top-1",
    ]
    return [table([[k, _rate(*stats[k])] for k in order if k in stats], ["conversations", "product"])]


def _updates(chat: Chat, evalset: EvalSet, stack: Any) -> list[str]:
    before = sum(
        bool(item["phrases_before"])
        and (m := first(chat.ask(item["question"]))) is not None
        and has_phrase(m["text"], item["phrases_before"])
        for item in evalset.updates
    )
    apply_updates(stack.site_root)
    job = stack.sync()
    after_right = after_phrase = 0
    for item in evalset.updates:
        message = first(chat.ask(item["question"]))
        if not item["phrases_after"]:  # the page was removed: nothing may cite it now
            after_right += message is None or path_of(message["source_url"]) != item["path"]
            after_phrase += 1
            continue
        after_right += message is not None and path_of(message["source_url"]) == item["path"]
        after_phrase += message is not None and has_phrase(message["text"], item["phrases_after"])
    n = len(evalset.updates)
    return [
        f"Sync after the update: {job['status']}, version {job['index_version']}.\n",
        table(
            [
                [
                    "old phrase given before the update",
                    _rate(before, sum(bool(i["phrases_before"]) for i in evalset.updates)),
                ],
                ["right page after the update", _rate(after_right, n)],
                ["new phrase in the answer after the update", _rate(after_phrase, n)],
            ],
            ["changed guidance", "product"],
        ),
    ]


def product_report(
    evalset: EvalSet, site_url: str, site_root: Path, data: Path, search_top1: dict[str, bool] | None = None
) -> str:
    """Everything measured through /api/chat, as Markdown."""
    with running_stack(site_url, site_root, data) as stack:
        # A DATA_DIR reused from an earlier run holds that run's index (after its update): bring it in step
        # with the site served now before anything is asked.
        first = stack.sync()
        assert first["status"] == "succeeded", first
        chat = Chat(stack.gateway)
        out = ["", "### Through `POST /api/chat` (Rasa, action server, gateway)", ""]
        lines, right = _answerable(chat, evalset)
        out += lines
        if search_top1:
            same = [i for i in right if i in search_top1]
            loss = (sum(search_top1[i] for i in same) - sum(right[i] for i in same)) / max(1, len(same))
            out += ["", f"Top-1 lost by the dialogue layer against search alone: {loss * 100:+.1f} points."]
        out += ["", *_refusals(chat, evalset), "", *_conversations(chat, evalset), ""]
        latency = sorted(chat.latency)
        p95 = latency[min(len(latency) - 1, round(0.95 * (len(latency) - 1)))]
        out.append(
            f"Latency of /api/chat over {len(latency)} calls: p50 {statistics.median(latency) * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms.\n"
        )
        out += _updates(chat, evalset, stack)
    return "\n".join(out)
