"""Who is signed in, with which role, and whether a form is theirs: the dependencies every staff route uses.

    CurrentStaff        the signed-in staff member (Annotated dependency). Without a valid session: a 303 to
                        /staff/login?next=... for a browser (Accept: text/html), else 401 JSON. On POST, PUT,
                        PATCH and DELETE it also checks the CSRF token, so no staff form can go without it.
    require_role(*r)    a dependency factory: the staff member when their role is at least the lowest of `r`
                        (reviewer < editor < admin), else the 403 page. `Depends(require_role("editor"))`;
                        EditorStaff and AdminStaff are the Annotated aliases for the two higher roles.
    CsrfDep / CsrfCheck the CSRF check on its own, as a parameter (`_: CsrfDep`) or in `dependencies=[CsrfCheck]`:
                        the form field `csrf_token`, or the `X-CSRF-Token` header, must be the session's token.
    csrf_token(request) the token for a template's hidden field (`<input type="hidden" name="csrf_token" ...>`).
    AuditDep            an `Auditor` that writes to the audit log as the signed-in staff member, from their address.

Every route under /staff/ other than the sign-in page must depend on CurrentStaff or require_role: the route walk
in tests/integration/test_staff_routes.py reads each route's role with `declared_role` and checks it is enforced.

Errors (all StaffAuthError): NotSignedIn (303 or 401), WrongRole (403), CsrfRejected (403). `register_staff_errors`
installs their handlers on the app.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from channels.deps import SettingsDep
from channels.staff.deps import StaffStoreDep
from channels.staff.sessions import SESSION_COOKIE, clear_session_cookie, hash_token, idle_timeout
from channels.staff.store import ROLES, StaffMember, StaffSession, StaffStore

ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often per session
LOGIN_PATH = "/staff/login"
HOME_PATH = "/staff/"


class StaffAuthError(Exception):
    """A staff request refused before its route ran."""

    status_code = 403


class NotSignedIn(StaffAuthError):
    """No session, or it ended (`ended` is True when there was one: expired, idle or disabled)."""

    status_code = 401

    def __init__(self, ended: bool = False) -> None:
        super().__init__("sign in at /staff/login first: this needs a staff session")
        self.ended = ended


class WrongRole(StaffAuthError):
    """Signed in, but the role is below what the route needs."""

    def __init__(self, needed: str, staff: StaffMember) -> None:
        super().__init__(
            f"this page needs the {needed} role, and {staff.email} is a {staff.role}; ask an admin if you need access"
        )
        self.needed = needed
        self.staff = staff


class CsrfRejected(StaffAuthError):
    """An unsafe request without the session's CSRF token."""

    def __init__(self) -> None:
        super().__init__(
            "this form is missing its security token or it is out of date (CSRF check): "
            "go back, reload the page and send it again"
        )


def client_address(request: Request) -> str:
    """The client address (channels/guards/address.py: X-Forwarded-For counts only from TRUSTED_PROXIES)."""
    return request.client.host if request.client else "unknown"


def wants_html(request: Request) -> bool:
    """True for a browser page load or form post (Accept names text/html)."""
    return "text/html" in request.headers.get("accept", "")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: `value` when it is a local staff path, else the staff home page."""
    if not value or any(ord(ch) < 0x20 or ch == "\\" for ch in value):
        return HOME_PATH
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/staff") or value.startswith("//"):
        return HOME_PATH
    if parts.path in (LOGIN_PATH, "/staff/logout"):  # back to the sign-in page would go round in circles
        return HOME_PATH
    return value


def _ended(found: StaffSession, now: datetime, idle: timedelta) -> bool:
    return now >= found.expires_at or now - found.last_seen_at >= idle or found.staff.disabled


def get_current_session(request: Request, store: StaffStoreDep, settings: SettingsDep) -> StaffSession:
    """The request's valid staff session (kept on `request.state.staff_session`), else NotSignedIn."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotSignedIn()
    found = store.session(hash_token(token))
    if found is None:
        raise NotSignedIn(ended=True)
    now = datetime.now(UTC)
    if _ended(found, now, idle_timeout(settings)):
        store.delete_session(found.token_hash)
        raise NotSignedIn(ended=True)
    if now - found.last_seen_at >= TOUCH_EVERY:
        store.touch_session(found.token_hash, now)
    request.state.staff_session = found
    return found


SessionDep = Annotated[StaffSession, Depends(get_current_session)]


async def check_csrf(request: Request, session: StaffSession) -> None:
    """Refuse (CsrfRejected) an unsafe request whose `csrf_token` form field or `X-CSRF-Token` header is not
    the session's token. Safe methods pass.
    """
    if request.method not in UNSAFE_METHODS or getattr(request.state, "csrf_checked", False):
        return
    given: Any = request.headers.get("x-csrf-token")
    content_type = request.headers.get("content-type", "")
    if not given and content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        given = (await request.form()).get("csrf_token")
    if not isinstance(given, str) or not secrets.compare_digest(given.encode(), session.csrf_secret.encode()):
        raise CsrfRejected()
    request.state.csrf_checked = True


async def get_current_staff(request: Request, session: SessionDep) -> StaffMember:
    """The signed-in staff member, whatever their role; unsafe methods must carry the CSRF token too."""
    await check_csrf(request, session)
    return session.staff


CurrentStaff = Annotated[StaffMember, Depends(get_current_staff)]


async def require_csrf(request: Request, session: SessionDep) -> None:
    """The CSRF check on its own (CurrentStaff does it too)."""
    await check_csrf(request, session)


CsrfDep = Annotated[None, Depends(require_csrf)]
CsrfCheck = Depends(require_csrf)


REQUIRED_ROLE: dict[Callable[..., Any], str] = {get_current_staff: ROLES[0]}
"""Each staff dependency and the lowest role it lets in: how `declared_role` (and the route walk) reads a route."""


def require_role(*roles: str) -> Callable[..., Any]:
    """A dependency for routes that need one of `roles` (or a higher one): `Depends(require_role("editor"))`.
    It gives the signed-in staff member; a lower role gets the 403 page (WrongRole).
    """
    unknown = [role for role in roles if role not in ROLE_RANK]
    if not roles or unknown:
        raise ValueError(f"require_role needs roles from {', '.join(ROLES)}, got {roles!r}")
    needed = min(roles, key=ROLE_RANK.__getitem__)

    async def has_role(staff: CurrentStaff) -> StaffMember:
        if ROLE_RANK[staff.role] < ROLE_RANK[needed]:
            raise WrongRole(needed, staff)
        return staff

    has_role.__name__ = f"require_{needed}"
    REQUIRED_ROLE[has_role] = needed
    return has_role


EditorStaff = Annotated[StaffMember, Depends(require_role("editor"))]
AdminStaff = Annotated[StaffMember, Depends(require_role("admin"))]


def _roles_in(dependant: Dependant) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        if sub.call in REQUIRED_ROLE:
            found.append(REQUIRED_ROLE[sub.call])
        found.extend(_roles_in(sub))
    return found


def declared_role(route: APIRoute) -> str | None:
    """The lowest role the route lets in (its strictest requirement), or None when it asks for no staff at all."""
    roles = _roles_in(route.dependant)
    return max(roles, key=ROLE_RANK.__getitem__) if roles else None


def csrf_token(request: Request) -> str:
    """The token a template puts in its forms' hidden `csrf_token` field ("" outside a staff session)."""
    session = getattr(request.state, "staff_session", None)
    if session is not None:
        return str(session.csrf_secret)
    return str(getattr(request.state, "login_csrf", ""))


@dataclass(frozen=True)
class Auditor:
    """Writes audit entries as `staff`, from `client`: `audit("review.status", target="42", status="done")`."""

    store: StaffStore
    staff: StaffMember
    client: str

    def __call__(self, action: str, target: str | None = None, **detail: Any) -> int:
        """Record `action` (dotted, e.g. "review.status") on `target`, with `detail` as its JSON detail."""
        return self.store.record_audit(action, staff=self.staff, target=target, detail=detail, client=self.client)


def get_auditor(request: Request, store: StaffStoreDep, staff: CurrentStaff) -> Auditor:
    """The signed-in staff member's Auditor."""
    return Auditor(store, staff, client_address(request))


AuditDep = Annotated[Auditor, Depends(get_auditor)]


def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
    response: Response
    if wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        next_path = safe_next(target) if request.method == "GET" else HOME_PATH
        query = f"?next={quote(next_path, safe='/')}" + ("&ended=1" if exc.ended else "")
        response = RedirectResponse(LOGIN_PATH + query, status_code=303)
    else:
        response = JSONResponse({"error": str(exc)}, status_code=exc.status_code)
    if request.cookies.get(SESSION_COOKIE):
        from channels.settings import get_settings

        clear_session_cookie(response, get_settings())
    return response


def _refused(request: Request, exc: StaffAuthError) -> Response:
    if not wants_html(request):
        return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
    from channels.staff.pages import render_page

    context: Mapping[str, Any] = {"message": str(exc), "csrf_failure": isinstance(exc, CsrfRejected)}
    if isinstance(exc, WrongRole):
        context = {**context, "needed": exc.needed}
    return render_page(request, "staff/forbidden.html", context, status_code=exc.status_code)


async def handle_staff_error(request: Request, exc: Exception) -> Response:
    """The reply for a refused staff request: a redirect to sign in, a 403 page, or JSON for non-browsers."""
    if isinstance(exc, NotSignedIn):
        return _not_signed_in(request, exc)
    assert isinstance(exc, StaffAuthError)
    return _refused(request, exc)


def register_staff_errors(app: FastAPI) -> None:
    """Install the staff errors' handler on the app (create_app does it)."""
    handler: Callable[..., Any] = handle_staff_error
    app.add_exception_handler(StaffAuthError, handler)
