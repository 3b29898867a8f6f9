"""Answering one claimed SMS: inline inside Twilio's window, else later by REST, retried while Rasa is down.

The webhook claims a MessageSid (one atomic insert), then asks Rasa. An answer ready within
`SMS_INLINE_TIMEOUT` goes back in the TwiML; a later one is sent through Twilio's Messages REST API, and the
webhook answers an empty `<Response/>`. While Rasa is unreachable the question stays `waiting`: the retry loop
(started with the gateway) asks again every few seconds and sends the answer by REST. A claim whose handler
died (still `answering` or `pending` after INBOUND_LEASE_SECONDS) is taken over by Twilio's retry or by the loop,
so a message whose gateway was killed is answered by REST once it (or another gateway) is back.
Opted-out numbers are sent nothing; the check is made again right before every REST send.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from twilio.twiml.messaging_response import MessagingResponse

from channels.answers import events_to_record
from channels.continuation import conversation_for, without_code
from channels.degraded import responder_for
from channels.observability.metrics import count_turn
from channels.privacy import pseudonym, redact
from channels.rasa_client import RasaClient, RasaUnavailable
from channels.settings import Settings
from channels.sms.send import SmsSendFailed, TwilioSender
from channels.sms.text import compose_sms
from channels.store import ChannelStore

log = logging.getLogger(__name__)
LEASE = 45.0  # INBOUND_LEASE_SECONDS' default: longer than a Rasa call may take (30 s timeout, 3 connection tries)
RETRY_EVERY = 3.0  # seconds between tries while Rasa is unreachable or a REST send failed
POLL_EVERY = 2.0  # seconds between the retry loop's looks at the table
MAX_AGE = 24 * 3600.0  # a question older than this is not answered any more
EMPTY = str(MessagingResponse())
HOLDING = "Sorry, I can't look that up right now. I'll text you the answer as soon as I can."
TRY_AGAIN = "Sorry, I can't answer right now. Please text again in a few minutes."


def twiml(parts: list[str]) -> str:
    """A TwiML reply with one <Message> per SMS."""
    response = MessagingResponse()
    for part in parts:
        response.message(part)
    return str(response)


@dataclass
class _Job:
    """One answer being made: the webhook sets `late` when it stopped waiting, then `handed_over` once the
    message is marked `pending` (so the answer, from then on, goes by REST).
    """

    late: bool = False
    handed_over: asyncio.Event = field(default_factory=asyncio.Event)


class SmsService:
    """Make SMS answers and deliver them inline or by REST; the retry loop for the ones still owed."""

    def __init__(self, settings: Settings, store: ChannelStore, rasa: RasaClient) -> None:
        self.settings = settings
        self.store = store
        self.rasa = rasa
        self.lease = settings.inbound_lease_seconds  # how long a claim is held
        token = settings.twilio_auth_token.get_secret_value()
        self.sender = (
            TwilioSender(settings.twilio_account_sid, token, settings.twilio_api_base_url)
            if settings.twilio_account_sid
            else None
        )
        self._tasks: set[asyncio.Task[list[str]]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    # -- making an answer ---------------------------------------------------------------------------------

    async def make_answer(self, sender: str, body: str) -> list[str]:
        """Ask Rasa (raises RasaUnavailable), record what was not answered, and fit the reply to SMS."""
        # Rasa knows the customer by a keyed hash of the number, never the number (channels/privacy.py), or by
        # the web conversation the number joined with a continuation code (channels/continuation.py).
        key = self.settings.privacy_key.get_secret_value()
        conversation = await run_in_threadpool(
            conversation_for, self.store, key, "sms", sender, pseudonym(key, "sms", sender)
        )
        body = without_code(body)  # "code K7M4QX what form do I need?": the code was used by the webhook
        # Rasa's answer, or the same answer made from the index while Rasa is down or slow (channels/degraded.py).
        answers = (await responder_for(self.rasa, self.settings).ask(conversation, body)).answers
        await run_in_threadpool(self.store.record_events, events_to_record(answers, "sms", conversation, body))
        await run_in_threadpool(self.store.record_turn, "sms", conversation, body, answers)
        count_turn("sms", answers)  # /metrics: answered, degraded, fallback (channels/observability)
        return compose_sms(answers, self.settings.sms_max_chars)

    async def answer_claimed(self, sid: str, sender: str, recipient: str, body: str) -> tuple[str, int]:
        """The webhook's TwiML for a message it claimed, and the message's state is stored with it."""
        job = _Job()
        task = self._spawn(self._answer(job, sid, sender, recipient, body))
        await asyncio.wait({task}, timeout=self.settings.sms_inline_timeout)
        if not task.done():
            job.late = True  # the task checks this after its last await, so it cannot miss it
            await run_in_threadpool(self.store.save_sms_reply, sid, EMPTY, "pending")
            job.handed_over.set()
            log.info("sms %s: not ready in %.2f s; the answer goes by REST", sid, self.settings.sms_inline_timeout)
            return EMPTY, 200
        try:
            parts = task.result()
        except RasaUnavailable as exc:
            log.error("sms %s kept waiting for Rasa: %s", sid, exc)
            holding = HOLDING if self.sender else TRY_AGAIN
            await run_in_threadpool(self.store.save_sms_reply, sid, twiml([holding]), "waiting")
            return twiml([holding]), 200
        reply = twiml(parts)
        await run_in_threadpool(self.store.save_sms_reply, sid, reply, "replied", json.dumps(parts))
        return reply, 200

    async def _answer(self, job: _Job, sid: str, sender: str, recipient: str, body: str) -> list[str]:
        try:
            parts = await self.make_answer(sender, body)
        except RasaUnavailable as exc:
            if job.late:
                await job.handed_over.wait()
                log.error("sms %s kept waiting for Rasa: %s", sid, exc)
                await run_in_threadpool(self.store.set_sms_state, sid, "waiting")
            raise
        if job.late:  # nothing awaited between make_answer and here unless late: the webhook cannot miss it
            await job.handed_over.wait()
            await self.deliver(sid, sender, recipient, parts)
        return parts

    # -- REST delivery ------------------------------------------------------------------------------------

    async def deliver(self, sid: str, to: str, from_: str, parts: list[str]) -> str:
        """Send the answer by REST unless the number opted out; the message's new state."""
        answer_text = json.dumps(parts)
        if self.sender is None:
            log.error("sms %s: answer made too late and TWILIO_ACCOUNT_SID is not set, so it cannot be sent", sid)
            state = "undeliverable"
        elif await run_in_threadpool(self.store.is_opted_out, to):
            log.info("sms %s: not sent, the number opted out (STOP)", sid)
            state = "opted_out"
        else:
            state = "sent"
            try:
                for part in parts:
                    await run_in_threadpool(self.sender.send, to, from_, part)
            except SmsSendFailed as exc:
                log.error("sms %s: %s; trying again in %.0f s", sid, redact(str(exc)), RETRY_EVERY)
                state = "unsent"
        await run_in_threadpool(self.store.set_sms_state, sid, state, answer_text)
        return state

    # -- the retry loop -----------------------------------------------------------------------------------

    async def retry_owed(self) -> int:
        """One pass: answer (by REST) every message still owed an answer; how many were taken."""
        rows = await run_in_threadpool(self.store.stale_sms, self.lease, RETRY_EVERY, MAX_AGE)
        taken = 0
        for row in rows:
            sid = row["message_sid"]
            if not await run_in_threadpool(self.store.take_over_sms, sid, self.lease, RETRY_EVERY, "pending"):
                continue  # someone else (Twilio's retry, another gateway) took it first
            taken += 1
            if row["reply_twiml"] is None:  # the webhook's handler died before answering: repeats get empty
                await run_in_threadpool(self.store.save_sms_reply, sid, EMPTY, "pending")
            to, from_ = row["sender"], row["recipient"] or ""
            if row["state"] == "unsent" and row["answer_text"]:
                await self.deliver(sid, to, from_, json.loads(row["answer_text"]))
                continue
            try:
                parts = await self.make_answer(to, row["body"])
            except RasaUnavailable as exc:
                log.info("sms %s: Rasa still unreachable (%s); trying again in %.0f s", sid, exc, RETRY_EVERY)
                await run_in_threadpool(self.store.set_sms_state, sid, "waiting")
                continue
            log.info("sms %s: answered after a wait; sending by REST", sid)
            await self.deliver(sid, to, from_, parts)
        return taken

    async def _retry_forever(self) -> None:
        while True:
            try:
                await self.retry_owed()
            except Exception:
                log.exception("sms retry loop: a pass failed; trying again in %.0f s", POLL_EVERY)
            await asyncio.sleep(POLL_EVERY)

    def _spawn(self, coro: Coroutine[Any, Any, list[str]]) -> asyncio.Task[list[str]]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[list[str]]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and not isinstance(task.exception(), RasaUnavailable):
            log.error("sms: answering failed", exc_info=task.exception())

    def start(self) -> None:
        """Start the retry loop (only when late answers can be sent: TWILIO_ACCOUNT_SID is set)."""
        if self.sender is None:
            log.warning("sms: TWILIO_ACCOUNT_SID is not set; answers later than SMS_INLINE_TIMEOUT are not sent")
            return
        self._loop_task = asyncio.create_task(self._retry_forever())

    async def stop(self) -> None:
        """Cancel the loop and unfinished answers; their messages stay owed and are answered after restart."""
        tasks: list[asyncio.Task[Any]] = [*self._tasks, *([self._loop_task] if self._loop_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@asynccontextmanager
async def sms_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The SMS service for the gateway's lifetime (its retry loop included), on `app.state.sms`."""
    from channels.deps import get_channel_store, get_rasa
    from channels.settings import get_settings

    settings = get_settings()
    # The app's dependency overrides apply here too, so the retry loop talks to the same Rasa as the routes.
    rasa_factory = app.dependency_overrides.get(get_rasa)
    store_factory = app.dependency_overrides.get(get_channel_store)
    rasa = rasa_factory() if rasa_factory else get_rasa(settings)
    store = store_factory() if store_factory else get_channel_store(settings)
    service = SmsService(settings, store, rasa)
    app.state.sms = service
    service.start()
    try:
        yield
    finally:
        await service.stop()
