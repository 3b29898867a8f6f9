"""POST /api/chat, and the page at / that uses it."""

from __future__ import annotations

import json
import logging
import re
import uuid
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from channels.answers import answers_from_rasa, events_to_record, render_web
from channels.deps import ChannelStoreDep, RasaDep, SettingsDep
from channels.rasa_client import RasaUnavailable

log = logging.getLogger(__name__)
router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ChatRequest(BaseModel):
    """A customer's message. A missing session_id starts a new conversation."""

    session_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")
    text: str

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


class ChatResponse(BaseModel):
    session_id: str
    messages: list[ChatMessage]


@router.post("/api/chat", response_model=ChatResponse)
async def chat(body: ChatRequest, settings: SettingsDep, rasa: RasaDep, store: ChannelStoreDep) -> ChatResponse:
    """Ask the assistant; every message says whether it answers from the guidance and cites its source."""
    if len(body.text) > settings.max_message_chars:
        raise HTTPException(
            status_code=413,
            detail=f"text is {len(body.text)} characters; at most {settings.max_message_chars} are accepted",
        )
    session_id = body.session_id or f"web-{uuid.uuid4().hex}"
    sender = f"web:{session_id}"
    try:
        replies = await rasa.send(sender, body.text)
    except RasaUnavailable as exc:
        log.error("web chat: %s", exc)
        raise HTTPException(
            status_code=503, detail="the assistant is not available right now; try again in a moment"
        ) from exc
    answers = answers_from_rasa(replies)
    await run_in_threadpool(store.record_events, events_to_record(answers, "web", sender, body.text))
    await run_in_threadpool(store.record_turn, "web", sender, body.text, answers)  # redacted (channels/privacy.py)
    if any(a.answered for a in answers):  # what "Text me this / Email me this" sends (channels/webchat/send.py)
        await run_in_threadpool(store.save_last_answer, sender, json.dumps(replies))
    return ChatResponse(session_id=session_id, messages=[ChatMessage(**m) for m in render_web(answers)])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request) -> HTMLResponse:
    """The chat page."""
    return templates.TemplateResponse(request, "chat.html", {})
