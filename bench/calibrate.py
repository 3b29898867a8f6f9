"""How the "honest no" bar was chosen: the precision-recall curve of ANSWER_MIN_SCORE on the dev half.

For each candidate bar it runs the action's own turn logic in process (search, the personal-account and
injection checks, clarification) on every dev question that must be answered and every dev question that
must not, and prints, as Markdown:
- answered: the share of answerable questions that got an answer;
- right: the share that got an answer from the right page (recall of right answers);
- precision: of all answers given, the share that were right (refusals answered count as wrong);
- false answers: the share of must-not-answer questions that got an answer.

    OMP_NUM_THREADS=1 .venv/bin/python bench/calibrate.py --data /tmp/eval-data   # DIR from eval_answers --data
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.evalset import (  # noqa: E402
    load_eval,
    path_of,
    table,
)

BARS = [0.55, 0.60, 0.65, 0.68, 0.70, 0.71, 0.72, 0.75, 0.80, 0.85]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    os.environ["DATA_DIR"] = str(args.data / "search")
    from content_sync.search.turn import Conversation, answer_turn
    from content_sync.settings import get_sync_settings

    dev = load_eval().half("dev")
    # One run at the lowest bar records each reply's score; a higher bar only turns answers into "no".
    os.environ["ANSWER_MIN_SCORE"] = str(min(BARS))
    get_sync_settings.cache_clear()
    answerable = []
    for item in dev.questions:
        payload = answer_turn(item["question"], Conversation()).payload
        answerable.append(
            (payload.get("score") or 0.0, payload["answered"], path_of(payload["source_url"]) == item["path"])
        )
    refusals = []
    for item in dev.refusals:
        payload = answer_turn(item["question"], Conversation()).payload
        refusals.append((payload.get("score") or 0.0, payload["answered"]))
    rows = []
    for bar in BARS:
        given = [(s >= bar and a, right) for s, a, right in answerable]
        answered = sum(g for g, _ in given)
        right = sum(g and r for g, r in given)
        false = sum(s >= bar and a for s, a in refusals)
        precision = right / max(1, answered + false)
        rows.append(
            [
                f"{bar:.2f}",
                f"{answered / len(given):.3f}",
                f"{right / len(given):.3f}",
                f"{precision:.3f}",
                f"{false / max(1, len(refusals)):.3f} ({false}/{len(refusals)})",
            ]
        )
    print(f"Dev half: {len(answerable)} answerable, {len(refusals)} must-not-answer.\n")
    print(table(rows, ["ANSWER_MIN_SCORE", "answered", "right", "precision", "false answers"]))


if __name__ == "__main__":
    main()
