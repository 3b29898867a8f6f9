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

import logging
import pickle
import threading
import time
import weakref
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from content_sync.chunk import Chunk
from content_sync.embed import embed_query
from content_sync.errors import IndexNotReady
from content_sync.index_store import IndexStore, IndexVersion
from content_sync.language import detect_language
from content_sync.lexical import LexicalIndex, stem_tokens, words
from content_sync.query import normalise_query
from content_sync.settings import get_sync_settings

log = logging.getLogger("content_sync.search")

__all__ = [
    "Hit",
    "IndexNotReady",
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
    updated: str | None = None  # the page's date: its own, else its sitemap lastmod, else HTTP Last-Modified
    indexed_at: str | None = None  # when this product last read the page


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
    """One index version with everything a query needs: its vectors and passages, and its BM25 indexes."""

    version: IndexVersion
    lexical: _Lexical


RETRY_FAILED_SECONDS = 5.0
"""How long the watcher waits before trying again a version that would not load."""

LEXICAL_FILE = "lexical.pkl"
"""The version's BM25 indexes, built once at publish so that readers load rather than build them."""


LEXICAL_FORMAT = 1
"""Raised whenever `_Lexical` or `LexicalIndex` change shape, so a pickle of another release is rebuilt."""


@dataclass
class _Lexical:
    """What a query needs besides the vectors, for one ranking's stopwords and stemming."""

    format: int
    stopwords: str
    stem: bool
    chunk_lexical: LexicalIndex
    page_lexical: LexicalIndex
    page_urls: list[str]
    page_of_row: np.ndarray
    vocabulary_choices: list[str]


def _build_lexical(chunks: list[Chunk], pages: dict[str, dict[str, Any]], ranking: Ranking) -> _Lexical:
    page_number: dict[str, int] = {}
    page_of_row = np.array([page_number.setdefault(c.url, len(page_number)) for c in chunks], dtype=np.int64)
    urls = list(page_number)
    texts = [""] * len(urls)
    languages: list[str | None] = [None] * len(urls)
    for chunk, page in zip(chunks, page_of_row, strict=True):
        texts[page] += " ".join(chunk.headings) + " " + chunk.text + "\n"
        languages[page] = chunk.language or pages.get(chunk.url, {}).get("language")
    chunk_lexical = LexicalIndex(
        [" ".join(c.headings) + " " + c.text for c in chunks],
        [c.language or pages.get(c.url, {}).get("language") for c in chunks],
        ranking.stopwords,
        ranking.stem,
    )
    page_lexical = LexicalIndex(
        texts, [(lang or "en").split("-")[0] for lang in languages], ranking.stopwords, ranking.stem
    )
    return _Lexical(
        LEXICAL_FORMAT,
        ranking.stopwords,
        ranking.stem,
        chunk_lexical,
        page_lexical,
        urls,
        page_of_row,
        sorted(chunk_lexical.vocabulary),
    )


def build_lexical(chunks: list[Chunk], pages: dict[str, dict[str, Any]]) -> bytes:
    """A version's BM25 indexes for the default ranking, pickled for `IndexStore.publish` to store beside it.

    The file is written and read only by this product, inside DATA_DIR, like the FAISS file beside it.
    """
    return pickle.dumps(_build_lexical(chunks, pages, Ranking()), protocol=pickle.HIGHEST_PROTOCOL)


def _ranked(lexical: _Lexical) -> tuple[object, object]:
    return getattr(lexical, "stopwords", None), getattr(lexical, "stem", None)


def _load(store: IndexStore, version: IndexVersion, ranking: Ranking, model: str) -> _Loaded:
    built_with = version.meta.get("model")
    if built_with and built_with != model:
        raise IndexNotReady(
            f"index version {version.version} was built with {built_with}, but EMBEDDING_MODEL is {model}; "
            "queries would be embedded with the wrong model. Roll back to a version of this model or sync --full"
        )
    lexical: _Lexical | None = None
    stored = store.read_extra(version.version, LEXICAL_FILE)
    if stored is not None:
        try:
            lexical = pickle.loads(stored)  # our own file, written at publish
        except Exception:  # written by another release of this code: build it instead
            lexical = None
        wanted = (LEXICAL_FORMAT, ranking.stopwords, ranking.stem)
        if not isinstance(lexical, _Lexical) or (getattr(lexical, "format", None), *_ranked(lexical)) != wanted:
            lexical = None
    if lexical is None:  # an older version, or a ranking tried with other stopwords or stemming
        lexical = _build_lexical(version.chunks, version.pages, ranking)
    return _Loaded(version, lexical)


def _normalised(values: np.ndarray) -> np.ndarray:
    top = float(values.max()) if len(values) else 0.0
    return values / top if top > 0 else values


class Searcher:
    """Holds the published version in memory; a watcher thread loads a newly published one off the request path.

    The first query loads the published version. After that, a daemon thread reads the pointer every
    `watch_seconds` and, when it moves (a publish or a rollback), loads the new version beside the old one and
    swaps it in whole. Queries go on being answered from the old version until the new one is ready, and a
    query in flight finishes on the version it began with.
    """

    def __init__(
        self,
        index_dir: Path,
        model: str,
        ranking: Ranking | None = None,
        watch_seconds: float = 0.1,
        redis_url: str = "",
    ) -> None:
        self.store = IndexStore(index_dir)
        self.redis_url = redis_url  # REDIS_URL: also reload the moment a publish is announced (content_sync.notify)
        self.model = model
        self.ranking = ranking or Ranking()
        self.watch_seconds = watch_seconds
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self.load_error: str | None = None  # why the newest version could not be loaded, if it could not

    def current_version(self) -> str | None:
        """The published version's name, without loading it."""
        return self.store.current_version()

    def loaded_version(self) -> str | None:
        """The version queries are answered from now, or None before the first query."""
        loaded = self._loaded
        return loaded.version.version if loaded else None

    def current(self) -> _Loaded:
        """The loaded version; the first call loads the published one and starts the watcher."""
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._lock:
            if self._loaded is None:
                self._loaded = _load(self.store, self.store.load(), self.ranking, self.model)
            if self._watcher is None and self.watch_seconds > 0:
                self._watcher = threading.Thread(
                    target=_watch, args=(weakref.ref(self), self.watch_seconds), name="index-watcher", daemon=True
                )
                self._watcher.start()
                if self.redis_url:
                    threading.Thread(
                        target=_listen, args=(weakref.ref(self), self.redis_url), name="index-signal", daemon=True
                    ).start()
            return self._loaded

    def refresh(self) -> bool:
        """Load the published version now if it is not the one loaded; True when it switched."""
        name = self.store.current_version()
        if name is None or name == self.loaded_version():
            return False
        with self._lock:
            if name == self.loaded_version():
                return False
            self._loaded = _load(self.store, self.store.load(name), self.ranking, self.model)
            self.load_error = None
            return True

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
        indexes = loaded.lexical
        lexical = indexes.chunk_lexical
        if rank.normalise:
            text, tokens, meant = normalise_query(query, lang, lexical.vocabulary, indexes.vocabulary_choices)
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
        page_scores = indexes.page_lexical.scores(tokens)
        page_norm = _normalised(page_scores)
        best: dict[int, list[tuple[float, int, float]]] = {}
        for row, f, d in zip(candidates.tolist(), fused.tolist(), dense.tolist(), strict=True):
            best.setdefault(int(indexes.page_of_row[row]), []).append((f, row, d))
        scored: list[tuple[float, int]] = []
        for page, entries in best.items():
            entries.sort(reverse=True)
            url = indexes.page_urls[page]
            total = entries[0][0] + rank.page_lexical_weight * float(page_norm[page])
            if indexes.page_lexical.languages[page] == lang:
                total += rank.language_bonus
            if prefer_url is not None and url == prefer_url:
                total += rank.prefer_bonus
            scored.append((total, page))
        scored.sort(reverse=True)
        hits: list[Hit] = []
        for total, page in scored[:k]:
            entries = best[page]
            top_row = entries[0][1]
            record = version.pages.get(indexes.page_urls[page], {})
            hits.append(
                Hit(
                    chunk=version.chunks[top_row],
                    score=max(d for _, _, d in entries),
                    fused=total,
                    lexical=float(page_scores[page]),
                    coverage=indexes.page_lexical.coverage(meant, page),
                    language=indexes.page_lexical.languages[page],
                    passages=tuple(version.chunks[r] for _, r, _ in entries),
                    updated=_page_date(version.chunks[top_row], record),
                    indexed_at=record.get("indexed_at"),
                )
            )
        return SearchResult(query, version.version, hits, lang, text)


def _page_date(chunk: Chunk, page: dict[str, Any]) -> str | None:
    """The date a reader should see as "updated": what the page says, else what the site says about it."""
    if chunk.last_updated:
        return chunk.last_updated
    if page.get("sitemap_lastmod"):
        return str(page["sitemap_lastmod"])[:10]
    modified = page.get("last_modified")
    if modified:
        try:
            return parsedate_to_datetime(str(modified)).date().isoformat()
        except (TypeError, ValueError):
            return None
    return None


def _watch(ref: weakref.ref[Searcher], every: float) -> None:
    """The watcher thread: follow the pointer until the Searcher is gone. A version that fails to load is
    reported in `load_error` and tried again every RETRY_FAILED_SECONDS; the loaded one keeps answering."""
    failed: tuple[str | None, float] = (None, 0.0)  # the version that would not load, and when
    while True:
        time.sleep(every)
        searcher = ref()
        if searcher is None:
            return
        name = searcher.current_version()
        if name != failed[0] or time.monotonic() - failed[1] >= RETRY_FAILED_SECONDS:
            try:
                searcher.refresh()
            except Exception as exc:  # a half-deleted or corrupt version must not stop the watcher
                error = f"{type(exc).__name__}: {exc}"
                if error != searcher.load_error:
                    log.warning(
                        "index version %s not loaded, still answering from %s: %s",
                        name,
                        searcher.loaded_version(),
                        error,
                    )
                searcher.load_error = error
                failed = (name, time.monotonic())
        del searcher


def _listen(ref: weakref.ref[Searcher], redis_url: str) -> None:
    """The signal thread (scale-out): reload as soon as a publish is announced on Redis, beside the poll."""
    from content_sync.notify import listen_versions

    def on_version(version: str) -> bool:
        searcher = ref()
        if searcher is None:
            return False
        if version and version != searcher.loaded_version():
            try:
                searcher.refresh()
            except Exception as exc:  # the poll reports it and tries again; this thread must go on listening
                log.info("announced index version %s not loaded yet: %s", version, exc)
        return True

    listen_versions(redis_url, on_version)


def _cosines(version: IndexVersion, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
    stored = np.stack([version.index.reconstruct(int(r)) for r in rows]) if len(rows) else np.zeros((0, 1))
    return (stored @ vector[0]).astype(np.float32) if len(rows) else np.zeros(0, dtype=np.float32)


@lru_cache(maxsize=1)
def get_searcher() -> Searcher:
    """The process's searcher, built on first use (nothing loads at import)."""
    settings = get_sync_settings()
    return Searcher(settings.index_dir, settings.embedding_model, redis_url=settings.redis_url)


def search(
    query: str,
    k: int = 5,
    prefer_url: str | None = None,
    language: str | None = None,
) -> SearchResult:
    """Search the published index of this process's settings."""
    return get_searcher().search(query, k, prefer_url=prefer_url, language=language)
