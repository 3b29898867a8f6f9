"""POST /api/chat, and the page at / that uses it."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from channels.answers import events_to_record, render_web
from channels.degraded import responder_for
from channels.deps import ChannelStoreDep, RasaDep, SettingsDep
from channels.inbox import StillAnswering, WebInbox
from channels.observability.metrics import count_turn
from channels.rasa_client import RasaClient, RasaUnavailable
from channels.settings import Settings
from channels.store import ChannelStore

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ChatRequest(BaseModel):
    """A customer's message. A missing session_id starts a new conversation."""

    session_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")
    text: str
    idempotency_key: str | None = Field(
        None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the client's id for this message: sent again with a retry, it gets the same reply, "
        "answered once (docs/adr/0018-inbound-journal.md)",
    )

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        value = CONTROL.sub("", value).strip()
        if not value:
            raise ValueError("text is empty; send the customer's question")
        return value


class ChoicePublic(BaseModel):
    """One page the customer may pick: show `title`, send `payload` back as the next message's text."""

    n: int
    title: str
    url: str | None = None
    payload: str


class ButtonPublic(BaseModel):
    """A quick reply: show `title`, send `payload` back as the next message's text."""

    title: str
    payload: str


class FeedbackPublic(BaseModel):
    """The "Was this helpful?" question and its buttons, offered with an answer."""

    prompt: str
    buttons: list[ButtonPublic]


class ChatMessage(BaseModel):
    """One assistant message: the contract's fields, then its kind, language and quick replies."""

    text: str
    answered: bool
    source_url: str | None
    source_title: str | None
    index_version: str | None
    last_updated: str | None = None
    kind: str = Field("text", description="answer, clarify, feedback, handoff, or text for a plain response")
    lang: str | None = Field(None, description="the message's language, en or es, when the assistant said")
    choices: list[ChoicePublic] = Field(default_factory=list, description="pages to pick from (clarify)")
    feedback: FeedbackPublic | None = Field(None, description="a 'Was this helpful?' question with its buttons")
    degraded: bool = Field(
        False, description="true when Rasa was down or slow and the gateway answered from the index itself"
    )


class ChatResponse(BaseModel):
    session_id: str
    messages: list[ChatMessage]


@asynccontextmanager
async def web_inbox_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The web inbox for the gateway's lifetime, on `app.state.web_inbox`, with its recovery loop answering
    messages a gateway died holding (channels/inbox.py)."""
    from channels.deps import get_channel_store, get_rasa
    from channels.settings import get_settings

    settings = get_settings()
    # The app's dependency overrides apply here too, so recovery talks to the same Rasa as the routes.
    rasa_factory = app.dependency_overrides.get(get_rasa)
    store_factory = app.dependency_overrides.get(get_channel_store)
    rasa = rasa_factory() if rasa_factory else get_rasa(settings)
    store = store_factory() if store_factory else get_channel_store(settings)
    inbox = app.state.web_inbox = WebInbox(settings, store)

    async def make_reply(session_id: str, text: str) -> dict[str, Any]:
        return (await answer_web(settings, rasa, store, session_id, text)).model_dump(mode="json")

    inbox.start(make_reply)
    try:
        yield
    finally:
        await inbox.stop()


router = APIRouter(lifespan=web_inbox_lifespan)


async def answer_web(
    settings: Settings, rasa: RasaClient, store: ChannelStore, session_id: str, text: str
) -> ChatResponse:
    """Ask the assistant in web session `session_id` and record the turn (raises RasaUnavailable)."""
    sender = f"web:{session_id}"
    # Rasa's answer, or the same answer made from the index while Rasa is down or slow (channels/degraded.py).
    reply = await responder_for(rasa, settings).ask(sender, text)
    answers, replies = reply.answers, reply.messages
    await run_in_threadpool(store.record_events, events_to_record(answers, "web", sender, text))
    await run_in_threadpool(store.record_turn, "web", sender, text, answers)  # redacted (channels/privacy.py)
    count_turn("web", answers)  # /metrics: answered, degraded, fallback (channels/observability)
    if any(a.answered for a in answers):  # what "Text me this / Email me this" sends (channels/webchat/send.py)
        await run_in_threadpool(store.save_last_answer, sender, json.dumps(replies))
    return ChatResponse(session_id=session_id, messages=[ChatMessage(**m) for m in render_web(answers)])


def _inbox(request: Request, settings: Settings, store: ChannelStore) -> WebInbox:
    inbox = getattr(request.app.state, "web_inbox", None)
    if inbox is None:  # an app built without the router's lifespan: journalled all the same, no recovery loop
        inbox = request.app.state.web_inbox = WebInbox(settings, store)
    return inbox


@router.post("/api/chat", response_model=ChatResponse)
async def chat(
    body: ChatRequest, request: Request, settings: SettingsDep, rasa: RasaDep, store: ChannelStoreDep
) -> ChatResponse:
    """Ask the assistant; every message says whether it answers from the guidance and cites its source.

    The message is written down before it is answered (channels/inbox.py): sent again with the same
    `idempotency_key`, it gets the same reply and is not answered twice.
    """
    if len(body.text) > settings.max_message_chars:
        raise HTTPException(
            status_code=413,
            detail=f"text is {len(body.text)} characters; at most {settings.max_message_chars} are accepted",
        )
    inbox = _inbox(request, settings, store)
    try:
        claim = await inbox.claim(body.session_id, body.text, body.idempotency_key)
    except StillAnswering as exc:
        raise HTTPException(status_code=503, detail=str(exc), headers={"Retry-After": str(exc.retry_after)}) from exc
    if claim.reply is not None:
        return ChatResponse(**claim.reply)
    try:
        response = await answer_web(settings, rasa, store, claim.session_id, body.text)
    except RasaUnavailable as exc:
        log.error("web chat: %s", exc)
        await inbox.failed(claim)
        raise HTTPException(
            status_code=503, detail="the assistant is not available right now; try again in a moment"
        ) from exc
    await inbox.answered(claim, response.model_dump(mode="json"))
    return response


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request) -> HTMLResponse:
    """The chat page."""
    return templates.TemplateResponse(request, "chat.html", {})
