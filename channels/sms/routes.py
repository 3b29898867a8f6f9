"""POST /sms/twilio: checks Twilio's signature, answers with TwiML, and never answers one MessageSid twice."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from channels.answers import answers_from_rasa, events_to_record, render_sms
from channels.deps import ChannelStoreDep, RasaDep, SettingsDep
from channels.rasa_client import RasaUnavailable
from channels.store import ChannelStore

log = logging.getLogger(__name__)
router = APIRouter()
MAX_BODY_CHARS = 1600  # Twilio's own limit for one inbound message


def twiml(text: str) -> str:
    response = MessagingResponse()
    response.message(text)
    return str(response)


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
    if not sid or not sender or len(sid) > 64 or len(sender) > 64:
        return Response(
            "Bad request: MessageSid and From are required, each at most 64 characters\n",
            status_code=400,
            media_type="text/plain",
        )
    if not await run_in_threadpool(store.claim_sms, sid, sender, body):
        return Response(await _earlier_reply(store, sid), media_type="text/xml")
    if not body:
        reply = twiml("Please text your question about our services, and I'll look it up in our published guidance.")
    elif len(body) > MAX_BODY_CHARS:
        reply = twiml(
            f"That message is too long for me. Please send a shorter question (under {MAX_BODY_CHARS} characters)."
        )
    else:
        conversation = f"sms:{sender}"
        try:
            messages = await rasa.send(conversation, body)
        except RasaUnavailable as exc:
            log.error("sms %s kept unanswered: %s", sid, exc)
            messages = None
        if messages is None:
            reply = twiml("Sorry, I can't answer right now. Please text again in a few minutes.")
        else:
            answers = answers_from_rasa(messages)
            await run_in_threadpool(store.record_events, events_to_record(answers, "sms", conversation, body))
            reply = twiml(render_sms(answers, settings.sms_max_chars))
    await run_in_threadpool(store.save_sms_reply, sid, reply)
    return Response(reply, media_type="text/xml")


async def _earlier_reply(store: ChannelStore, sid: str, wait: float = 10.0) -> str:
    """The reply already made for this MessageSid; if the first request is still being answered, wait for it."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        reply = await run_in_threadpool(store.sms_reply, sid)
        if reply is not None or asyncio.get_running_loop().time() > deadline:
            return reply or str(MessagingResponse())
        await asyncio.sleep(0.2)
