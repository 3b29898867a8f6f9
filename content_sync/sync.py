"""Run one sync: discover pages, fetch them concurrently while embedding what changed, publish a new version.

The steps, each in its own module:
- `discover` lists the pages (sitemaps first, links as the fallback);
- a thread pool fetches and parses pages (`fetch`, `parse`, `chunk`), the Fetcher keeping to per-host limits;
- `synchroniser.decide` says what happens to each page, with a reason;
- the `Indexer` works out the next version and which passages need embedding; this thread embeds them in
  groups while the pool goes on fetching, so the network overlaps the model;
- `index_store` publishes the version, or nothing when nothing changed;
- the `SyncReport` counts it all.
"""

from __future__ import annotations

import calendar
import fcntl
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from content_sync.chunk import Chunk, chunk_page
from content_sync.discover import Discovery, canonical_url, discover
from content_sync.errors import NothingToPublish, ParseError, SyncBusy
from content_sync.fetch import DomainPolicy, Fetcher, FetchResult
from content_sync.index_store import IndexStore, IndexVersion
from content_sync.indexer import Indexer
from content_sync.parse import ParsedPage, parse_page, parse_pdf
from content_sync.report import SyncReport
from content_sync.search import LEXICAL_FILE, build_lexical
from content_sync.settings import SyncSettings
from content_sync.synchroniser import Action, Decision, decide, page_digest
from content_sync.vector_cache import VectorCache

__all__ = ["Progress", "SyncReport", "run_sync", "sync_lock"]

Progress = Callable[[str, int, int], None]
"""Told (step, done, total) as a sync goes."""

EMBED_GROUP = 256
"""Passages embedded at a time while fetching goes on: big enough to sort by length, small enough to
overlap."""


def deletion_limit(known: int) -> int:
    """The most pages one sync of every source may delete: 10, or a fifth of the site if that is more."""
    return max(10, known // 5)


REVALIDATE_SECONDS = 24 * 3600
"""A page whose sitemap lastmod has not changed is not fetched, unless it was last read this long ago (so a
site whose lastmod lags its content is still caught within a day)."""


@contextmanager
def sync_lock(data_dir: Path, wait: bool) -> Iterator[None]:
    """One sync at a time per index (the lock file is in DATA_DIR, or in a shared INDEX_DIR), across processes.
    The kernel drops the lock of a killed process."""
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


def run_sync(
    settings: SyncSettings,
    urls: list[str] | None = None,
    full: bool = False,
    progress: Progress | None = None,
    wait: bool = True,
    allow_deletions: bool = False,
) -> SyncReport:
    """Sync the sources (or only `urls`) and publish a new index version. The old one serves until then.

    A sync of every source that would delete more than `deletion_limit` of the known pages deletes none of them
    and says so, unless `allow_deletions` (a misconfigured server answering 403 or noindex to every page looks
    like a site withdrawing its guidance)."""
    with sync_lock(settings.sync_lock_dir, wait):
        store = IndexStore(settings.index_dir, settings.redis_url)
        recovered = store.recover()
        sync = _Sync(settings, store, progress or (lambda step, done, total: None))
        report = sync.run(urls, full, allow_deletions)
        report.recovered = recovered
        return report


@dataclass
class _Fetched:
    """One page as the pool hands it back: the fetch, and its parse when it had content."""

    url: str
    result: FetchResult
    page: ParsedPage | None = None
    chunks: list[Chunk] = field(default_factory=list)
    error: str | None = None  # a document that could not be read (a broken or encrypted PDF)


class _Sync:
    """One sync's state: the report, the indexer, the fetcher and the pool."""

    def __init__(self, settings: SyncSettings, store: IndexStore, progress: Progress) -> None:
        self.settings = settings
        self.store = store
        self.progress = progress
        self.policy = DomainPolicy(settings.domains)
        self.report = SyncReport()
        self.pending: list[Chunk] = []
        self.to_embed = 0
        self.visited: set[str] = set()
        self.lastmods: dict[str, str] = {}
        self.discovery_reasons: dict[str, str] = {}  # known pages that discovery passed over, and why
        self.copies: dict[str, tuple[_Fetched, str]] = {}  # url -> (its fetch, the page its rel=canonical names)

    def run(self, urls: list[str] | None, full: bool, allow_deletions: bool = False) -> SyncReport:
        started = time.perf_counter()
        report = self.report
        previous: IndexVersion | None = self.store.load() if self.store.current_version() else None
        if previous and previous.meta.get("model") != self.settings.embedding_model:
            full = True  # vectors from another model cannot be reused
        report.kind = "full" if full else ("targeted" if urls else "incremental")
        report.previous_version = previous.version if previous else None
        self.full = full
        model = self.settings.embedding_model
        cache = VectorCache(self.settings.embedding_cache, model)
        self.indexer = Indexer(previous, model, full, start_with_previous=bool(urls), cache=cache)
        fetcher = Fetcher(
            self.policy,
            self.settings.sync_user_agent,
            deadline=self.settings.sync_fetch_deadline,
            per_host_limit=self.settings.sync_per_host,
        )
        with fetcher:
            self.fetcher = fetcher
            with ThreadPoolExecutor(self.settings.sync_concurrency, thread_name_prefix="fetch") as pool:
                self.pool = pool
                found = self._targets(urls)
                self._process(list(found.urls), found)
                if not urls:
                    self._settle_absent(found)
                self._settle_copies()
        if not urls and not allow_deletions:
            self._hold_mass_deletion()
        with report.timed("embed"):
            self._embed(self.indexer.missing())
        report.embedded = self.indexer.embedded
        report.from_cache = self.indexer.from_cache
        self._publish(previous)
        report.seconds["total"] = round(time.perf_counter() - started, 3)
        return report

    def _targets(self, urls: list[str] | None) -> Discovery:
        """The pages to visit: the ones named, or everything discovery finds."""
        report = self.report
        with report.timed("discover"):
            if urls:
                found = Discovery()
                for url in urls:
                    found.urls[canonical_url(url)] = None
            else:
                found = discover(
                    self.fetcher,
                    self.policy,
                    self.settings.sources,
                    self.settings.sync_max_pages,
                    self.settings.sync_max_depth,
                    self.settings.sync_concurrency,
                )
                for url, reason in found.skips:
                    if url in self.indexer.old_pages:
                        self.discovery_reasons[url] = reason  # a known page gets one outcome, later, with this
                    else:
                        report.skip(url, reason)
                report.errors.extend(f"discovery incomplete: {p}" for p in found.problems)
        self.lastmods = {url: lastmod for url, lastmod in found.urls.items() if lastmod}
        report.discovered = len(found.urls)
        report.discovery_complete = found.complete
        return found

    def _hold_mass_deletion(self) -> None:
        """Keep every page this sync would delete when that is more than `deletion_limit` of them."""
        report, known = self.report, len(self.indexer.old_pages)
        limit = deletion_limit(known)
        deleted = [url for url in report.deleted if url in self.indexer.old_pages]
        if len(deleted) <= limit:
            return
        note = (
            f"held: this sync would delete {len(deleted)} of {known} pages, more than {limit}; if the site really "
            "withdrew them, run `assistant sync --allow-deletions`"
        )
        report.errors.append(note)
        for url in deleted:
            self.indexer.keep(url)
            report.deleted.remove(url)
            report.record(url, "kept", f"{note} (this page: {report.reasons.get(url, 'deleted')})")

    def _settle_absent(self, found: Discovery) -> None:
        """Known pages that discovery did not list: deleted only when it was read whole."""
        for url, reason in found.held.items():
            if url in self.indexer.old_pages and url not in self.visited:
                self.visited.add(url)
                self.indexer.keep(url)
                self.report.record(url, "kept", reason)
        absent = sorted(set(self.indexer.old_pages) - self.visited)
        if not absent:
            return
        if found.complete:
            for url in absent:
                reason = self.discovery_reasons.get(url, "no longer listed in the sitemap or linked from the site")
                self.report.record(url, "deleted", reason)
        elif found.capped:
            for url in absent:
                self.indexer.keep(url)
                self.report.record(url, "kept", "not reached: discovery stopped at SYNC_MAX_PAGES")
        else:
            self.report.errors.append(f"discovery was incomplete; re-checking {len(absent)} known pages one by one")
            self._process(absent, Discovery())

    def _process(self, urls: list[str], found: Discovery) -> None:
        """Fetch and parse pages in the pool; decide and embed here as each one comes back."""
        futures: dict[Future[_Fetched], str] = {}
        total = len(urls)

        def submit(url: str) -> None:
            if url in self.visited:
                return
            self.visited.add(url)
            known = self.indexer.known(url)
            if known is not None and self._lastmod_unchanged(url, known):
                self.indexer.keep(url)
                self.report.record(url, "unchanged", "the sitemap's lastmod has not changed; not fetched")
                for link in known.get("links", []):  # its PDFs have no lastmod: they are asked as usual
                    submit(link)
                return
            futures[self.pool.submit(self._fetch, url, found.fetched.pop(url, None))] = url

        for url in urls:
            submit(url)
        done = 0
        while futures:
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for future in finished:
                futures.pop(future)
                fetched = future.result()
                done += 1
                self.progress("fetch", done, max(total, done + len(futures)))
                for link in self._apply(fetched):
                    total += 1
                    submit(link)
            if len(self.pending) >= EMBED_GROUP:
                with self.report.timed("embed"):
                    self._embed(self.pending)
                self.pending = []

    def _lastmod_unchanged(self, url: str, known: dict[str, Any]) -> bool:
        """True when the sitemap gives the same lastmod as when the page was last read, less than
        REVALIDATE_SECONDS ago. A publish webhook (a targeted sync) and `--full` always fetch."""
        lastmod = self.lastmods.get(url)
        if self.full or not lastmod or known.get("sitemap_lastmod") != lastmod:
            return False
        try:
            read = calendar.timegm(time.strptime(str(known.get("indexed_at")), "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return False
        return time.time() - read < REVALIDATE_SECONDS

    def _fetch(self, url: str, already: FetchResult | None) -> _Fetched:
        """In a pool thread: fetch (unless link discovery already did) and parse one page."""
        known = self.indexer.known(url)
        conditional = known if known and not self.full else {}
        result = already or self.fetcher.fetch_page(
            url, etag=conditional.get("etag"), last_modified=conditional.get("last_modified")
        )
        fetched = _Fetched(url, result)
        if result.status != 200 or result.skip_reason:
            return fetched
        base = result.final_url or url  # after a redirect, relative links resolve from where it landed
        if result.content_type == "application/pdf":
            try:
                fetched.page = parse_pdf(url, result.content)
            except ParseError as exc:
                fetched.error = str(exc)
                return fetched
        elif result.text.strip():
            fetched.page = parse_page(base, result.text)
            fetched.page.url = url
        if fetched.page is not None:
            fetched.chunks = chunk_page(fetched.page)
        return fetched

    def _apply(self, fetched: _Fetched) -> list[str]:
        """Decide about one page and carry it out; returns the links (PDFs, a canonical page) to fetch next."""
        url, result, page = fetched.url, fetched.result, fetched.page
        if result.status:
            self.report.fetched += 1
        known = self.indexer.known(url)
        if fetched.error:
            if known:
                self.indexer.keep(url)
            self.report.record(url, "kept" if known else "skipped", fetched.error)
            return []
        canonical = self._canonical_elsewhere(url, page)
        if canonical:  # decided once the canonical page's own fate is known (`_settle_copies`)
            self.copies[url] = (fetched, canonical)
            return [canonical]
        return self._carry_out(fetched, decide(result, page, fetched.chunks, known))

    def _carry_out(self, fetched: _Fetched, decision: Decision) -> list[str]:
        url, page = fetched.url, fetched.page
        known = self.indexer.known(url)
        report = self.report
        if decision.action in (Action.DELETE, Action.SKIP):
            self.indexer.drop(url)
            report.record(url, "deleted" if decision.action is Action.DELETE else "skipped", decision.reason)
            return list(page.pdf_links) if page is not None else []  # noindex is not nofollow
        if decision.action is Action.KEEP or (decision.action is Action.UNCHANGED and page is None):
            self.indexer.keep(url)
            report.record(url, "kept" if decision.action is Action.KEEP else "unchanged", decision.reason)
            return list((known or {}).get("links", []))
        assert page is not None
        record = self._record(fetched)  # same content keeps its vectors (by digest), but takes the new dates
        todo = self.indexer.put(url, fetched.chunks, record)
        if decision.action is Action.UNCHANGED:
            report.record(url, "unchanged", decision.reason)
        else:
            report.record(url, "changed" if known else "added")
        self.pending.extend(todo)
        self.to_embed += len(todo)
        return list(record["links"])

    def _settle_copies(self) -> None:
        """A page whose rel=canonical names another: withdrawn if that page is indexed now, else indexed itself
        (so a canonical page that failed, or two pages naming each other, loses nothing)."""
        copies, self.copies = self.copies, {}
        undecided = set(copies)
        for url, (fetched, canonical) in copies.items():
            undecided.discard(url)
            if canonical in self.indexer.pages and canonical not in undecided:
                reason = f"a copy of {canonical}, which is indexed instead (rel=canonical)"
                decision = Decision(Action.DELETE if self.indexer.known(url) else Action.SKIP, reason)
            else:
                decision = decide(fetched.result, fetched.page, fetched.chunks, self.indexer.known(url))
            self._carry_out(fetched, decision)

    def _canonical_elsewhere(self, url: str, page: ParsedPage | None) -> str | None:
        if page is None or not page.canonical:
            return None
        target = canonical_url(page.canonical)
        return target if target != url and self.policy.allows(target) else None

    def _record(self, fetched: _Fetched) -> dict[str, Any]:
        """What pages.json keeps about a page: provenance and the validators for the next conditional GET."""
        page, result = fetched.page, fetched.result
        assert page is not None
        links = [canonical_url(u) for u in page.pdf_links]
        return {
            "title": page.title,
            "digest": page_digest(fetched.chunks),
            "etag": result.etag,
            "last_modified": result.last_modified,
            "last_updated": page.last_updated,
            "language": page.language,
            "sitemap_lastmod": self.lastmods.get(fetched.url)
            or (self.indexer.known(fetched.url) or {}).get("sitemap_lastmod"),
            "indexed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "links": [u for u in links if self.policy.allows(u)],
        }

    def _embed(self, chunks: list[Chunk]) -> None:
        done = self.indexer.embedded

        def step(n: int) -> None:
            nonlocal done
            done += n
            self.progress("embed", done, max(self.to_embed, done))

        self.indexer.embed(chunks, step)

    def _publish(self, previous: IndexVersion | None) -> None:
        report, indexer = self.report, self.indexer
        chunks, matrix, pages = indexer.build()
        report.chunks, report.pages = len(chunks), len(pages)
        if not chunks:
            raise NothingToPublish(
                "this sync found no pages with content, so the last good index keeps serving; "
                f"check SYNC_SOURCES ({', '.join(self.settings.sources)}) and ALLOWED_DOMAINS, then sync again"
            )
        if previous is not None and not indexer.changed_since_previous():
            report.index_version = previous.version  # nothing changed: readers keep what they have loaded
            return
        with report.timed("publish"):
            self.progress("publish", 0, 1)
            meta = {"model": self.settings.embedding_model, "report": report.summary()}
            extras = {LEXICAL_FILE: build_lexical(chunks, pages)}
            report.index_version = self.store.publish(chunks, matrix, pages, meta, extras)
            report.published = True
            self.store.prune(self.settings.sync_keep_versions, also_keep=(report.previous_version,))
            self.progress("publish", 1, 1)
