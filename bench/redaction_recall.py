"""How much personal data channels/privacy.py finds in the labelled corpus: recall per kind, and precision.

    .venv/bin/python -m bench.redaction_recall [--corpus tests/fixtures/pii_messages.json] [--show-misses]

A labelled span counts as found when every one of its characters is inside something `find_pii` found (of
any kind: what matters is that it does not survive); "right kind" counts those whose placeholder also names
its kind. Precision is the share of what was found that overlaps a labelled span: the rest is text a
reader of the review queue loses for nothing (the agency's own phone number would count here, so the corpus
labels those too). The results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels.privacy import KINDS, Found, find_pii, redact, warm_up

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "pii_messages.json"


@dataclass
class Tally:
    """What was counted over the corpus."""

    spans: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    right_kind: Counter[str] = field(default_factory=Counter)
    predicted: int = 0
    predicted_true: int = 0
    clean_messages: int = 0
    clean_untouched: int = 0
    keep_total: int = 0
    keep_kept: int = 0
    misses: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    """The corpus's messages, each with `text`, `spans` [{kind, text}] and `keep` [text]."""
    return list(json.loads(path.read_text())["messages"])


def covered(start: int, end: int, found: list[Found]) -> Found | None:
    """The found piece covering [start, end) entirely, or None (pieces never overlap: they are joined)."""
    return next((f for f in found if f.start <= start and end <= f.end), None)


def tally_message(message: dict[str, Any], tally: Tally) -> None:
    """Count one message's spans, what was found, and what had to survive."""
    text = message["text"]
    found = find_pii(text)
    gold = [(text.index(s["text"]), text.index(s["text"]) + len(s["text"]), s["kind"]) for s in message["spans"]]
    for start, end, kind in gold:
        tally.spans[kind] += 1
        hit = covered(start, end, found)
        if hit is None:
            tally.misses.append(f"{message['id']} {kind} {text[start:end]!r}")
            continue
        tally.found[kind] += 1
        tally.right_kind[kind] += hit.kind == kind
    for piece in found:
        tally.predicted += 1
        if any(piece.start < end and start < piece.end for start, end, _ in gold):
            tally.predicted_true += 1
        else:
            tally.false_positives.append(f"{message['id']} {piece.kind} {text[piece.start : piece.end]!r}")
    redacted = redact(text)
    if not gold:
        tally.clean_messages += 1
        tally.clean_untouched += redacted == text
    for keep in message["keep"]:
        tally.keep_total += 1
        tally.keep_kept += keep in redacted


def measure(messages: list[dict[str, Any]]) -> Tally:
    """Tally the whole corpus."""
    tally = Tally()
    for message in messages:
        tally_message(message, tally)
    return tally


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "n/a"


def report(tally: Tally, messages: int, seconds: float) -> str:
    """The figures as a Markdown table and a few lines, as docs/benchmarks.md shows them."""
    lines = ["| kind | spans | found | recall | right placeholder |", "|---|---|---|---|---|"]
    for kind in KINDS:
        if tally.spans[kind]:
            recall = _ratio(tally.found[kind], tally.spans[kind])
            right = _ratio(tally.right_kind[kind], tally.found[kind])
            lines.append(f"| {kind} | {tally.spans[kind]} | {tally.found[kind]} | {recall} | {right} |")
    total, found = sum(tally.spans.values()), sum(tally.found.values())
    right = _ratio(sum(tally.right_kind.values()), found)
    lines.append(f"| **all** | {total} | {found} | **{_ratio(found, total)}** | {right} |")
    lines += [
        "",
        f"precision (found pieces that are personal data): {_ratio(tally.predicted_true, tally.predicted)} "
        f"({tally.predicted_true} of {tally.predicted})",
        f"messages without personal data left unchanged: {tally.clean_untouched} of {tally.clean_messages}",
        f"text that must survive (dates, amounts, programmes, form numbers) kept: {tally.keep_kept} of "
        f"{tally.keep_total}",
        f"{messages} messages in {seconds * 1000:.0f} ms ({seconds / messages * 1000:.2f} ms a message, after "
        f"loading) on {platform.machine()} {platform.system()}, Python {platform.python_version()}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the figures; with --show-misses, every span missed and every piece found wrongly."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args(argv)
    messages = load_corpus(args.corpus)
    started = time.perf_counter()
    warm_up()
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    tally = measure(messages)
    print(report(tally, len(messages), time.perf_counter() - started))
    for split in sorted({m.get("split", "") for m in messages} - {""}):
        part = measure([m for m in messages if m.get("split") == split])
        spans, found = sum(part.spans.values()), sum(part.found.values())
        print(
            f"{split}: {sum(m.get('split') == split for m in messages)} messages, recall {_ratio(found, spans)} "
            f"({found} of {spans}), precision {_ratio(part.predicted_true, part.predicted)}"
        )
    print(f"(loading the analyzer took {loaded:.1f} s, once per process)")
    if args.show_misses:
        print("\nmissed:", *tally.misses, sep="\n  ")
        print("\nfound but not personal data:", *tally.false_positives, sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
