"""Search latency at 1k, 10k and 100k passages, against the cost of embedding the query alone (same run).

The corpus is the bundled sample site's real passages, repeated with their sentences reshuffled across pages
until it has the wanted size, with their real vectors plus a little noise; the queries are the eval set's dev
questions. It reports, per size: the time to load the version (a reader picking up a new index), the p50
and p95 of a whole `Searcher.search`, and the same without the query embedding, each beside the p50 of the
query embedding alone.

    OMP_NUM_THREADS=1 .venv/bin/python bench/search_scale.py --data /tmp/eval-data   # DIR from eval_answers --data
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import content_sync.search as search_module  # noqa: E402
from bench.evalset import (  # noqa: E402
    load_eval,
    table,
)
from content_sync.embed import embed_query  # noqa: E402
from content_sync.index_store import IndexStore  # noqa: E402
from content_sync.settings import DEFAULT_MODEL  # noqa: E402


def synthetic(source: IndexStore, size: int, out: Path) -> IndexStore:
    """A version of `size` passages made from the source version's passages and vectors."""
    version = source.load()
    vectors = version.vectors()
    rng = random.Random(size)
    noise = np.random.default_rng(size)
    chunks, rows, pages = [], [], {}
    sentences = [s for c in version.chunks for s in c.text.split(". ") if s]
    for n in range(size):
        base = rng.randrange(len(version.chunks))
        chunk = version.chunks[base]
        page = f"{chunk.url}?copy={n // 8}"
        text = chunk.text if n < len(version.chunks) else ". ".join(rng.sample(sentences, 4))
        chunks.append(replace(chunk, id=f"{n}", url=page, text=text, digest=f"{n:016x}"))
        rows.append(vectors[base] + noise.normal(0, 0.02, vectors.shape[1]).astype(np.float32))
        pages[page] = {"title": chunk.title, "language": chunk.language}
    matrix = np.stack(rows).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    store = IndexStore(out)
    store.publish(chunks, matrix, pages, {"model": DEFAULT_MODEL})
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    questions = [q["question"] for q in load_eval().half("dev").questions][:100]
    source = IndexStore(args.data / "search" / "index")
    embed_query(DEFAULT_MODEL, "warm up")
    embed_times = []
    for q in questions:
        start = time.perf_counter()
        embed_query(DEFAULT_MODEL, q)
        embed_times.append(time.perf_counter() - start)
    embed_p50 = statistics.median(embed_times)
    cached = lru_cache(maxsize=None)(embed_query)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        for size in args.sizes:
            store = synthetic(source, size, Path(tmp) / str(size))
            searcher = search_module.Searcher(store.root, DEFAULT_MODEL)
            start = time.perf_counter()
            searcher.current()
            load_s = time.perf_counter() - start
            totals, without = [], []
            for q in questions:
                search_module.embed_query = embed_query  # type: ignore[assignment]
                start = time.perf_counter()
                searcher.search(q)
                totals.append(time.perf_counter() - start)
                cached(DEFAULT_MODEL, q)
                search_module.embed_query = lambda model, text: cached(model, text)  # type: ignore[assignment]
                start = time.perf_counter()
                searcher.search(q)
                without.append(time.perf_counter() - start)
            search_module.embed_query = embed_query  # type: ignore[assignment]
            p50, p95 = statistics.median(totals), sorted(totals)[int(0.95 * (len(totals) - 1))]
            w50 = statistics.median(without)
            rows.append(
                [
                    f"{size:,}",
                    f"{load_s:.1f} s",
                    f"{p50 * 1000:.1f} ms / {p95 * 1000:.1f} ms",
                    f"{w50 * 1000:.1f} ms",
                    f"{embed_p50 * 1000:.1f} ms",
                    f"{p50 / embed_p50:.2f}×",
                ]
            )
            print(rows[-1], flush=True)
    print(
        table(
            rows,
            [
                "passages",
                "load (reader reload)",
                "search p50 / p95",
                "search p50 without the query embedding",
                "baseline: query embedding alone, p50",
                "search p50 / embedding p50",
            ],
        )
    )


if __name__ == "__main__":
    main()
