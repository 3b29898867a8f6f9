"""Rasa's REST channel behind the shared RASA_TOKEN (loaded by Rasa in .venv-rasa: valid Python 3.10).

`rasa run --auth-token` guards only Rasa's HTTP API, never its input channels, so the stock `rest` channel
answers anyone who can reach the port, as any sender. This one is the same channel, at the same
`POST /webhooks/rest/webhook`, that refuses (401) a request without `Authorization: Bearer <RASA_TOKEN>` (or
`?token=<RASA_TOKEN>`). An empty token checks nothing: the launcher allows that only on loopback.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # as content_sync.logs.REQUEST_ID


class DropMessageText(logging.Filter):
    """Rasa's REST channel logs the customer's text when a message times out or fails
    (`rest.message.received.timeout`, a JSON string from Rasa's structlog): keep the event, drop the text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            body = json.loads(record.getMessage())
        except (ValueError, TypeError):
            return True
        if isinstance(body, dict) and "text" in body:
            body["text"] = "[dropped]"
            record.msg, record.args = json.dumps(body), ()
        return True


logging.getLogger("rasa.core.channels.rest").addFilter(DropMessageText())


def _json_logger() -> logging.Logger:
    """A logger writing one JSON object a line on stdout, as the gateway and action server do (Rasa's own
    lines keep Rasa's format)."""
    logger = logging.getLogger("assistant.rest_channel")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def log_message(request: Request) -> None:
    """One line for a message Rasa accepted, with the gateway's request id from its metadata; never its text
    or sender."""
    body = request.json if isinstance(request.json, dict) else {}
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    request_id = metadata.get("request_id")
    line = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "level": "info",
        "logger": "assistant.rest_channel",
        "process": "rasa",
        "event": "message received",
        "request_id": request_id if isinstance(request_id, str) and SAFE_ID.fullmatch(request_id) else None,
    }
    _json_logger().info(json.dumps(line))


class TokenRestInput(RestInput):
    """The `rest` channel, answering only callers that present the shared token."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TokenRestInput:
        return cls(str((credentials or {}).get("token") or ""))

    def __init__(self, token: str = "") -> None:
        self.token = token

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = super().blueprint(on_new_message)
        expected = self.token.encode()

        @webhook.middleware("request")
        async def require_token(request: Request) -> HTTPResponse | None:
            if expected:
                scheme, _, value = request.headers.get("authorization", "").partition(" ")
                given = value.strip() if scheme.lower() == "bearer" else request.args.get("token", "")
                if not hmac.compare_digest(given.encode(), expected):
                    return response.json(
                        {"error": "a valid RASA_TOKEN is required (Authorization: Bearer)"}, status=401
                    )
            if request.method == "POST" and request.path.endswith("/webhook"):
                try:
                    log_message(request)
                except Exception:  # a log line must never cost the customer an answer
                    pass
            return None

        return webhook
