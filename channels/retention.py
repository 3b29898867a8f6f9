"""Retention: personal data older than RETENTION_DAYS is deleted, once a day while the gateway runs.

The gateway's lifespan runs `purge_daily`; `assistant purge [--days N]` does the same once, by hand. What is
deleted, and what is kept, is in docs/adr/0011-personal-data.md.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.concurrency import run_in_threadpool

from channels.privacy import warm_up
from channels.store import ChannelStore

log = logging.getLogger(__name__)
PURGE_EVERY = 24 * 3600.0  # seconds between purges


async def purge_forever(store: ChannelStore, days: int, every: float = PURGE_EVERY) -> None:
    """Purge now, then every `every` seconds; a failed purge is logged and tried again next time."""
    while True:
        try:
            await run_in_threadpool(store.purge_older_than, days)
        except Exception:
            log.exception("retention: the purge of rows older than %d days failed; trying again in %.0f s", days, every)
        await asyncio.sleep(every)


@asynccontextmanager
async def purge_daily(store: ChannelStore, days: int, every: float = PURGE_EVERY) -> AsyncIterator[None]:
    """The daily purge for as long as the block runs; also loads the redaction analyzer in the background, so
    the first customer's message does not wait for it.
    """
    threading.Thread(target=warm_up, name="privacy-warm-up", daemon=True).start()
    task = asyncio.create_task(purge_forever(store, days, every))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
