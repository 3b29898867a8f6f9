"""The inbound journal's web chat side: a message is written down before it is answered, a repeat of its
idempotency key gets the reply already made, and a message whose gateway died is answered after a restart.

`POST /api/chat` claims the message (channels.store `journal_inbound`), makes the answer, then marks it
answered with the reply it sent. A request that comes again with the same session and `idempotency_key` (the
widget sends one with every message, and sends it again when the first try got no reply) is answered from
that row: the reply already made, or, if its gateway died holding it (INBOUND_LEASE_SECONDS passed), a fresh
answer made once by whoever takes it over. The recovery loop, started with the gateway, answers those orphaned
messages even when nobody asks again, so the reply waits for the widget's retry and the turn is in the
transcript and the review queue. Why it is built this way: docs/adr/0018-inbound-journal.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from channels.settings import Settings
from channels.store import ChannelStore

log = logging.getLogger(__name__)
CHANNEL = "web"
WAIT_FOR_HOLDER = 10.0  # seconds a repeat waits for the request holding the message to answer it
POLL = 0.2  # seconds between a repeat's looks at the row
RECOVER_EVERY = 2.0  # seconds between the recovery loop's passes
MAX_AGE = 24 * 3600.0  # a message older than this is not answered any more; its text and reply are forgotten

MakeReply = Callable[[str, str], Awaitable[dict[str, Any]]]
"""Answer `text` in web session `session_id`: the reply as `POST /api/chat` sends it (JSON-ready)."""


class StillAnswering(Exception):
    """A repeat came while the first request for its key is still being answered; try again shortly."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"this message is still being answered; send it again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Claim:
    """A web message written to the journal: `reply` is set when it was answered before (a repeat)."""

    row_id: int | None  # None: the journal could not be written, and the message is answered all the same
    session_id: str
    reply: dict[str, Any] | None = None


class WebInbox:
    """Claims, repeats and recovery of web chat messages, on the channels' store."""

    def __init__(self, settings: Settings, store: ChannelStore) -> None:
        self.store = store
        self.lease = settings.inbound_lease_seconds
        self._task: asyncio.Task[None] | None = None

    def _key(self, session_id: str | None, idempotency_key: str | None) -> str:
        # without a client key the message is still journalled (and recovered), but a repeat is a new message
        key = idempotency_key or uuid.uuid4().hex
        return self.store.inbound_key(CHANNEL, f"{session_id or ''}\n{key}")

    async def claim(self, session_id: str | None, text: str, idempotency_key: str | None = None) -> Claim:
        """Write the message down before it is answered; the caller then holds it. A repeat of the key gets
        the earlier reply, or the message itself when its holder died or failed; raises StillAnswering when
        the holder is still at it after WAIT_FOR_HOLDER seconds.
        """
        idem = self._key(session_id, idempotency_key)
        new_session = session_id or f"web-{uuid.uuid4().hex}"
        try:
            wrote, row = await run_in_threadpool(self.store.journal_inbound, CHANNEL, idem, text, new_session)
        except Exception:  # the customer is answered even when the database is not there
            log.exception("web chat: could not write the message to the inbound journal; answering it anyway")
            return Claim(None, new_session)
        if wrote:
            return Claim(int(row["id"]), new_session)
        deadline = asyncio.get_running_loop().time() + WAIT_FOR_HOLDER
        while True:
            if row["state"] == "answered" and row["reply"]:
                log.info("web message %s came again: sent the reply already made", row["id"])
                return Claim(int(row["id"]), str(row["session_id"]), json.loads(row["reply"]))
            if await run_in_threadpool(self.store.take_over_inbound, int(row["id"]), self.lease):
                log.warning("web message %s came again after its answer was not made; answering it now", row["id"])
                return Claim(int(row["id"]), str(row["session_id"] or new_session))
            if asyncio.get_running_loop().time() > deadline:
                raise StillAnswering(retry_after=2)
            await asyncio.sleep(POLL)
            found = await run_in_threadpool(self.store.inbound_message, int(row["id"]))
            row = found if found is not None else row

    async def answered(self, claim: Claim, reply: dict[str, Any]) -> None:
        """Mark the message answered, keeping the reply for a repeat; its raw text is forgotten. Never raises."""
        await self._finish(claim, "answered", json.dumps(reply))

    async def failed(self, claim: Claim) -> None:
        """The client was told the message could not be answered: a repeat answers it again. Never raises."""
        await self._finish(claim, "failed", None)

    async def _finish(self, claim: Claim, state: str, reply: str | None) -> None:
        if claim.row_id is None:
            return
        try:
            await run_in_threadpool(self.store.finish_inbound, claim.row_id, state, reply)
        except Exception:
            log.exception("web message %s: could not mark it %s; the reply is sent anyway", claim.row_id, state)

    async def recover(self, make_reply: MakeReply) -> int:
        """One pass: answer every message whose gateway died holding it; how many were answered."""
        await run_in_threadpool(self.store.expire_inbound, MAX_AGE)
        rows = await run_in_threadpool(self.store.orphaned_inbound, CHANNEL, self.lease, MAX_AGE)
        answered = 0
        for row in rows:
            if not row["text"] or not await run_in_threadpool(self.store.take_over_inbound, row["id"], self.lease):
                continue  # someone else (the widget's retry, another gateway) took it first
            claim = Claim(int(row["id"]), str(row["session_id"]))
            try:
                reply = await make_reply(claim.session_id, str(row["text"]))
            except Exception as exc:
                log.warning("web message %s: still not answered (%s); trying again later", row["id"], exc)
                continue  # stays answering: taken again once the lease runs out
            await self.answered(claim, reply)
            answered += 1
            log.info("web message %s: answered after its gateway stopped; the reply waits for a retry", row["id"])
        return answered

    async def _recover_forever(self, make_reply: MakeReply) -> None:
        while True:
            try:
                await self.recover(make_reply)
            except Exception:
                log.exception("web inbox: a recovery pass failed; trying again in %.0f s", RECOVER_EVERY)
            await asyncio.sleep(RECOVER_EVERY)

    def start(self, make_reply: MakeReply) -> None:
        """Start the recovery loop."""
        self._task = asyncio.create_task(self._recover_forever(make_reply))

    async def stop(self) -> None:
        """Stop the recovery loop; messages it had not answered stay in the journal for the next start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
