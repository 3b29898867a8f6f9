"""Run one sync: discover pages, fetch what changed, re-embed only new passages, publish a new version."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from content_sync.chunk import Chunk, chunk_page, digest
from content_sync.embed import embed_texts
from content_sync.errors import NothingToPublish, SyncBusy
from content_sync.fetch import DomainPolicy, Fetcher, normalise_url
from content_sync.index_store import IndexStore, IndexVersion
from content_sync.parse import parse_page
from content_sync.settings import SyncSettings

Progress = Callable[[str, int, int], None]
"""Told (step, done, total) as a sync goes."""


@dataclass
class SyncReport:
    """What one sync did, page by page, and how long each step took."""

    kind: str = "incremental"
    index_version: str | None = None
    previous_version: str | None = None
    discovered: int = 0
    fetched: int = 0
    unchanged: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    pages: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def skip(self, url: str, reason: str) -> None:
        self.skipped.append({"url": url, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, int]:
        """Counts for a one-line view."""
        return {
            "pages": self.pages,
            "added": len(self.added),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "deleted": len(self.deleted),
            "skipped": len(self.skipped),
            "chunks": self.chunks,
            "embedded": self.embedded,
        }


@contextmanager
def sync_lock(data_dir: Path, wait: bool) -> Iterator[None]:
    """One sync at a time per DATA_DIR, across processes."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "sync.lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as exc:
            raise SyncBusy("another sync is running in this DATA_DIR; wait for it (see `assistant status`)") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _timed(report: SyncReport, step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        report.seconds[step] = round(report.seconds.get(step, 0.0) + time.perf_counter() - start, 3)


def run_sync(
    settings: SyncSettings,
    urls: list[str] | None = None,
    full: bool = False,
    progress: Progress | None = None,
    wait: bool = True,
) -> SyncReport:
    """Sync the sources (or only `urls`) and publish a new index version. The old one serves until then."""
    with sync_lock(settings.data_dir, wait):
        return _sync(settings, urls, full, progress or (lambda step, done, total: None))


def _sync(settings: SyncSettings, urls: list[str] | None, full: bool, progress: Progress) -> SyncReport:
    started = time.perf_counter()
    store = IndexStore(settings.index_dir)
    previous: IndexVersion | None = store.load() if store.current_version() else None
    if previous and previous.meta.get("model") != settings.embedding_model:
        full = True  # vectors from another model cannot be reused
    report = SyncReport(kind="full" if full else ("targeted" if urls else "incremental"))
    report.previous_version = previous.version if previous else None
    old_pages: dict[str, dict[str, Any]] = dict(previous.pages) if previous else {}
    old_chunks: dict[str, list[Chunk]] = {}
    old_vectors: dict[str, np.ndarray] = {}
    if previous:
        vectors = previous.vectors()
        for row, chunk in enumerate(previous.chunks):
            old_chunks.setdefault(chunk.url, []).append(chunk)
            old_vectors[chunk.digest] = vectors[row]

    policy = DomainPolicy(settings.domains)
    with Fetcher(policy, settings.sync_user_agent) as fetcher:
        with _timed(report, "discover"):
            complete, fetched = True, {}
            if urls:
                targets = [normalise_url(u) for u in urls]
            else:
                found = fetcher.discover(settings.sources, settings.sync_max_pages)
                targets, complete, fetched = list(found.urls), found.complete, found.fetched
                for url, reason in found.skips:
                    report.skip(url, reason)
        report.discovered = len(targets)
        if not urls:
            absent = sorted(set(old_pages) - set(targets))
            if complete:  # a page that left a sitemap that was read whole is deleted
                report.deleted.extend(absent)
                for url in absent:
                    old_pages.pop(url)
            elif absent:  # part of the sitemap could not be read: ask each missing page itself
                report.errors.append(f"discovery was incomplete; re-checking {len(absent)} known pages one by one")
                targets += absent
        new_pages: dict[str, dict[str, Any]] = dict(old_pages) if urls else {}
        page_chunks: dict[str, list[Chunk]] = {}
        for n, url in enumerate(targets, 1):
            progress("fetch", n, len(targets))
            known = old_pages.get(url)
            with _timed(report, "fetch"):
                result = fetched.pop(url, None) or fetcher.fetch_page(  # link discovery has read it already
                    url,
                    etag=None if full or not known else known.get("etag"),
                    last_modified=None if full or not known else known.get("last_modified"),
                )
            if result.status:
                report.fetched += 1
            if result.not_modified and known:
                report.unchanged.append(url)
                new_pages[url] = known
                continue
            if result.gone:
                if known:
                    report.deleted.append(url)
                    new_pages.pop(url, None)
                else:
                    report.skip(url, f"HTTP {result.status}")
                continue
            if result.skip_reason:
                report.skip(url, result.skip_reason)
                if known:  # a page that failed this time keeps its last good content
                    new_pages[url] = known
                else:
                    new_pages.pop(url, None)
                continue
            with _timed(report, "parse"):
                page = parse_page(url, result.text)
                chunks = chunk_page(page)
            if not chunks:
                report.skip(url, "no readable main content")
                if known:  # the page is still there but says nothing now: its old passages must go
                    report.deleted.append(url)
                new_pages.pop(url, None)
                continue
            page_digest = digest(*(c.digest for c in chunks))
            if known and known.get("digest") == page_digest:
                report.unchanged.append(url)
            elif known:
                report.changed.append(url)
            else:
                report.added.append(url)
            page_chunks[url] = chunks
            new_pages[url] = {
                "title": page.title,
                "digest": page_digest,
                "etag": result.etag,
                "last_modified": result.last_modified,
                "last_updated": page.last_updated,
                "language": page.language,
                "indexed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }

    all_chunks: list[Chunk] = []
    for url in new_pages:
        all_chunks.extend(page_chunks.get(url) or old_chunks.get(url, []))
    if not all_chunks:
        raise NothingToPublish(
            "this sync found no pages with content, so the last good index keeps serving; "
            f"check SYNC_SOURCES ({', '.join(settings.sources)}) and ALLOWED_DOMAINS, then sync again"
        )

    todo = [c for c in all_chunks if full or c.digest not in old_vectors]
    with _timed(report, "embed"):
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            progress("embed", done, len(todo))

        fresh = embed_texts(settings.embedding_model, [c.embed_text for c in todo], step) if todo else None
    report.embedded = len(todo)
    vectors_by_digest = dict(old_vectors)
    if fresh is not None:
        for chunk, vector in zip(todo, fresh, strict=True):
            vectors_by_digest[chunk.digest] = vector
    matrix = np.stack([vectors_by_digest[c.digest] for c in all_chunks]).astype(np.float32)

    with _timed(report, "publish"):
        progress("publish", 0, 1)
        report.chunks, report.pages = len(all_chunks), len(new_pages)
        meta = {"model": settings.embedding_model, "report": report.summary()}
        report.index_version = store.publish(all_chunks, matrix, new_pages, meta)
        store.prune(settings.sync_keep_versions)
        progress("publish", 1, 1)
    report.seconds["total"] = round(time.perf_counter() - started, 3)
    return report
