"""`POST /email/inbound`: a mail provider's inbound-parse webhook posts one raw RFC 5322 message, which goes
into the SMTP listener's spool, so it is read, guarded and answered exactly like mail that came by SMTP.

The provider authenticates with `Authorization: Bearer <EMAIL_INBOUND_TOKEN>` (compared in constant time; an
empty setting turns the route off, 503). The body is the message itself (`message/rfc822` or
`application/octet-stream`), at most MAX_MESSAGE_BYTES (the gateway's BodyLimit allows this path that much).
The envelope sender is the message's Return-Path, else its From address. 202 `{"id": ...}` means it is spooled;
the email process answers it (the gateway and the email process share DATA_DIR, like the spool's ADR 5 says).
"""

from __future__ import annotations

import logging
import secrets
from email import errors
from email.utils import getaddresses
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from channels.deps import SettingsDep
from channels.email.listener import MAX_MESSAGE_BYTES, Spool
from channels.email.read import ADDRESS, parse_bytes

log = logging.getLogger("channels.email")
router = APIRouter()
CONTENT_TYPES = ("message/rfc822", "application/octet-stream")
BROKEN = (
    errors.NoBoundaryInMultipartDefect,
    errors.StartBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
)

__all__ = ["MAX_MESSAGE_BYTES", "router"]


def require_inbound_token(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """The provider's bearer token, compared in constant time; 503 while EMAIL_INBOUND_TOKEN is empty."""
    expected = settings.email_inbound_token.get_secret_value()
    if not expected:
        raise HTTPException(
            status_code=503,
            detail="inbound email by webhook is off: set EMAIL_INBOUND_TOKEN, and give the provider that token",
        )
    scheme, _, token = (authorization or "").partition(" ")
    given = token.strip().encode("utf-8", "replace")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given, expected.encode()):
        raise HTTPException(
            status_code=401,
            detail="a valid 'Authorization: Bearer <EMAIL_INBOUND_TOKEN>' header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


def mime_problem(raw: bytes) -> str | None:
    """Why `raw` is not a message that can be answered (no headers, no From address, broken multipart), or None."""
    if not raw.strip():
        return "the body is empty; post the raw RFC 5322 message"
    message = parse_bytes(raw)
    if not list(message.keys()):
        return "the body is not an RFC 5322 message: it has no header section"
    broken = [type(d).__name__ for part in message.walk() for d in part.defects if isinstance(d, BROKEN)]
    if broken:
        return f"the message's MIME structure is broken ({', '.join(sorted(set(broken)))}); post it as received"
    if not any(ADDRESS.match(addr) for _, addr in getaddresses([str(v) for v in message.get_all("From", [])])):
        return "the message has no From address to answer"
    return None


def envelope_sender(raw: bytes) -> str:
    """The envelope sender a provider's message stands for: its Return-Path (`<>` for a bounce), else From."""
    message = parse_bytes(raw)
    return_path = str(message.get("Return-Path", "") or "").strip()
    if return_path:
        return return_path.strip("<>").strip() or "<>"
    return next((addr for _, addr in getaddresses([str(v) for v in message.get_all("From", [])]) if addr), "")


@router.post("/email/inbound", status_code=202, dependencies=[Depends(require_inbound_token)])
async def inbound_email(request: Request, settings: SettingsDep) -> JSONResponse:
    """Spool one raw message for the email process to answer; 202 with its spool id."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        raise HTTPException(
            status_code=415,
            detail=f"post the raw message as {' or '.join(CONTENT_TYPES)} (got {content_type or 'no content type'})",
        )
    raw = await request.body()
    problem = await run_in_threadpool(mime_problem, raw)
    if problem:
        raise HTTPException(status_code=400, detail=problem)
    spool = Spool(settings.data_dir / "mail")
    msg_id = await run_in_threadpool(spool.put, raw, await run_in_threadpool(envelope_sender, raw))
    log.info("accepted message %s by webhook", msg_id)
    return JSONResponse({"id": msg_id, "status": "queued"}, status_code=202)
