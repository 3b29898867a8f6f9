"""Tune the review queue's clustering threshold; prints the figures recorded in channels/review/cluster.py.

Two sets of dev-half questions:
- paraphrase groups (tests/fixtures/review_paraphrases.json): each group is one dev question of tests/eval (or
  one of the two questions only the sample site's update answers) asked three or four ways. Pairs within a
  group should cluster; pairs across groups are about different programmes and should not.
- the dev half's answerable questions (tests/eval/questions): pairs about different pages should not cluster.

For each threshold it prints the share of paraphrase pairs whose cosine reaches it, the share of
different-programme and different-page pairs that do, and the result of clustering the paraphrase questions
greedily in arrival order, as the queue does: clusters made (the groups are the right answer) and B-cubed
precision and recall against the groups.

    .venv/bin/python -m bench.review_clusters
"""

from __future__ import annotations

import argparse
import json
from itertools import combinations

import numpy as np

from bench.evalset import ROOT, load_eval, table
from channels.review.cluster import cluster_greedily, embed_questions
from content_sync.settings import DEFAULT_MODEL

THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
PARAPHRASES = ROOT / "tests" / "fixtures" / "review_paraphrases.json"


def _bcubed(truth: list[int], labels: list[int]) -> tuple[float, float]:
    """B-cubed precision and recall of `labels` against `truth`."""
    t, lab = np.array(truth), np.array(labels)
    precision = np.mean([np.mean(t[lab == lab[i]] == t[i]) for i in range(len(t))])
    recall = np.mean([np.mean(lab[t == t[i]] == lab[i]) for i in range(len(t))])
    return float(precision), float(recall)


def _interleaved(groups: list[list[str]]) -> tuple[list[str], list[int]]:
    """Questions in an arrival order that mixes the groups (round robin), with each one's group."""
    questions, truth = [], []
    for turn in range(max(len(g) for g in groups)):
        for number, group in enumerate(groups):
            if turn < len(group):
                questions.append(group[turn])
                truth.append(number)
    return questions, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    groups = [g["questions"] for g in json.loads(PARAPHRASES.read_text())["groups"]]
    questions, truth = _interleaved(groups)
    vectors = embed_questions(args.model, questions)
    same: list[float] = []
    across: list[float] = []
    for i, j in combinations(range(len(questions)), 2):
        (same if truth[i] == truth[j] else across).append(float(vectors[i] @ vectors[j]))
    dev = [q for q in load_eval().half("dev").questions if q.get("lang", "en") == "en"]
    dev_vectors = embed_questions(args.model, [str(q["question"]) for q in dev])
    pages = [
        float(dev_vectors[i] @ dev_vectors[j])
        for i, j in combinations(range(len(dev)), 2)
        if dev[i]["path"] != dev[j]["path"]
    ]
    rows = []
    for threshold in THRESHOLDS:
        labels = cluster_greedily(vectors, threshold)
        precision, recall = _bcubed(truth, labels)
        rows.append(
            [
                f"{threshold:.2f}",
                f"{np.mean(np.array(same) >= threshold):.1%}",
                f"{np.mean(np.array(across) >= threshold):.2%}",
                f"{np.mean(np.array(pages) >= threshold):.2%}",
                f"{len(set(labels))} / {len(groups)}",
                f"{precision:.1%}",
                f"{recall:.1%}",
            ]
        )
    print(
        f"{len(questions)} questions in {len(groups)} paraphrase groups ({len(same)} pairs within, {len(across)} "
        f"across); {len(dev)} dev questions ({len(pages)} pairs about different pages)"
    )
    head = [
        "threshold",
        "paraphrases ≥",
        "other programmes ≥",
        "other pages ≥",
        "clusters / groups",
        "precision",
        "recall",
    ]
    print(table(rows, head))


if __name__ == "__main__":
    main()
