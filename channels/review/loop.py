"""The review queue's background work in the gateway: take new events in, cluster them, and close the loop.

Three tasks run for the gateway's lifetime (the third is the queue's daily retention purge):
- every INGEST_EVERY seconds, new answer events become review items, and new items are embedded and placed in
  clusters (in a worker thread: the embedding model is loaded there, once);
- every WATCH_EVERY seconds, the published index version is read (`IndexStore.current_version`). Open items
  not yet asked at that version, and last left unanswered at another one, are asked again through Rasa, each
  under a fresh sender id (`review:<item id>:<version>:<nonce>`), so no customer's conversation is touched, and
  nothing is recorded as an answer event. An item that now gets a confident answer (`answered: true`; for a
  "not helpful" rating, a passage other than the one rated) moves to answered_by_update, citing the page and
  the version; its customers are then told (channels.review.notify).

Rasa's action server loads a new version a moment after the pointer moves: a reply made from another version
than the one being checked is not counted, and the item is asked again on a later pass.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from channels.answers import Answer, answers_from_rasa
from channels.rasa_client import RasaClient, RasaUnavailable
from channels.review.ingest import cluster_pending, ingest_new
from channels.review.notify import Notifier
from channels.review.store import Item, ReviewStore
from channels.settings import Settings
from channels.store import ChannelStore
from content_sync.index_store import IndexStore

log = logging.getLogger(__name__)
INGEST_EVERY = 3.0  # seconds between looks at new answer events
WATCH_EVERY = 1.0  # seconds between looks at the published index version
BEHIND_WAIT = 2.0  # seconds to wait when Rasa still answers from another version than the published one
RASA_DOWN_WAIT = 5.0
STUCK_AFTER = timedelta(minutes=10)  # a notice left "sending" this long was interrupted (see abandon_stuck)
PURGE_EVERY = 24 * 3600.0  # seconds between the queue's retention purges (RETENTION_DAYS)


def confident_answer(item: Item, answers: list[Answer]) -> Answer | None:
    """The answer that resolves the item now, or None: an answer from the guidance, and for a "not helpful"
    rating one that quotes another passage (or another page) than the rated one."""
    for answer in answers:
        if not (answer.answered and answer.source_url):
            continue
        if item.signal == "not_helpful":
            if item.rated_chunk_digest and answer.chunk_digest == item.rated_chunk_digest:
                continue
            if not item.rated_chunk_digest and answer.source_url == item.rated_source_url:
                continue
        return answer
    return None


class ReviewLoop:
    """Ingest, cluster, ask again after a sync, and tell customers."""

    def __init__(self, settings: Settings, channels: ChannelStore, review: ReviewStore, rasa: RasaClient) -> None:
        self.settings = settings
        self.channels = channels
        self.review = review
        self.rasa = rasa
        self.index = IndexStore(settings.index_dir)
        self.notifier = Notifier(settings, channels, review)
        self._tasks: list[asyncio.Task[None]] = []

    async def ingest_once(self) -> int:
        """Take new events in and cluster new items; how many items were placed in clusters."""
        await run_in_threadpool(ingest_new, self.channels, self.review)
        return await run_in_threadpool(cluster_pending, self.review, self.settings.embedding_model)

    async def reask_once(self, version: str) -> tuple[int, bool]:
        """Ask the open items again at `version`: (how many are answered now, whether the pass got through
        them all). False means Rasa is down or still on another version: try again later."""
        answered = 0
        for item in await run_in_threadpool(self.review.items_to_reask, version):
            sender = f"review:{item.id}:{version}:{uuid.uuid4().hex[:8]}"
            try:
                replies = await self.rasa.send(sender, item.question)
            except RasaUnavailable as exc:
                log.info("review: cannot ask item %d again yet: %s", item.id, exc)
                return answered, False
            answers = answers_from_rasa(replies)
            versions = {a.index_version for a in answers if a.index_version}
            if versions and version not in versions:
                log.info("review: Rasa still answers from %s, not %s; asking again shortly", versions, version)
                return answered, False
            found = confident_answer(item, answers)
            if found is None:
                await run_in_threadpool(self.review.mark_reasked, item.id, version)
                continue
            assert found.source_url is not None
            if await run_in_threadpool(self.review.mark_answered, item.id, found.source_url, version, replies):
                answered += 1
                log.info("review: item %d is answered now by %s (index %s)", item.id, found.source_url, version)
        return answered, True

    async def notify_once(self) -> int:
        """Send the notices that are due; how many went."""
        await run_in_threadpool(self.review.abandon_stuck, STUCK_AFTER)
        return await run_in_threadpool(self.notifier.send_due)

    async def watch_once(self) -> float:
        """One look at the index version, asking again and notifying as needed; seconds until the next look."""
        version = await run_in_threadpool(self.index.current_version)
        wait = WATCH_EVERY
        if version:
            _, done = await self.reask_once(version)
            wait = WATCH_EVERY if done else BEHIND_WAIT
        await self.notify_once()
        return wait

    async def _forever(self, name: str, step: Callable[[], Awaitable[Any]], every: float) -> None:
        await asyncio.sleep(every)  # the first pass after one interval: start-up stays quick
        while True:
            wait = every
            try:
                result = await step()
                if isinstance(result, float):
                    wait = result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("review %s: a pass failed; trying again in %.0f s", name, RASA_DOWN_WAIT)
                wait = RASA_DOWN_WAIT
            await asyncio.sleep(wait)

    async def purge_once(self) -> None:
        """Delete what the queue keeps past RETENTION_DAYS (ReviewStore.purge_older_than)."""
        await run_in_threadpool(self.review.purge_older_than, self.settings.retention_days)

    def start(self) -> None:
        """Start the tasks (call from inside the running event loop)."""
        self._tasks = [
            asyncio.create_task(self._forever("ingest", self.ingest_once, INGEST_EVERY)),
            asyncio.create_task(self._forever("closed loop", self.watch_once, WATCH_EVERY)),
            asyncio.create_task(self._forever("retention", self.purge_once, PURGE_EVERY)),
        ]

    async def stop(self) -> None:
        """Cancel the tasks; whatever they had not done yet is done after the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []


@asynccontextmanager
async def review_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The review loop for the gateway's lifetime, on `app.state.review_loop`."""
    from channels.deps import get_channel_store, get_rasa
    from channels.review.deps import get_review_store
    from channels.settings import get_settings

    settings = get_settings()
    # The app's dependency overrides apply here too, so the loop talks to the same Rasa and stores as the routes.
    rasa_factory = app.dependency_overrides.get(get_rasa)
    channels_factory = app.dependency_overrides.get(get_channel_store)
    review_factory = app.dependency_overrides.get(get_review_store)
    rasa = rasa_factory() if rasa_factory else get_rasa(settings)
    channels = channels_factory() if channels_factory else get_channel_store(settings)
    review = review_factory() if review_factory else get_review_store(settings)
    loop = ReviewLoop(settings, channels, review, rasa)
    app.state.review_loop = loop
    loop.start()
    try:
        yield
    finally:
        await loop.stop()
