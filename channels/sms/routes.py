"""POST /sms/twilio: checks Twilio's signature, claims the MessageSid once, honours STOP/START/HELP and the
per-number rate limit, and answers with TwiML (or later by REST: channels/sms/service.py).
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator

from channels.continuation import JOINED, redeem
from channels.deps import ChannelStoreDep, RasaDep, SettingsDep
from channels.guards.limits import Limiter, limiter_for
from channels.review.deps import review_store_for
from channels.review.optin import is_opt_in, opt_in_sms
from channels.sms.service import EMPTY, RETRY_EVERY, SmsService, sms_lifespan, twiml
from channels.sms.text import inbound_problem, keyword
from channels.store import ChannelStore

log = logging.getLogger(__name__)
router = APIRouter(lifespan=sms_lifespan)

STOPPED = "You're unsubscribed and will get no more messages from us. Reply START to text us again."
STARTED = "You're subscribed again. Text us a question about our services any time. Reply STOP to stop."
HELP = (
    "This is the agency's automated assistant: text a question and I'll answer from our published guidance. "
    "For anything else, {contact}. Reply STOP to stop messages."
)


def _service(request: Request, settings: SettingsDep, store: ChannelStore, rasa: RasaDep) -> SmsService:
    service = getattr(request.app.state, "sms", None)
    if service is None:  # an app built without the router's lifespan: no retry loop, answers still made
        service = request.app.state.sms = SmsService(settings, store, rasa)
    return service


@router.post("/sms/twilio", include_in_schema=False)
async def twilio_webhook(request: Request, settings: SettingsDep, store: ChannelStoreDep, rasa: RasaDep) -> Response:
    """Twilio's inbound message webhook."""
    form = await request.form()
    params = {key: str(value) for key, value in form.multi_items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not signature or not validator.validate(settings.sms_webhook_url, params, signature):
        log.warning("sms: refused a request with a missing or wrong X-Twilio-Signature")
        return Response("Forbidden: missing or invalid X-Twilio-Signature\n", status_code=403, media_type="text/plain")
    sid, sender, body = params.get("MessageSid", ""), params.get("From", ""), params.get("Body", "").strip()
    recipient = params.get("To", "")
    if not sid or not sender or len(sid) > 64 or len(sender) > 64 or len(recipient) > 64:
        return Response(
            "Bad request: MessageSid and From are required, and MessageSid, From and To are at most 64 characters\n",
            status_code=400,
            media_type="text/plain",
        )
    service = _service(request, settings, store, rasa)
    claimed = await run_in_threadpool(store.claim_sms, sid, sender, body, recipient)
    if not claimed:
        if await run_in_threadpool(store.take_over_sms, sid, service.lease, RETRY_EVERY):
            log.warning("sms %s: Twilio retried a message whose answer was never made; answering it now", sid)
        else:
            return await _earlier_reply(store, sid, settings.sms_inline_timeout + 2)
    reply, status = await _reply(service, limiter_for(request.app, settings), sid, sender, recipient, body)
    return Response(reply, status_code=status, media_type="text/xml")


async def _reply(
    service: SmsService, limiter: Limiter, sid: str, sender: str, recipient: str, body: str
) -> tuple[str, int]:
    """Keywords first (STOP never reaches Rasa), then opt-outs, the rate limit, the message's own problems."""
    store, settings = service.store, service.settings
    word = keyword(body)
    opted_out = await run_in_threadpool(store.is_opted_out, sender)
    if word == "stop":
        await run_in_threadpool(store.set_opted_out, sender, True)
        return await _final(store, sid, [STOPPED])
    if word == "start" and (opted_out or body.strip().upper().rstrip(".!?") != "YES"):
        await run_in_threadpool(store.set_opted_out, sender, False)  # YES opts in only an opted-out number
        return await _final(store, sid, [STARTED])
    if word == "help":
        return await _final(store, sid, [HELP.format(contact=settings.agency_contact)])
    if opted_out:
        await run_in_threadpool(store.save_sms_reply, sid, EMPTY, "opted_out")
        return EMPTY, 200
    limit = settings.rate_limit_per_session  # per number, in the gateways' shared limiter (channels/guards)
    if limit:
        wait = await limiter.hit("sms-number", sender, limit)
        if wait is not None:
            text = f"You've reached the limit of {limit} messages a minute. Please try again in {wait} seconds."
            reply = twiml([text])
            await run_in_threadpool(store.save_sms_reply, sid, reply, "limited")
            return reply, 429
    problem = inbound_problem(body)
    if problem:
        return await _final(store, sid, [problem])
    if is_opt_in(body):  # YES to "Text YES to be told when we can answer this." (channels/review/optin.py)
        review = review_store_for(settings.database_url)
        told = await run_in_threadpool(opt_in_sms, store, review, sender, recipient)
        if told is not None:
            return await _final(store, sid, [told])
    key = settings.privacy_key.get_secret_value()
    redeemed = await run_in_threadpool(redeem, store, key, "sms", sender, body)  # "code K7M4QX": joins a web chat
    if redeemed is not None:
        if redeemed.outcome != JOINED or not redeemed.rest:
            return await _final(store, sid, [redeemed.reply])
        body = redeemed.rest  # a question sent with the code is answered in the joined conversation
    return await service.answer_claimed(sid, sender, recipient, body)


async def _final(store: ChannelStore, sid: str, parts: list[str]) -> tuple[str, int]:
    reply = twiml(parts)
    await run_in_threadpool(store.save_sms_reply, sid, reply, "replied")
    return reply, 200


async def _earlier_reply(store: ChannelStore, sid: str, wait: float) -> Response:
    """The reply already made for this MessageSid; if the first request is still being answered, wait for it."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        row = await run_in_threadpool(store.sms_message, sid)
        reply = row["reply_twiml"] if row else None
        if reply is not None or asyncio.get_running_loop().time() > deadline:
            status = 429 if row and row["state"] == "limited" else 200
            return Response(reply or EMPTY, status_code=status, media_type="text/xml")
        await asyncio.sleep(0.2)
