"""Rasa's REST channel behind the shared RASA_TOKEN (loaded by Rasa in .venv-rasa: valid Python 3.10).

`rasa run --auth-token` guards only Rasa's HTTP API, never its input channels, so the stock `rest` channel
answers anyone who can reach the port, as any sender. This one is the same channel, at the same
`POST /webhooks/rest/webhook`, that refuses (401) a request without `Authorization: Bearer <RASA_TOKEN>` (or
`?token=<RASA_TOKEN>`). An empty token checks nothing: the launcher allows that only on loopback.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse


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
            if not expected:
                return None
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            given = value.strip() if scheme.lower() == "bearer" else request.args.get("token", "")
            if hmac.compare_digest(given.encode(), expected):
                return None
            return response.json({"error": "a valid RASA_TOKEN is required (Authorization: Bearer)"}, status=401)

        return webhook
