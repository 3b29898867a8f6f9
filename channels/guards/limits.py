"""Rate limits, kept by the `limits` library in memory or in Redis (RATE_LIMIT_STORAGE, else REDIS_URL).

Every limit is a moving window of one minute: at most N requests in any 60 s. What is counted:

| route | per client address (RATE_LIMIT_PER_CLIENT) | per conversation (RATE_LIMIT_PER_SESSION) |
|---|---|---|
| `POST /api/chat` | every request | the body's `session_id` (a new conversation has none yet) |
| `POST /staff/login` | every request (the account lockout in channels/staff/lockout.py stays) | |
| `POST /sms/twilio` | requests refused for a wrong signature (403) | the `From` number, once signed (sms/routes.py) |
| `POST /email/inbound` | requests refused for a wrong token (401) | the email process limits replies per sender |

The two provider webhooks count only refused requests per address: Twilio and a mail provider post every
customer's message from a few addresses of their own, so counting those would limit the whole channel, not
one client. A forged flood is still cut off before its signatures or tokens are checked.

Past a limit the reply is 429 with `Retry-After` and `{"error": "... try again in N s"}` (TwiML for SMS, a page
for the staff sign-in form).
`0` turns a limit off. The identifiers (addresses, session ids, numbers) are keyed by a hash with PRIVACY_KEY,
so the storage, Redis included, holds no personal data. If the storage cannot be reached the request is let
through and the failure logged (at most once a minute): a rate limit must not take the service down.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass

from fastapi.responses import HTMLResponse, JSONResponse, Response
from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.settings import Settings, get_settings
from channels.sms.service import twiml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A request over a limit: the error sentence and the whole seconds until one more is accepted."""

    error: str
    retry_after: int


class Limiter:
    """Moving-window limits over one storage; `hit` counts a request and says whether it was over."""

    def __init__(self, storage_url: str, secret: str) -> None:
        self.storage_url = storage_url
        self._secret = secret.encode()
        if storage_url == "memory://":
            storage: Storage = storage_from_string("async+memory://")  # type: ignore[assignment]
        else:
            storage = storage_from_string(  # type: ignore[assignment]
                "async+" + storage_url,
                implementation="redispy",
                key_prefix="assistant-limits",
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
            )
        self.storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self._failed_at = 0.0

    def _key(self, identifier: str) -> str:
        return hashlib.blake2b(identifier.encode("utf-8", "replace"), key=self._secret[:64], digest_size=16).hexdigest()

    async def hit(self, name: str, identifier: str, per_minute: int) -> int | None:
        """Count one request for `identifier` under limit `name`; None if it is within `per_minute`, else the
        seconds until it would be. A limit of 0 counts nothing.
        """
        if per_minute <= 0:
            return None
        item = RateLimitItemPerMinute(per_minute, namespace=name)
        key = self._key(identifier)
        try:
            if await self._strategy.hit(item, key):
                return None
            stats = await self._strategy.get_window_stats(item, key)
        except Exception as exc:  # the storage is down: let the request through, and say so
            self._storage_failed(exc)
            return None
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def over(self, name: str, identifier: str, per_minute: int) -> int | None:
        """Like `hit`, without counting: the seconds to wait if `identifier` is already at the limit."""
        if per_minute <= 0:
            return None
        item = RateLimitItemPerMinute(per_minute, namespace=name)
        key = self._key(identifier)
        try:
            if await self._strategy.test(item, key):
                return None
            stats = await self._strategy.get_window_stats(item, key)
        except Exception as exc:
            self._storage_failed(exc)
            return None
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def aclose(self) -> None:
        """Close the storage's Redis connections (memory storage holds none)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

    def _storage_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._failed_at > 60:
            self._failed_at = now
            log.error(
                "rate limits: the storage (RATE_LIMIT_STORAGE) failed (%s: %s); requests are let through "
                "unlimited until it answers again",
                type(exc).__name__,
                exc,
            )


def limiter_for(app: object, settings: Settings) -> Limiter:
    """The app's limiter for its settings' storage (made at first use, kept on `app.state`)."""
    state = getattr(app, "state", None)
    limiter: Limiter | None = getattr(state, "rate_limiter", None) if state is not None else None
    if limiter is None or limiter.storage_url != settings.limits_storage:
        limiter = Limiter(settings.limits_storage, settings.privacy_key.get_secret_value())
        if state is not None:
            state.rate_limiter = limiter
    return limiter


def _settings(scope: Scope) -> Settings:
    overrides = getattr(scope.get("app"), "dependency_overrides", {})
    settings: Settings = overrides.get(get_settings, get_settings)()
    return settings


def refused(name: str, per_minute: int, wait: int) -> Refusal:
    """The sentence for a request over limit `name`."""
    what = {
        "client": f"at most {per_minute} requests a minute are accepted from one network address",
        "session": f"at most {per_minute} messages a minute are accepted in one conversation",
    }[name]
    return Refusal(f"too many requests: {what}; try again in {wait} s", wait)


def json_refusal(refusal: Refusal) -> Response:
    """429 with the contract's JSON error and Retry-After."""
    return JSONResponse({"error": refusal.error}, status_code=429, headers={"Retry-After": str(refusal.retry_after)})


def sms_refusal(refusal: Refusal) -> Response:
    """429 in TwiML, so that a refused text still gets a readable reply."""
    text = f"You've sent too many messages. Please try again in {refusal.retry_after} seconds."
    return Response(
        twiml([text]), status_code=429, media_type="text/xml", headers={"Retry-After": str(refusal.retry_after)}
    )


LOGIN_REFUSAL = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Too many sign-in attempts</title><link rel="stylesheet" href="/static/uswds/css/uswds.min.css"></head>
<body><main id="main-content" class="usa-section"><div class="grid-container">
<h1>Too many sign-in attempts</h1>
<div class="usa-alert usa-alert--warning" role="alert"><div class="usa-alert__body">
<p class="usa-alert__text">Too many sign-in attempts came from your network address. Please wait {wait} seconds,
then <a class="usa-link" href="/staff/login">open the sign-in page again</a>. If you have forgotten your password,
ask an admin.</p></div></div>
</div></main></body>
</html>
"""


def login_refusal(refusal: Refusal) -> Response:
    """429 as a page: staff meet this limit in a browser, on the sign-in form."""
    return HTMLResponse(
        LOGIN_REFUSAL.format(wait=refusal.retry_after),
        status_code=429,
        headers={"Retry-After": str(refusal.retry_after)},
    )


# (method, path) -> (limit name, the statuses that count against the address; empty: every request counts)
ROUTES: dict[tuple[str, str], tuple[str, tuple[int, ...]]] = {
    ("POST", "/api/chat"): ("chat", ()),
    ("POST", "/staff/login"): ("login", ()),
    ("POST", "/sms/twilio"): ("sms", (403,)),
    ("POST", "/email/inbound"): ("email", (401,)),
}


class RateLimits:
    """ASGI middleware for the per-client limits of ROUTES and the per-session limit of `POST /api/chat`.

    It sits inside BodyLimit, so the chat body it reads for `session_id` is already capped; it hands the same
    bytes on to the route.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = ROUTES.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        name, refused_statuses = route
        settings = _settings(scope)
        limiter = limiter_for(scope.get("app"), settings)
        client = scope["client"][0] if scope.get("client") else "unknown"
        per_client = settings.rate_limit_per_client
        answer = {"sms": sms_refusal, "login": login_refusal}.get(name, json_refusal)
        if refused_statuses:  # a provider's webhook: only refused requests count against the address
            wait = await limiter.over(f"{name}-refused-client", client, per_client)
            if wait is not None:
                await answer(refused("client", per_client, wait))(scope, receive, send)
                return
            status = 0

            async def watching_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, receive, watching_send)
            if status in refused_statuses:
                await limiter.hit(f"{name}-refused-client", client, per_client)
            return
        wait = await limiter.hit(f"{name}-client", client, per_client)
        if wait is not None:
            await answer(refused("client", per_client, wait))(scope, receive, send)
            return
        if name != "chat" or not settings.rate_limit_per_session:
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away, or BodyLimit refused the body
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        session = _session_id(body)
        if session is not None:
            wait = await limiter.hit("chat-session", session, settings.rate_limit_per_session)
            if wait is not None:
                await answer(refused("session", settings.rate_limit_per_session, wait))(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _session_id(body: bytes) -> str | None:
    """The chat body's session_id, if it is a plausible one (the route validates it properly)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    session = data.get("session_id") if isinstance(data, dict) else None
    return session if isinstance(session, str) and 0 < len(session) <= 128 else None
