"""The gateway application: web chat, SMS, the sync API and the health check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.deps import SettingsDep, get_channel_store, get_job_store, get_rasa
from channels.editor.routes import router as editor_router
from channels.email.inbound import MAX_MESSAGE_BYTES
from channels.email.inbound import router as email_inbound_router
from channels.guards import ClientAddress, RateLimits, SecurityHeaders
from channels.observability.requests import RequestContext
from channels.observability.routes import router as metrics_router
from channels.rasa_client import is_up
from channels.retention import purge_daily
from channels.review.notices import router as review_notices_router
from channels.review.routes import router as review_router
from channels.settings import get_settings
from channels.sms.routes import router as sms_router
from channels.staff.auth import register_staff_errors
from channels.staff.deps import get_staff_store
from channels.staff.routes import router as staff_router
from channels.sync_api.routes import router as sync_router
from channels.webchat.cors import WidgetCors
from channels.webchat.routes import router as webchat_router
from channels.webchat.send import router as webchat_send_router
from content_sync.index_store import IndexStore
from content_sync.logs import configure_logging

MAX_BODY_BYTES = 64 * 1024
PATH_BODY_BYTES = {"/email/inbound": MAX_MESSAGE_BYTES}  # a raw email may be as large as the SMTP listener takes


class BodyLimit:
    """Refuse request bodies over MAX_BODY_BYTES (or the path's own cap in PATH_BODY_BYTES) with 413, by
    Content-Length or by counting a chunked body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = PATH_BODY_BYTES.get(scope.get("path", ""), MAX_BODY_BYTES)
        too_large = JSONResponse(
            {"error": f"request body is larger than {limit} bytes; send a shorter message"}, status_code=413
        )
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await too_large(scope, receive, send)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await too_large(scope, receive, send)
                    return {"type": "http.disconnect"}  # the route stops reading; its own reply is dropped
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise


def _describe(errors: list[Any]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":
            message, where = "the body is not valid JSON", "body"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def create_app() -> FastAPI:
    """Build the gateway. Settings are read when the first request needs them, not at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = get_settings()  # fails start-up on a bad setting, naming it
        get_channel_store(settings)  # run the channels' migrations to head, before any request needs the tables
        get_job_store(settings)
        get_staff_store(settings)  # the staff tables' own migrations (channels/staff/migrations), to head
        rasa = get_rasa(settings)
        rasa.open()  # one pooled HTTP client for every message to Rasa, closed at shutdown
        try:
            async with purge_daily(get_channel_store(settings), settings.retention_days):  # RETENTION_DAYS, daily
                yield
        finally:
            await rasa.aclose()

    app = FastAPI(title="Public-service assistant gateway", docs_url="/api/docs", redoc_url=None, lifespan=lifespan)
    app.add_middleware(RateLimits)  # inside BodyLimit: the chat body it reads for session_id is capped
    app.add_middleware(BodyLimit)
    app.add_middleware(WidgetCors)  # outside the refusals (413, 429), so that an embedding page can read them
    app.add_middleware(SecurityHeaders)  # nosniff, referrer policy, CSP and frame rules on every response
    app.add_middleware(ClientAddress)  # TRUSTED_PROXIES: every layer inside sees the real client address
    app.add_middleware(RequestContext)  # X-Request-ID, the request's JSON log line, reply latency (metrics)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _describe(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _describe(list(exc.detail))
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/healthz", tags=["health"])
    async def healthz(settings: SettingsDep) -> JSONResponse:
        """200 only when Rasa, the action server and a published index are all ready."""
        version = IndexStore(settings.index_dir).current_version()
        checks = {
            "rasa": await is_up(settings.rasa_url + "/"),
            "action_server": await is_up(settings.actions_url + "/health"),
            "index": version is not None,
        }
        not_ready = [name for name, ok in checks.items() if not ok]
        body: dict[str, object] = {
            "status": "ok" if not not_ready else "unavailable",
            "index_version": version,
            "checks": checks,
        }
        if not_ready:
            body["not_ready"] = not_ready
        return JSONResponse(body, status_code=503 if not_ready else 200)

    app.include_router(webchat_router)
    app.include_router(webchat_send_router)  # GET/POST /api/chat/send: "Text me this / Email me this"
    app.include_router(email_inbound_router)  # POST /email/inbound: a provider's raw messages, into the spool
    app.include_router(sms_router)
    app.include_router(sync_router)
    app.include_router(metrics_router)  # GET /metrics (docs/metrics.md)
    app.include_router(staff_router)
    app.include_router(editor_router)  # /staff/editor and /staff/dashboard
    app.include_router(review_router)  # /staff/review
    app.include_router(review_notices_router)  # GET /api/chat/notices; its lifespan runs the review loop
    register_staff_errors(app)  # sign-in redirects, 403 pages and 401 JSON for /staff/
    app.mount("/static", StaticFiles(directory=Path(__file__).resolve().parent / "static"), name="static")
    return app


def create_gateway() -> FastAPI:
    """The gateway as the Procfile serves it: every log line one JSON object (content_sync.logs), then the app."""
    configure_logging("gateway")
    return create_app()
