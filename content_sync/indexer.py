"""Work out the next index version from the last one: which pages and passages stay, go or are new, and
which passages need embedding. Vectors of passages that did not change are reused by digest, from the last
version or from the vector cache (content_sync/vector_cache.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from content_sync.chunk import Chunk
from content_sync.embed import embed_texts
from content_sync.index_store import IndexVersion
from content_sync.vector_cache import VectorCache


class Indexer:
    """The pages and passages of the version being built, starting from `previous`.

    A targeted sync starts with every page of the previous version and changes only the ones it names; a
    sync of every source starts empty and carries over each page it finds unchanged.
    """

    def __init__(
        self,
        previous: IndexVersion | None,
        model: str,
        full: bool,
        start_with_previous: bool,
        cache: VectorCache | None = None,
    ) -> None:
        self.model = model
        self.full = full
        self.cache = None if full else cache  # a full sync embeds everything again, as asked
        self.previous = previous
        self.old_pages: dict[str, dict[str, Any]] = dict(previous.pages) if previous else {}
        self.old_chunks: dict[str, list[Chunk]] = {}
        self._old_rows: dict[str, int] = {}
        self._old_vectors = np.zeros((0, 0), dtype=np.float32)
        if previous is not None:
            for row, chunk in enumerate(previous.chunks):
                self.old_chunks.setdefault(chunk.url, []).append(chunk)
                self._old_rows.setdefault(chunk.digest, row)
            if not full:
                self._old_vectors = previous.vectors()  # the one copy of the old vectors this sync holds
        self.pages: dict[str, dict[str, Any]] = dict(self.old_pages) if start_with_previous else {}
        self.chunks: dict[str, list[Chunk]] = (
            {url: list(c) for url, c in self.old_chunks.items() if url in self.pages} if start_with_previous else {}
        )
        self._fresh: dict[str, np.ndarray] = {}
        self.embedded = 0  # passages the model embedded in this sync
        self.from_cache = 0  # passages whose vectors came from the cache instead

    def known(self, url: str) -> dict[str, Any] | None:
        """The previous version's record of a page, or None for a new page."""
        return self.old_pages.get(url)

    def keep(self, url: str, refresh: dict[str, Any] | None = None) -> None:
        """Carry a page over from the previous version unchanged (its record updated by `refresh`)."""
        if url in self.old_pages:
            self.pages[url] = {**self.old_pages[url], **(refresh or {})}
            self.chunks[url] = list(self.old_chunks.get(url, []))

    def put(self, url: str, chunks: list[Chunk], record: dict[str, Any]) -> list[Chunk]:
        """Set a page's new passages; returns those that need embedding."""
        self.pages[url] = record
        self.chunks[url] = chunks
        return [c for c in chunks if self._needs_vector(c)]

    def _needs_vector(self, chunk: Chunk) -> bool:
        """No vector yet: not embedded in this sync, and none to reuse from the previous version."""
        return chunk.digest not in self._fresh and (self.full or chunk.digest not in self._old_rows)

    def drop(self, url: str) -> None:
        """Remove a page and its passages."""
        self.pages.pop(url, None)
        self.chunks.pop(url, None)

    def embed(self, chunks: list[Chunk], progress: Callable[[int], None] | None = None) -> None:
        """Embed passages (deduplicated by digest); their vectors wait here until `build`."""
        todo: dict[str, str] = {}
        for chunk in chunks:
            if chunk.digest not in self._fresh:
                todo.setdefault(chunk.digest, chunk.embed_text)
        if self.cache is not None and todo:
            cached = self.cache.take(todo)
            self._fresh.update(cached)
            self.from_cache += len(cached)
            todo = {key: text for key, text in todo.items() if key not in cached}
            if cached and progress is not None:
                progress(len(cached))
        if not todo:
            return
        vectors = embed_texts(self.model, list(todo.values()), progress)
        for row, key in enumerate(todo):
            self._fresh[key] = vectors[row]
        self.embedded += len(todo)
        if self.cache is not None:
            self.cache.put(list(todo), vectors)

    def missing(self) -> list[Chunk]:
        """Passages of the new version that have no vector yet."""
        return [c for url in self.pages for c in self.chunks.get(url, []) if self._needs_vector(c)]

    def changed_since_previous(self) -> bool:
        """False when the new version would hold exactly the previous one's pages and passages."""
        if self.previous is None or self.full:
            return True
        if set(self.pages) != set(self.old_pages):
            return True
        shown = ("title", "last_updated", "language", "sitemap_lastmod")  # what answers show or cite
        return any(
            [c.digest for c in self.chunks.get(url, [])] != [c.digest for c in self.old_chunks.get(url, [])]
            or any(self.pages[url].get(key) != self.old_pages[url].get(key) for key in shown)
            for url in self.pages
        )

    def build(self) -> tuple[list[Chunk], np.ndarray, dict[str, dict[str, Any]]]:
        """The new version's passages in page order, their vectors as one matrix, and the page records."""
        ordered = [c for url in self.pages for c in self.chunks.get(url, [])]
        dim = self._dim()
        matrix = np.empty((len(ordered), dim), dtype=np.float32)
        from_old = np.array([i for i, c in enumerate(ordered) if c.digest not in self._fresh], dtype=np.int64)
        if len(from_old):
            rows = np.array([self._old_rows[ordered[i].digest] for i in from_old], dtype=np.int64)
            matrix[from_old] = self._old_vectors[rows]
        for i, chunk in enumerate(ordered):
            vector = self._fresh.get(chunk.digest)
            if vector is not None:
                matrix[i] = vector
        return ordered, matrix, dict(self.pages)

    def _dim(self) -> int:
        if self._fresh:
            return int(next(iter(self._fresh.values())).shape[0])
        if self._old_vectors.size:
            return int(self._old_vectors.shape[1])
        return int(self.previous.meta.get("dim", 0)) if self.previous else 0
