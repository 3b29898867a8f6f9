"""Server-side staff sessions: the random token in the cookie, its hash in the database, and the cookie's flags."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from starlette.responses import Response

from channels.settings import Settings
from channels.staff.store import StaffMember, StaffStore

SESSION_COOKIE = "staff_session"
LOGIN_CSRF_COOKIE = "staff_login_csrf"  # the sign-in form's own token, before there is a session
COOKIE_PATH = "/staff"  # the cookies go to the staff pages only


def hash_token(token: str) -> str:
    """What the database keeps of a session token: its hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def cookie_secure(settings: Settings) -> bool:
    """Cookies carry `Secure` when the gateway is served over https (PUBLIC_BASE_URL)."""
    return settings.public_base_url.lower().startswith("https://")


def session_lifetime(settings: Settings) -> timedelta:
    """How long a session lasts at most (STAFF_SESSION_HOURS)."""
    return timedelta(hours=settings.staff_session_hours)


def idle_timeout(settings: Settings) -> timedelta:
    """How long a session may go without a request (STAFF_IDLE_MINUTES)."""
    return timedelta(minutes=settings.staff_idle_minutes)


def start_session(
    store: StaffStore, settings: Settings, staff: StaffMember, response: Response, now: datetime | None = None
) -> str:
    """Make a session for `staff`, set its cookie on `response`, and return the token (the cookie's value)."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    lifetime = session_lifetime(settings)
    store.create_session(hash_token(token), staff.id, secrets.token_urlsafe(32), now + lifetime, now=now)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        path=COOKIE_PATH,
        secure=cookie_secure(settings),
        httponly=True,
        samesite="lax",
    )
    return token


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Tell the browser to forget its session cookie."""
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, secure=cookie_secure(settings), httponly=True, samesite="lax"
    )


def set_login_csrf_cookie(response: Response, settings: Settings, token: str) -> None:
    """The sign-in form's token, also in a cookie: the form is accepted only when both match."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path=COOKIE_PATH,
        secure=cookie_secure(settings),
        httponly=True,
        samesite="strict",
    )
