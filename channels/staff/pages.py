"""Rendering staff pages: the templates under channels/templates/staff/, with what base.html needs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from channels.staff.auth import csrf_token

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES)
templates.env.globals["csrf_token"] = csrf_token
# Staff pages hold personal data and staff-only controls: never cached, never framed, no referrer outside.
STAFF_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def render_page(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render a staff template (one that extends staff/base.html) with the staff member, the CSRF token and
    `flashes` (a list of (kind, text): kind is info, success, warning or error) in its context.
    """
    session = getattr(request.state, "staff_session", None)
    full: dict[str, Any] = {
        "staff": session.staff if session is not None else None,
        "csrf": csrf_token(request),
        "flashes": [],
        **(context or {}),
    }
    return templates.TemplateResponse(
        request, name, full, status_code=status_code, headers={**STAFF_HEADERS, **(headers or {})}
    )
