"""The only read API of the index: search the published version, switching to a new one as soon as it appears.

A query is searched in four steps:
1. its language is detected, and texting shorthand and misspellings are put right (`content_sync.query`);
2. FAISS (cosine on MiniLM vectors) and BM25 (`bm25s`, stemmed per language) each give their top candidates;
3. every candidate passage gets one fused score: its cosine plus a weighted, per-query normalised BM25 score;
4. passages are grouped by page, and a page scores its best passage, plus a bonus for a page that BM25 ranks
   well as a whole, for a page in the question's language, and for the page a conversation is already about.
The weights are `Ranking`'s defaults, chosen on the dev half of the eval set (docs/benchmarks.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from content_sync.chunk import Chunk
from content_sync.embed import embed_query
from content_sync.index_store import IndexStore, IndexVersion
from content_sync.language import detect_language
from content_sync.lexical import LexicalIndex, stem_tokens, words
from content_sync.query import normalise_query
from content_sync.settings import get_sync_settings

__all__ = [
    "Hit",
    "Ranking",
    "SearchResult",
    "Searcher",
    "detect_language",
    "get_searcher",
    "get_sync_settings",
    "search",
    "stem_tokens",
    "words",
]


@dataclass(frozen=True)
class Ranking:
    """How candidates are found and scored. The defaults are the tuned ones."""

    candidates: int = 50  # asked of FAISS and of BM25 each
    lexical_weight: float = 0.25  # BM25, normalised to the query's best candidate, added to the cosine
    page_lexical_weight: float = 0.3  # BM25 of the whole page, normalised likewise
    language_bonus: float = 0.05  # for a page in the question's language
    prefer_bonus: float = 0.08  # for the page a conversation is about
    normalise: bool = True  # spell out shorthand and correct misspellings first
    stopwords: str = "plus"  # BM25's stopword list: "plus", "lucene" or "none" (content_sync.lexical)
    stem: bool = True  # BM25 on Snowball stems (English and Spanish) rather than whole words


@dataclass(frozen=True)
class Hit:
    """A page's best passage for the query.

    `score` is the best cosine similarity of any passage of the page, what the answer decision is calibrated
    on; `fused` is the page's ranking score; `coverage` the share of the query's content words on the page.
    """

    chunk: Chunk
    score: float
    fused: float = 0.0
    lexical: float = 0.0
    coverage: float = 0.0
    language: str | None = None
    passages: tuple[Chunk, ...] = ()  # the page's candidate passages, best first


@dataclass(frozen=True)
class SearchResult:
    """The hits for one query, best first, all from one index version."""

    query: str
    index_version: str
    hits: list[Hit]
    language: str = "en"
    normalised: str = ""


@dataclass
class _Loaded:
    """One index version with everything a query needs, built once when the version is loaded."""

    version: IndexVersion
    chunk_lexical: LexicalIndex
    page_lexical: LexicalIndex
    page_urls: list[str]
    page_of_row: np.ndarray
    vocabulary_choices: list[str] = field(default_factory=list)


def _load(version: IndexVersion, ranking: Ranking) -> _Loaded:
    chunks = version.chunks
    page_number: dict[str, int] = {}
    page_of_row = np.array([page_number.setdefault(c.url, len(page_number)) for c in chunks], dtype=np.int64)
    urls = list(page_number)
    texts = [""] * len(urls)
    languages: list[str | None] = [None] * len(urls)
    for chunk, page in zip(chunks, page_of_row, strict=True):
        texts[page] += " ".join(chunk.headings) + " " + chunk.text + "\n"
        languages[page] = chunk.language or version.pages.get(chunk.url, {}).get("language")
    chunk_lexical = LexicalIndex(
        [" ".join(c.headings) + " " + c.text for c in chunks],
        [c.language or version.pages.get(c.url, {}).get("language") for c in chunks],
        ranking.stopwords,
        ranking.stem,
    )
    page_lexical = LexicalIndex(
        texts, [(lang or "en").split("-")[0] for lang in languages], ranking.stopwords, ranking.stem
    )
    return _Loaded(version, chunk_lexical, page_lexical, urls, page_of_row, sorted(chunk_lexical.vocabulary))


def _normalised(values: np.ndarray) -> np.ndarray:
    top = float(values.max()) if len(values) else 0.0
    return values / top if top > 0 else values


class Searcher:
    """Holds the published version in memory and reloads it when the pointer moves.

    A query takes a reference to the loaded version before it starts, so a query in flight finishes on the
    version it began with even if a newer one is loaded meanwhile.
    """

    def __init__(self, index_dir: Path, model: str, ranking: Ranking | None = None) -> None:
        self.store = IndexStore(index_dir)
        self.model = model
        self.ranking = ranking or Ranking()
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def current_version(self) -> str | None:
        """The published version's name, without loading it."""
        return self.store.current_version()

    def current(self) -> _Loaded:
        """The published version, loaded (again) if the pointer moved since the last call."""
        name = self.store.current_version()
        loaded = self._loaded
        if loaded is not None and loaded.version.version == name:
            return loaded
        with self._lock:
            if self._loaded is None or self._loaded.version.version != name:
                self._loaded = _load(self.store.load(name), self.ranking)
            return self._loaded

    def search(
        self,
        query: str,
        k: int = 5,
        prefer_url: str | None = None,
        language: str | None = None,
        ranking: Ranking | None = None,
    ) -> SearchResult:
        """The best pages for `query`, each with its best passage, best first.

        `prefer_url` gives that page a bonus (the page a conversation is about); `language` overrides the
        detected one.
        """
        rank = ranking or self.ranking
        loaded = self.current()
        version = loaded.version
        lang = language or detect_language(query)
        lexical = loaded.chunk_lexical
        if rank.normalise:
            text, tokens, meant = normalise_query(query, lang, lexical.vocabulary, loaded.vocabulary_choices)
        else:
            text, tokens, meant = query, words(query), words(query)
        if not version.chunks or not text.strip():
            return SearchResult(query, version.version, [], lang, text)
        n = len(version.chunks)
        vector = embed_query(self.model, text)
        want = min(n, rank.candidates)
        cosine, rows = version.index.search(vector, want)
        bm25 = lexical.scores(tokens)
        top_lexical = np.argpartition(-bm25, want - 1)[:want] if want < n else np.arange(n)
        top_lexical = top_lexical[bm25[top_lexical] > 0]
        candidates = np.unique(np.concatenate([rows[0][rows[0] >= 0], top_lexical]))
        dense = _cosines(version, vector, candidates)
        lex = bm25[candidates]
        fused = dense + rank.lexical_weight * _normalised(lex)
        page_scores = loaded.page_lexical.scores(tokens)
        page_norm = _normalised(page_scores)
        best: dict[int, list[tuple[float, int, float]]] = {}
        for row, f, d in zip(candidates.tolist(), fused.tolist(), dense.tolist(), strict=True):
            best.setdefault(int(loaded.page_of_row[row]), []).append((f, row, d))
        scored: list[tuple[float, int]] = []
        for page, entries in best.items():
            entries.sort(reverse=True)
            url = loaded.page_urls[page]
            total = entries[0][0] + rank.page_lexical_weight * float(page_norm[page])
            if loaded.page_lexical.languages[page] == lang:
                total += rank.language_bonus
            if prefer_url is not None and url == prefer_url:
                total += rank.prefer_bonus
            scored.append((total, page))
        scored.sort(reverse=True)
        hits: list[Hit] = []
        for total, page in scored[:k]:
            entries = best[page]
            top_row = entries[0][1]
            hits.append(
                Hit(
                    chunk=version.chunks[top_row],
                    score=max(d for _, _, d in entries),
                    fused=total,
                    lexical=float(page_scores[page]),
                    coverage=loaded.page_lexical.coverage(meant, page),
                    language=loaded.page_lexical.languages[page],
                    passages=tuple(version.chunks[r] for _, r, _ in entries),
                )
            )
        return SearchResult(query, version.version, hits, lang, text)


def _cosines(version: IndexVersion, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
    stored = np.stack([version.index.reconstruct(int(r)) for r in rows]) if len(rows) else np.zeros((0, 1))
    return (stored @ vector[0]).astype(np.float32) if len(rows) else np.zeros(0, dtype=np.float32)


@lru_cache(maxsize=1)
def get_searcher() -> Searcher:
    """The process's searcher, built on first use (nothing loads at import)."""
    settings = get_sync_settings()
    return Searcher(settings.index_dir, settings.embedding_model)


def search(
    query: str,
    k: int = 5,
    prefer_url: str | None = None,
    language: str | None = None,
) -> SearchResult:
    """Search the published index of this process's settings."""
    return get_searcher().search(query, k, prefer_url=prefer_url, language=language)
