"""`GET /api/chat/send` and `POST /api/chat/send`: "Text me this / Email me this" for the web chat.

The customer asks for the conversation's last answer by SMS or email, with explicit consent. It goes with a
continuation code (channels/continuation.py): texting or mailing the code back joins that number or address to
this web conversation, so follow-up questions keep their context. The SMS goes at once through Twilio's REST
API; the email is queued in the outbox (channels/email/outbox.py), which the email process delivers.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from starlette.concurrency import run_in_threadpool

from channels.answers import Answer, answers_from_rasa, render_email, render_email_html
from channels.continuation import (
    CODE_TTL,
    Channel,
    code_note,
    issue_code,
    normalise_phone,
    send_refusal,
)
from channels.deps import ChannelStoreDep, SettingsDep
from channels.email.outbox import queue_email
from channels.email.read import ADDRESS
from channels.email.send import build_message
from channels.settings import Settings
from channels.sms.send import SmsSendFailed, TwilioSender
from channels.sms.text import compose_sms
from channels.store import ChannelStore

log = logging.getLogger(__name__)
router = APIRouter()
SESSION_ID = r"^[A-Za-z0-9_.:@-]+$"  # the same as /api/chat's
SUBJECT = {False: "Your answer from the agency's assistant", True: "Su respuesta del asistente de la agencia"}
CONSENT = (
    "By sending, you agree that we text or email you this answer and a code to continue the conversation. "
    "We send nothing else. Reply STOP to a text to opt out."
)


class SendOptions(BaseModel):
    """What the widget may offer: which channels can send, how long a code lasts, the consent wording."""

    sms: bool = Field(description="Text me this is available (TWILIO_ACCOUNT_SID and TWILIO_FROM_NUMBER are set)")
    email: bool = Field(description="Email me this is available")
    code_hours: int = Field(description="how long a continuation code works")
    consent_text: str = Field(description="what the customer agrees to by sending (show it beside the button)")


class SendRequest(BaseModel):
    """Send this web conversation's last answer to `to`, with a continuation code."""

    session_id: str = Field(min_length=1, max_length=128, pattern=SESSION_ID)
    channel: Literal["sms", "email"]
    to: str = Field(min_length=3, max_length=254, description="a phone number (sms) or an email address")
    consent: bool = Field(description="must be true: the customer agreed to be texted or emailed")

    @field_validator("consent")
    @classmethod
    def _consent(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("must be true: send only after the customer agreed to get this text or email")
        return value

    @field_validator("to")
    @classmethod
    def _to(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("channel") == "sms":
            phone = normalise_phone(value)
            if phone is None:
                raise ValueError("not a phone number; give it with its country code, like +1 555 010 4477")
            return phone
        address = value.strip()
        if not ADDRESS.match(address):
            raise ValueError("not an email address, like name@example.org")
        return address


class SendPublic(BaseModel):
    """What was done: `sent` (a text) or `queued` (an email, delivered by the outbox)."""

    status: Literal["sent", "queued"]
    channel: Literal["sms", "email"]
    to: str
    code_expires_at: datetime
    message: str


def _sms_ready(settings: Settings) -> bool:
    return bool(settings.twilio_account_sid and settings.twilio_from_number)


@router.get("/api/chat/send", response_model=SendOptions)
async def send_options(settings: SettingsDep) -> SendOptions:
    """Whether "Text me this" and "Email me this" are available, for the widget to show its buttons."""
    return SendOptions(
        sms=_sms_ready(settings), email=True, code_hours=int(CODE_TTL.total_seconds() // 3600), consent_text=CONSENT
    )


@router.post(
    "/api/chat/send",
    response_model=SendPublic,
    responses={
        202: {"description": "the email is queued"},
        404: {"description": "nothing to send yet"},
        409: {"description": "the number opted out"},
        429: {"description": "too many sends"},
        502: {"description": "the text could not be sent"},
        503: {"description": "texting is not set up"},
    },
)
async def send_answer(
    body: SendRequest, request: Request, settings: SettingsDep, store: ChannelStoreDep
) -> JSONResponse:
    """Text or email the conversation's last answer with a continuation code (200 sent, 202 queued)."""
    conversation = f"web:{body.session_id}"
    last = await run_in_threadpool(store.last_answer, conversation)
    if last is None:
        raise HTTPException(404, "this conversation has no answer to send yet; ask a question first")
    channel: Channel = body.channel
    if channel == "sms":
        if not _sms_ready(settings):
            raise HTTPException(503, "texting is not set up here (TWILIO_ACCOUNT_SID, TWILIO_FROM_NUMBER); use email")
        if await run_in_threadpool(store.is_opted_out, body.to):
            raise HTTPException(
                409,
                f"this number opted out of our texts (it sent STOP); text START to {settings.twilio_from_number} "
                "first, or choose email",
            )
    client = request.client.host if request.client else None
    refusal = await run_in_threadpool(send_refusal, store, settings, conversation, channel, body.to, client)
    if refusal:
        text, wait = refusal
        raise HTTPException(429, text, headers={"Retry-After": str(wait)})
    key = settings.privacy_key.get_secret_value()
    code, expires = await run_in_threadpool(issue_code, store, key, conversation, channel, body.to, client)
    answers = answers_from_rasa(json.loads(last))
    if channel == "sms":
        await _text(settings, body.to, answers, code)
        message = f"We texted the answer to {body.to}, with a code to continue this conversation by text."
        status, http = "sent", 200
    else:
        await run_in_threadpool(_email, settings, store, body.to, answers, code)
        message = f"We're emailing the answer to {body.to}, with a code to continue this conversation by email."
        status, http = "queued", 202
    public = SendPublic(status=status, channel=channel, to=body.to, code_expires_at=expires, message=message)
    return JSONResponse(public.model_dump(mode="json"), status_code=http)


async def _text(settings: Settings, to: str, answers: list[Answer], code: str) -> None:
    """The answer as SMS (the same parts the SMS channel sends), then the code, through Twilio's REST API."""
    spanish = next((a.spanish for a in answers if a.lang), False)
    parts = [*compose_sms(answers, settings.sms_max_chars), code_note("sms", code, spanish)]
    sender = TwilioSender(
        settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(), settings.twilio_api_base_url
    )
    try:
        for part in parts:
            await run_in_threadpool(sender.send, to, settings.twilio_from_number, part)
    except SmsSendFailed as exc:
        log.error("chat send: the text was not sent: %s", type(exc).__name__)
        raise HTTPException(502, "the text could not be sent just now; try again in a few minutes") from exc


def _email(settings: Settings, store: ChannelStore, to: str, answers: list[Answer], code: str) -> int:
    """The answer as an email (plain text and HTML from the same Answers), with the code, into the outbox."""
    spanish = next((a.spanish for a in answers if a.lang), False)
    notes = [code_note("email", code, spanish)]
    message = build_message(
        to, SUBJECT[spanish], render_email(answers, notes), settings.email_from, render_email_html(answers, notes)
    )
    message_id = re.sub(r"[^A-Za-z0-9@._-]", "", str(message["Message-ID"]))
    return queue_email(store, message, f"continuation:{message_id}")
