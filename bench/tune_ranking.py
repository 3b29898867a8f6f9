"""Ranking ablations on the dev half: each variant of `Ranking` against the shipped defaults, in one run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/tune_ranking.py --data /tmp/eval-data   # after eval_answers --data

It reads the index that `bench/eval_answers.py --data DIR` synced (DIR/search/index). Only the dev half is
used: the test half is for reporting.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import content_sync.search as search_module  # noqa: E402
from bench.eval_answers import f, ranking_scores  # noqa: E402
from bench.evalset import (  # noqa: E402
    load_eval,
    table,
)
from content_sync.search import Ranking, Searcher  # noqa: E402
from content_sync.settings import SyncSettings  # noqa: E402

VARIANTS: dict[str, dict[str, object]] = {
    "shipped defaults": {},
    "no query normalisation": {"normalise": False},
    "BM25 with Lucene's 33 stopwords": {"stopwords": "lucene"},
    "BM25 with no stopwords": {"stopwords": "none"},
    "BM25 without stemming": {"stem": False},
    "dense only (lexical weights 0)": {"lexical_weight": 0.0, "page_lexical_weight": 0.0},
    "no page-level BM25": {"page_lexical_weight": 0.0},
    "no passage BM25": {"lexical_weight": 0.0},
    "passage BM25 × 0.5": {"lexical_weight": 0.5},
    "passage BM25 × 0.1": {"lexical_weight": 0.1},
    "page BM25 × 0.2": {"page_lexical_weight": 0.2},
    "page BM25 × 0.1": {"page_lexical_weight": 0.1},
    "no stemming, page BM25 × 0.3": {"stem": False, "page_lexical_weight": 0.3},
    "no stemming, page BM25 × 0.2": {"stem": False, "page_lexical_weight": 0.2},
    "no stemming, page BM25 × 0.4": {"stem": False, "page_lexical_weight": 0.4},
    "no stemming, page × 0.3, passage × 0.4": {"stem": False, "page_lexical_weight": 0.3, "lexical_weight": 0.4},
    "no stemming, page × 0.3, passage × 0.15": {"stem": False, "page_lexical_weight": 0.3, "lexical_weight": 0.15},
    "page BM25 × 0.4": {"page_lexical_weight": 0.4},
    "no language bonus": {"language_bonus": 0.0},
    "language bonus 0.1": {"language_bonus": 0.1},
    "candidates 20": {"candidates": 20},
    "candidates 100": {"candidates": 100},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--only", nargs="*", help="variant names to run")
    args = parser.parse_args()
    cached = lru_cache(maxsize=None)(search_module.embed_query)
    search_module.embed_query = lambda model, text: cached(model, text)  # type: ignore[assignment]
    questions = load_eval().half("dev").questions
    base = Searcher(args.data / "search" / "index", SyncSettings(_env_file=None).embedding_model)  # type: ignore[call-arg]
    rows = []
    for name, change in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        ranking = replace(Ranking(), **change)  # type: ignore[arg-type]
        # The stopwords and stemming shape the loaded index itself, so those variants load their own.
        own = "stopwords" in change or "stem" in change
        searcher = Searcher(base.store.root, base.model, ranking) if own else base
        s = ranking_scores(
            questions, lambda q, r=ranking, s=searcher: [h.chunk.url for h in s.search(q, ranking=r).hits]
        )
        rows.append([name, f(s["top1"]), f(s["top3"]), f(s["mrr"])])
        print(rows[-1], flush=True)
    print(table(rows, ["variant (dev half)", "top-1", "top-3", "MRR", "English top-1", "Spanish top-1"]))


if __name__ == "__main__":
    main()
