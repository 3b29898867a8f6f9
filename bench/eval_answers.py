"""`make eval`: how well the product answers, on the dev or test half of tests/eval/, beside plain baselines.

It serves a copy of the sample site on loopback, syncs it, and measures in one run:
- three plain baselines over fixed 200-word chunks (dense only, bm25s only, their naive RRF fusion);
- `content_sync.search` alone, in process, and the answer the action would make from it;
- the real product through `POST /api/chat` (Rasa, the action server, the gateway): top-1 and top-3 page,
  MRR, phrase-in-answer, false answers by kind, follow-ups, clarifications, Spanish, latency;
- then the sample update is applied and synced, and the changed-guidance questions are asked again.

    .venv/bin/python bench/eval_answers.py --split test          # what docs/benchmarks.md reports
    .venv/bin/python bench/eval_answers.py --split dev --search-only   # quick, for tuning (no Rasa)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.baselines import Baselines  # noqa: E402
from bench.evalset import EvalSet, has_phrase, load_eval, path_of, table  # noqa: E402
from content_sync.index_store import IndexStore  # noqa: E402
from content_sync.sample_site import ROOT as SAMPLE_SITE  # noqa: E402
from content_sync.sample_site import serve_in_thread  # noqa: E402
from content_sync.search import Searcher  # noqa: E402
from content_sync.settings import SyncSettings  # noqa: E402
from content_sync.sync import run_sync  # noqa: E402

Ranker = Callable[[str], list[str]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def ranking_scores(questions: list[dict[str, Any]], ranker: Ranker) -> dict[str, float]:
    """top-1, top-3 and MRR of a query → pages function."""
    top1 = top3 = rr = 0.0
    for item in questions:
        pages = [path_of(u) for u in ranker(item["question"])]
        if item["path"] in pages:
            rank = pages.index(item["path"]) + 1
            top1 += rank == 1
            top3 += rank <= 3
            rr += 1 / rank
    n = max(1, len(questions))
    return {"top1": top1 / n, "top3": top3 / n, "mrr": rr / n}


def sync_site(site_url: str, data: Path) -> Path:
    settings = SyncSettings(data_dir=data, sync_sources=[site_url + "/sitemap.xml"], _env_file=None)  # type: ignore[call-arg]
    report = run_sync(settings)
    print(f"<!-- synced {report.pages} pages, {report.chunks} chunks, {report.embedded} embedded -->", flush=True)
    return settings.index_dir


def f(x: float) -> str:
    return f"{x:.3f}"


def search_only(evalset: EvalSet, index_dir: Path) -> tuple[dict[str, bool], str]:
    """Baselines and the product's search, in process: which questions search alone gets right, and a report."""
    from content_sync.search.answer import passage_for

    settings = SyncSettings(_env_file=None)  # type: ignore[call-arg]
    searcher = Searcher(index_dir, settings.embedding_model)
    version = IndexStore(index_dir).load()
    baselines = Baselines(version, settings.embedding_model)
    questions = evalset.questions
    rows = []
    naive_rows = {q["question"]: baselines.rrf_rows(q["question"]) for q in questions}  # reused below
    naive_pages = {q: baselines.pages(r) for q, r in naive_rows.items()}
    for name, ranker in baselines.rankers().items():
        s = ranking_scores(questions, naive_pages.__getitem__ if name.startswith("naive") else ranker)
        phrase = ""
        if name.startswith("naive"):
            hit = sum(
                bool(naive_rows[q["question"]])
                and has_phrase(baselines.windows[naive_rows[q["question"]][0]], q["phrases"])
                for q in questions
            )
            phrase = f(hit / max(1, len(questions)))
        rows.append([name, f(s["top1"]), f(s["top3"]), f(s["mrr"]), phrase])
    results = {q["question"]: searcher.search(q["question"]) for q in questions}

    def product(question: str) -> list[str]:
        return [h.chunk.url for h in results[question].hits]

    s = ranking_scores(questions, product)
    phrase = sum(
        bool(results[q["question"]].hits)
        and has_phrase(passage_for(results[q["question"]].hits[0], q["question"]), q["phrases"])
        for q in questions
    )
    rows.append(
        ["**content_sync.search alone**", f(s["top1"]), f(s["top3"]), f(s["mrr"]), f(phrase / max(1, len(questions)))]
    )
    out = [
        f"Answerable questions: {len(questions)}\n",
        table(rows, ["retrieval", "top-1", "top-3", "MRR", "phrase in passage"]),
    ]
    by_style: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in questions:
        by_style[q.get("style", "plain")].append(q)
        by_style["lang:" + q["lang"]].append(q)
    style_rows = []
    for style, items in sorted(by_style.items()):
        mine = ranking_scores(items, product)
        base = ranking_scores(items, lambda q: naive_pages[q])
        style_rows.append([style, str(len(items)), f(base["top1"]), f(mine["top1"])])
    out += ["", table(style_rows, ["questions", "n", "naive RRF top-1", "search top-1"])]
    right = {
        q["id"]: bool(product(q["question"])) and path_of(product(q["question"])[0]) == q["path"] for q in questions
    }
    return right, "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["dev", "test", "all"], default="test")
    parser.add_argument("--search-only", action="store_true", help="baselines and search in process; no Rasa")
    parser.add_argument("--data", type=Path, help="reuse this DATA_DIR between runs (default: a temporary one)")
    args = parser.parse_args()
    evalset = load_eval().half(args.split)
    root = Path(tempfile.mkdtemp(prefix="eval-"))
    site_root = root / "site"
    shutil.copytree(SAMPLE_SITE, site_root)
    server = serve_in_thread(site_root)
    site_url = f"http://127.0.0.1:{server.server_address[1]}"
    data = args.data or root / "data"
    try:
        print(f"## Answer eval, {args.split} half, {time.strftime('%Y-%m-%d %H:%M')}\n")
        index_dir = sync_site(site_url, data / "search")
        right, report = search_only(evalset, index_dir)
        print(report, flush=True)
        if not args.search_only:
            from bench.eval_product import product_report

            print(product_report(evalset, site_url, site_root, data / "stack", right), flush=True)
    finally:
        server.shutdown()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
