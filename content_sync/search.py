"""The only read API of the index: search the published version, switching to a new one as soon as it appears."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from content_sync.chunk import Chunk
from content_sync.embed import embed_query
from content_sync.index_store import IndexStore, IndexVersion
from content_sync.settings import get_sync_settings

__all__ = ["Hit", "SearchResult", "Searcher", "get_searcher", "get_sync_settings", "search"]


@dataclass(frozen=True)
class Hit:
    """A page's best passage for the query, and the page's best cosine similarity to it."""

    chunk: Chunk
    score: float


@dataclass(frozen=True)
class SearchResult:
    """The hits for one query, best first, all from one index version."""

    query: str
    index_version: str
    hits: list[Hit]


TOKEN = re.compile(r"\w+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "for",
        "and",
        "or",
        "in",
        "on",
        "at",
        "is",
        "are",
        "am",
        "be",
        "do",
        "does",
        "i",
        "my",
        "me",
        "can",
        "how",
        "what",
        "when",
        "where",
        "who",
        "you",
        "your",
        "we",
        "our",
        "it",
        "if",
        "with",
        "by",
        "from",
        "will",
        "have",
        "has",
        "get",
        "de",
        "la",
        "el",
        "en",
        "y",
        "que",
        "por",
        "para",
        "un",
        "una",
        "los",
        "las",
    ]
)
RRF_K = 60  # the usual reciprocal-rank-fusion constant
LEXICAL_WEIGHT = 1.0  # dense and lexical ranks count equally


def tokens(text: str) -> list[str]:
    return [w for w in TOKEN.findall(text.lower()) if w not in STOPWORDS]


class LexicalIndex:
    """BM25 over each chunk's heading path and text, and each row's page, built in memory for one index version."""

    def __init__(self, chunks: list[Chunk], k1: float = 1.2, b: float = 0.75) -> None:
        docs = [tokens(" ".join(c.headings) + " " + c.text) for c in chunks]
        self.k1, self.b = k1, b
        self.lengths = np.array([len(d) for d in docs], dtype=np.float32)
        self.average = float(self.lengths.mean()) if docs else 1.0
        page_numbers: dict[str, int] = {}
        self.page_of_row = np.array([page_numbers.setdefault(c.url, len(page_numbers)) for c in chunks], dtype=np.int64)
        self.pages = len(page_numbers)
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for row, doc in enumerate(docs):
            for word, count in Counter(doc).items():
                self.postings.setdefault(word, []).append((row, count))
        self.size = len(docs)

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(self.size, dtype=np.float32)
        for word in set(tokens(query)):
            posting = self.postings.get(word)
            if not posting:
                continue
            idf = math.log(1 + (self.size - len(posting) + 0.5) / (len(posting) + 0.5))
            for row, tf in posting:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[row] / self.average)
                out[row] += idf * tf * (self.k1 + 1) / (tf + norm)
        return out


class Searcher:
    """Holds the published version in memory and reloads it when the pointer moves.

    A query takes a reference to the loaded version before it starts, so a query in flight finishes on the
    version it began with even if a newer one is loaded meanwhile.
    """

    def __init__(self, index_dir: Path, model: str) -> None:
        self.store = IndexStore(index_dir)
        self.model = model
        self._loaded: IndexVersion | None = None
        self._lexical: LexicalIndex | None = None
        self._lock = threading.Lock()

    def current(self) -> tuple[IndexVersion, LexicalIndex]:
        """The published version, loaded (again) if the pointer moved since the last call."""
        name = self.store.current_version()
        loaded, lexical = self._loaded, self._lexical
        if loaded is not None and lexical is not None and loaded.version == name:
            return loaded, lexical
        with self._lock:
            if self._loaded is None or self._lexical is None or self._loaded.version != name:
                version = self.store.load(name)
                self._loaded, self._lexical = version, LexicalIndex(version.chunks)
            return self._loaded, self._lexical

    def search(self, query: str, k: int = 5) -> SearchResult:
        """The best chunks, one per page at most, best first.

        Dense (FAISS) and lexical (BM25) rankings are fused by reciprocal rank, and each page's best-fused chunk
        is its hit. A hit's `score` is the best cosine similarity of any chunk of its page: how clearly the page
        covers the question, which is what the answer threshold is calibrated on.
        """
        version, lexical = self.current()
        if not version.chunks:
            return SearchResult(query, version.version, [])
        n = len(version.chunks)
        ranks = 1.0 / (RRF_K + np.arange(n, dtype=np.float32))
        cosine, rows = version.index.search(embed_query(self.model, query), n)
        dense = np.zeros(n, dtype=np.float32)
        dense[rows[0]] = cosine[0]
        fused = np.zeros(n, dtype=np.float32)
        fused[rows[0]] = ranks
        bm25 = lexical.scores(query)
        by_bm25 = np.argsort(-bm25, kind="stable")
        matched = by_bm25[bm25[by_bm25] > 0]
        fused[matched] += LEXICAL_WEIGHT * ranks[: len(matched)]
        page_best = np.full(lexical.pages, -1.0, dtype=np.float32)
        np.maximum.at(page_best, lexical.page_of_row, dense)
        hits: list[Hit] = []
        taken: set[int] = set()
        for row in np.argsort(-fused, kind="stable"):
            page = int(lexical.page_of_row[row])
            if page in taken:
                continue
            taken.add(page)
            hits.append(Hit(version.chunks[int(row)], float(page_best[page])))
            if len(hits) == k:
                break
        return SearchResult(query, version.version, hits)


@lru_cache(maxsize=1)
def get_searcher() -> Searcher:
    """The process's searcher, built on first use (nothing loads at import)."""
    settings = get_sync_settings()
    return Searcher(settings.index_dir, settings.embedding_model)


def search(query: str, k: int = 5) -> SearchResult:
    """Search the published index of this process's settings."""
    return get_searcher().search(query, k)
