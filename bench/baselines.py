"""Plain retrieval baselines over fixed 200-word chunks: dense only, `bm25s` only, and their naive RRF fusion.

They are what an off-the-shelf setup does with the same pages and the same model, built in the same run as
the product is measured, so the product's figures can be read against them.
"""

from __future__ import annotations

from collections.abc import Callable

import bm25s
import faiss
import Stemmer

from content_sync.embed import embed_texts
from content_sync.index_store import IndexVersion

WINDOW = 200
DEPTH = 100  # chunks asked of each ranker


class Baselines:
    """The three baselines over one index version's pages."""

    def __init__(self, version: IndexVersion, model: str) -> None:
        texts: dict[str, list[str]] = {}
        for chunk in version.chunks:
            texts.setdefault(chunk.url, []).append(chunk.text)
        self.urls: list[str] = []
        self.windows: list[str] = []
        for url, parts in texts.items():
            title = version.pages.get(url, {}).get("title", "")
            tokens = (title + "\n" + "\n".join(parts)).split()
            for start in range(0, max(1, len(tokens)), WINDOW):
                self.urls.append(url)
                self.windows.append(" ".join(tokens[start : start + WINDOW]))
        self.model = model
        vectors = embed_texts(model, self.windows)
        self.dense = faiss.IndexFlatIP(vectors.shape[1])
        self.dense.add(vectors)
        self.stemmer = Stemmer.Stemmer("english")
        self.bm25 = bm25s.BM25()
        self.bm25.index(
            bm25s.tokenize(self.windows, stopwords="en", stemmer=self.stemmer, show_progress=False), show_progress=False
        )

    def pages(self, rows: list[int]) -> list[str]:
        """The pages of ranked windows, best first, each once."""
        seen: list[str] = []
        for row in rows:
            url = self.urls[row]
            if url not in seen:
                seen.append(url)
        return seen

    def dense_rows(self, query: str) -> list[int]:
        _, rows = self.dense.search(embed_texts(self.model, [query]), min(DEPTH, len(self.windows)))
        return [int(r) for r in rows[0] if r >= 0]

    def bm25_rows(self, query: str) -> list[int]:
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self.stemmer, show_progress=False)
        if not tokens.vocab:
            return []
        rows, scores = self.bm25.retrieve(tokens, k=min(DEPTH, len(self.windows)), show_progress=False)
        return [int(r) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]

    def rrf_rows(self, query: str, k: int = 60) -> list[int]:
        score: dict[int, float] = {}
        for rows in (self.dense_rows(query), self.bm25_rows(query)):
            for rank, row in enumerate(rows):
                score[row] = score.get(row, 0.0) + 1.0 / (k + rank + 1)
        return sorted(score, key=lambda r: -score[r])

    def rankers(self) -> dict[str, Callable[[str], list[str]]]:
        """Each baseline as query → pages, best first."""
        return {
            "dense only (200-word chunks)": lambda q: self.pages(self.dense_rows(q)),
            "bm25s only (200-word chunks)": lambda q: self.pages(self.bm25_rows(q)),
            "naive RRF of the two": lambda q: self.pages(self.rrf_rows(q)),
        }
