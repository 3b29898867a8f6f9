"""The answer eval set (tests/eval/): loading, the fixed dev/test halves, and how replies are scored."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = ROOT / "tests" / "eval"
SPACE = re.compile(r"\s+")


def split_of(item_id: str) -> str:
    """An item's half, fixed by its id alone: nobody chooses which questions are tuned on."""
    return "dev" if int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


def _read(pattern: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for path in sorted(EVAL_DIR.glob(pattern)):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SystemExit(f"{path}:{n}: not JSON ({exc})") from exc
                item["split"] = split_of(item["id"])
                item.setdefault("lang", "en")
                items.append(item)
    return items


@dataclass
class EvalSet:
    questions: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)

    def half(self, split: str) -> EvalSet:
        if split == "all":
            return self
        pick = [self.questions, self.refusals, self.conversations, self.updates]
        return EvalSet(*[[i for i in items if i["split"] == split] for items in pick])


def load_eval() -> EvalSet:
    return EvalSet(
        _read("questions/*.jsonl"), _read("refuse/*.jsonl"), _read("conversations/*.jsonl"), _read("updates.jsonl")
    )


def path_of(url: str | None) -> str | None:
    """A source URL's site-relative path, the way eval items name pages."""
    return urlsplit(url).path if url else None


def fold(text: str) -> str:
    return SPACE.sub(" ", text).strip().lower()


def has_phrase(reply: str, phrases: list[str]) -> bool:
    """True when the reply contains at least one of the item's phrases (case and white space folded)."""
    folded = fold(reply)
    return any(fold(p) in folded for p in phrases)


def table(rows: list[list[str]], head: list[str]) -> str:
    """A Markdown table, for the reports that go into docs/benchmarks.md."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def turn_kind(convo: dict[str, Any], n: int) -> str:
    """What turn `n` of an eval conversation measures: "first", "clarified", "switch" or "follow-up"."""
    if n == 0:
        return "first"
    if convo["kind"] == "ambiguous":
        return "clarified"
    if convo["kind"] == "switch" and n == len(convo["turns"]) - 1:
        return "switch"
    return "follow-up"
