"""Security headers on every gateway response: nosniff, a referrer policy, a Content-Security-Policy without
'unsafe-inline', and who may frame the page.

Our pages (the chat demo page, staff, editor and review pages) load scripts and styles from /static/ only, so
the policy allows 'self' and nothing inline. Staff pages may not be framed at all (`frame-ancestors 'none'`
and `X-Frame-Options: DENY`); the widget's page and assets may be framed by the pages on WIDGET_ORIGINS (or the
origins of SYNC_SOURCES). FastAPI's API docs page (/api/docs) has inline scripts of its own: its policy allows
exactly those, by hash, and the Swagger UI files from the CDN FastAPI loads them from.

A header a route set itself (channels/staff/pages.py sets a stricter Referrer-Policy) is kept.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.settings import Settings, get_settings

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
)
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' https://cdn.jsdelivr.net {hashes}; style-src 'self' "
    "https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/api/docs", "/api/docs/oauth2-redirect")
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def is_widget_path(path: str) -> bool:
    """The chat demo page and the static files (the widget's script, styles and fonts)."""
    return path == "/" or path.startswith("/static/")


def frame_ancestors(settings: Settings) -> str:
    """'self' and the pages that embed the widget (WIDGET_ORIGINS, `*` for any)."""
    origins = settings.embed_origins
    return "*" if "*" in origins else " ".join(["'self'", *origins])


def policy_for(path: str, settings: Settings) -> dict[str, str]:
    """The headers a response on `path` gets unless it set them itself."""
    headers = dict(COMMON)
    if is_widget_path(path):
        headers["content-security-policy"] = PAGE_POLICY.format(ancestors=frame_ancestors(settings))
    else:
        headers["content-security-policy"] = PAGE_POLICY.format(ancestors="'none'")
        headers["x-frame-options"] = "DENY"
    return headers


def script_hashes(html: bytes) -> str:
    """CSP source expressions ('sha256-...') for every inline script in `html`."""
    digests = {base64.b64encode(hashlib.sha256(body).digest()).decode() for body in INLINE_SCRIPT.findall(html)}
    return " ".join(f"'sha256-{digest}'" for digest in sorted(digests))


class SecurityHeaders:
    """ASGI middleware adding `policy_for`'s headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        overrides = getattr(scope.get("app"), "dependency_overrides", {})
        wanted = policy_for(path, overrides.get(get_settings, get_settings)())
        if path in DOCS_PATHS:
            await self._docs(scope, receive, send, wanted)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send, wanted: dict[str, str]) -> None:
        """The docs page is small: hold it, hash its inline scripts, then send it with its policy."""
        start: Message | None = None
        body = b""

        async def holding_send(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body":
                body += message.get("body", b"")
                if message.get("more_body", False):
                    return
                assert start is not None
                headers = MutableHeaders(scope=start)
                wanted["content-security-policy"] = DOCS_POLICY.format(hashes=script_hashes(body))
                for name, value in wanted.items():
                    headers.setdefault(name, value)
                await send(start)
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, holding_send)
