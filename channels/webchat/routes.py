"""POST /api/chat, and the page at / that uses it."""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, field_validator

from channels.answers import answers_from_rasa, render_web
from channels.deps import RasaDep, SettingsDep
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


class ChatMessage(BaseModel):
    text: str
    answered: bool
    source_url: str | None
    source_title: str | None
    index_version: str | None
    last_updated: str | None = None


class ChatResponse(BaseModel):
    session_id: str
    messages: list[ChatMessage]


@router.post("/api/chat", response_model=ChatResponse)
async def chat(body: ChatRequest, settings: SettingsDep, rasa: RasaDep) -> ChatResponse:
    """Ask the assistant; every message says whether it answers from the guidance and cites its source."""
    if len(body.text) > settings.max_message_chars:
        raise HTTPException(
            status_code=413,
            detail=f"text is {len(body.text)} characters; at most {settings.max_message_chars} are accepted",
        )
    session_id = body.session_id or f"web-{uuid.uuid4().hex}"
    try:
        replies = await rasa.send(f"web:{session_id}", body.text)
    except RasaUnavailable as exc:
        log.error("web chat: %s", exc)
        raise HTTPException(
            status_code=503, detail="the assistant is not available right now; try again in a moment"
        ) from exc
    return ChatResponse(
        session_id=session_id, messages=[ChatMessage(**m) for m in render_web(answers_from_rasa(replies))]
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request) -> HTMLResponse:
    """The chat page."""
    return templates.TemplateResponse(request, "chat.html", {})
