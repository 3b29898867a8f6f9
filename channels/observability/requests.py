"""The request id of every gateway request, its one log line, and the reply latency of the customer channels.

An incoming `X-Request-ID` is kept when it is short and safe (content_sync.logs.REQUEST_ID: 1-64 letters,
digits, `.`, `_`, `-`); otherwise a new one is made. It is bound to every log line written while the request is
served, returned as the response's `X-Request-ID`, and sent to Rasa as message metadata
(channels.rasa_client), from where the action server logs it too.

The request's log line names the route's template (`/api/sync/{job_id}`), never the path as sent, and never a
query string, a body or a header: none of them may carry personal data into a log.
"""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.observability.metrics import observe_reply
from content_sync.logs import bind_request_id, valid_request_id

HEADER = b"x-request-id"
CHANNEL_ROUTES = {("POST", "/api/chat"): "web", ("POST", "/sms/twilio"): "sms"}
NEVER_LOGGED = ("/healthz", "/static/")  # polled every second while starting (503 is an answer there), or assets
QUIET = ("/metrics",)  # scraped often: logged only when refused or failing
log = structlog.get_logger("channels.request")


def new_request_id() -> str:
    """A fresh request id: 32 hex digits."""
    return uuid.uuid4().hex


class RequestContext:
    """Pure ASGI middleware: bind the request id, time the request, write one JSON log line for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER)
        request_id = valid_request_id(given.decode("latin-1") if given else None) or new_request_id()
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id.encode())]}
            await send(message)

        with bind_request_id(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - start
                method, path = scope.get("method", ""), scope.get("path", "")
                channel = CHANNEL_ROUTES.get((method, path))
                if channel is not None and status < 400:
                    observe_reply(channel, seconds)
                route = getattr(scope.get("route"), "path", None) or ("/static" if path.startswith("/static/") else "")
                if not path.startswith(NEVER_LOGGED) and (status >= 400 or not path.startswith(QUIET)):
                    log.info(
                        "request",
                        method=method,
                        route=route or "(no route)",
                        status=status,
                        ms=round(seconds * 1000, 1),
                        **({"channel": channel} if channel else {}),
                    )
