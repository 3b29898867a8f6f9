"""The staff pages of our own: sign in, sign out, the staff home page, the audit log and staff accounts (admins)."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from channels.deps import SettingsDep
from channels.settings import Settings
from channels.staff.auth import (
    AdminStaff,
    CurrentStaff,
    NotSignedIn,
    client_address,
    get_current_session,
    safe_next,
)
from channels.staff.deps import StaffStoreDep
from channels.staff.lockout import Lockout, current_lockout
from channels.staff.pages import render_page
from channels.staff.passwords import MAX_LENGTH, hash_password, needs_rehash, spend_verify_time, verify_password
from channels.staff.sessions import (
    COOKIE_PATH,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_session_cookie,
    hash_token,
    idle_timeout,
    set_login_csrf_cookie,
    start_session,
)
from channels.staff.store import StaffMember, StaffStore, UnknownStaff, normalise_email

router = APIRouter(prefix="/staff", tags=["staff"])
FormField = Annotated[str, Form()]
BAD_CREDENTIALS = (
    "That email address and password don’t match an active staff account. Check both and try again; "
    "after a few wrong tries, sign-in is locked for a while."
)
DONE = {
    "signed_out": ("success", "You are signed out."),
    "disabled": ("success", "The account is disabled, and it was signed out everywhere."),
    "enabled": ("success", "The account is enabled again: it can sign in."),
    "not_self": ("error", "You can’t disable your own account: ask another admin."),
    "unknown": ("error", "That account no longer exists."),
}
HOME_LINKS = [
    ("/staff/review", "Review queue", "Questions the assistant could not answer, grouped, with what to do about each."),
    ("/staff/dashboard", "Dashboard", "How often the assistant answers, on each channel, and what people rate."),
    ("/staff/editor", "Editors", "Preview the answer to a question, and see which page it comes from."),
]
ADMIN_LINKS = [
    ("/staff/audit", "Audit log", "Every sign-in, sign-out, lockout and staff action."),
    ("/staff/users", "Staff accounts", "Who can sign in, with which role; disable an account."),
]


def _flashes(done: str) -> list[tuple[str, str]]:
    return [DONE[done]] if done in DONE else []


def _login_token(request: Request) -> str:
    """The sign-in form's CSRF token: the browser's cookie when it holds one of ours, else a new one."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    ours = len(token) == 43 and token.replace("-", "").replace("_", "").isalnum()
    return token if ours else secrets.token_urlsafe(32)


def _login_form(
    request: Request,
    settings: Settings,
    *,
    next_path: str,
    status_code: int = 200,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    locked: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    token = _login_token(request)
    request.state.login_csrf = token
    context = {
        "login_csrf": token,
        "next": next_path,
        "email": email,
        "error": error,
        "notice": notice,
        "locked": locked,
    }
    response = render_page(request, "staff/login.html", context, status_code=status_code, headers=headers)
    set_login_csrf_cookie(response, settings, token)
    return response


def _locked_form(
    request: Request, settings: Settings, lock: Lockout, now: datetime, next_path: str, email: str
) -> Response:
    minutes = lock.minutes_left(now)
    who = "for this account" if lock.scope == "account" else "from your network address"
    sentence = (
        f"Too many failed sign-ins {who}. Try again after {lock.until.strftime('%H:%M')} UTC "
        f"(in {minutes} minute{'s' if minutes != 1 else ''}). If you have forgotten your password, ask an admin."
    )
    seconds = max(1, int((lock.until - now).total_seconds()))
    return _login_form(
        request,
        settings,
        next_path=next_path,
        status_code=429,
        email=email,
        locked=sentence,
        headers={"Retry-After": str(seconds)},
    )


def _signed_in(request: Request, store: StaffStore, settings: Settings) -> bool:
    try:
        get_current_session(request, store, settings)
    except NotSignedIn:
        return False
    return True


@router.get("/login", response_class=HTMLResponse, summary="The staff sign-in page")
def login_page(
    request: Request, store: StaffStoreDep, settings: SettingsDep, next: str = "", ended: str = "", done: str = ""
) -> Response:
    """The sign-in form; someone already signed in goes straight on to `next`."""
    next_path = safe_next(next)
    if _signed_in(request, store, settings):
        return RedirectResponse(next_path, status_code=303)
    notice = None
    if ended:
        notice = "Your session ended (it was idle for too long, or reached its time limit). Sign in again to carry on."
    elif done == "signed_out":
        notice = DONE["signed_out"][1]
    return _login_form(request, settings, next_path=next_path, notice=notice)


def _check_password(store: StaffStore, member: StaffMember | None, password: str) -> tuple[bool, str]:
    """Whether the password is right, and the reason when not. Unknown emails take as long as known ones."""
    if member is None or len(password) > MAX_LENGTH:
        spend_verify_time(password[:MAX_LENGTH])
        return False, "unknown_email" if member is None else "too_long"
    stored = store.password_hash(member.id) or ""
    if not verify_password(stored, password):
        return False, "wrong_password"
    if needs_rehash(stored):
        store.set_password_hash(member.id, hash_password(password))
    return True, ""


@router.post("/login", summary="Sign in with email and password")
def sign_in(
    request: Request,
    store: StaffStoreDep,
    settings: SettingsDep,
    email: FormField = "",
    password: FormField = "",
    csrf_token: FormField = "",
    next: FormField = "",
) -> Response:
    """Check the form's token, the lockout, then the password; on success start a session and go to `next`."""
    next_path = safe_next(next)
    typed = email.strip()[:254]
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not csrf_token or not secrets.compare_digest(cookie.encode(), csrf_token.encode()):
        error = "The sign-in form had expired, so it was not sent. It has been reloaded: sign in again."
        return _login_form(request, settings, next_path=next_path, status_code=403, email=typed, error=error)
    if not typed or not password:
        error = "Enter both your email address and your password."
        return _login_form(request, settings, next_path=next_path, status_code=400, email=typed, error=error)
    client, now, address = client_address(request), datetime.now(UTC), normalise_email(typed)
    lock = current_lockout(store, settings, address, client, now)
    if lock is not None:
        detail = {"scope": lock.scope, "until": lock.until.isoformat()}
        store.record_audit("login.locked", staff_email=address, client=client, detail=detail)
        return _locked_form(request, settings, lock, now, next_path, typed)
    member = store.staff_by_email(address)
    ok, reason = _check_password(store, member, password)
    if ok and member is not None and member.disabled:
        store.record_audit("login.failed", staff=member, client=client, detail={"reason": "disabled"})
        error = "This staff account is disabled. Ask an admin if you need it again."
        return _login_form(request, settings, next_path=next_path, status_code=403, email=typed, error=error)
    if not ok or member is None:
        return _failed(request, store, settings, address, client, now, reason, next_path, typed)
    return _start(request, store, settings, member, client, now, next_path)


def _failed(
    request: Request,
    store: StaffStore,
    settings: Settings,
    address: str,
    client: str,
    now: datetime,
    reason: str,
    next_path: str,
    typed: str,
) -> Response:
    """Count the failure, audit it, and lock the sign-in when it was one too many."""
    store.record_failure(address, client, now)
    store.record_audit("login.failed", staff_email=address, client=client, detail={"reason": reason})
    lock = current_lockout(store, settings, address, client, now)
    if lock is not None:
        detail = {"scope": lock.scope, "until": lock.until.isoformat()}
        store.record_audit("login.lockout", staff_email=address, client=client, detail=detail)
        return _locked_form(request, settings, lock, now, next_path, typed)
    return _login_form(request, settings, next_path=next_path, status_code=400, email=typed, error=BAD_CREDENTIALS)


def _start(
    request: Request,
    store: StaffStore,
    settings: Settings,
    member: StaffMember,
    client: str,
    now: datetime,
    next_path: str,
) -> Response:
    """A new session (never the one the browser came with), then on to `next`."""
    store.clear_failures(member.email)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        store.delete_session(hash_token(old))
    store.purge_sessions(idle_timeout(settings), now)
    store.purge_failures(now - 2 * timedelta(minutes=settings.staff_lockout_minutes))
    response = RedirectResponse(next_path, status_code=303)
    start_session(store, settings, member, response, now)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)
    store.record_audit("login.ok", staff=member, client=client)
    return response


@router.post("/logout", summary="Sign out")
def sign_out(request: Request, store: StaffStoreDep, settings: SettingsDep, staff: CurrentStaff) -> Response:
    """End this session (the form's CSRF token is checked by CurrentStaff) and go back to the sign-in page."""
    store.delete_session(request.state.staff_session.token_hash)
    store.record_audit("logout", staff=staff, client=client_address(request))
    response = RedirectResponse("/staff/login?done=signed_out", status_code=303)
    clear_session_cookie(response, settings)
    return response


@router.get("/", response_class=HTMLResponse, summary="The staff home page")
def staff_home(request: Request, staff: CurrentStaff) -> Response:
    """Where staff land after signing in: a card for each staff area."""
    links = HOME_LINKS + (ADMIN_LINKS if staff.role == "admin" else [])
    return render_page(request, "staff/home.html", {"links": links})


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"“{value}” is not a date for {name}: use YYYY-MM-DD, e.g. 2026-12-01") from None


@router.get("/audit", response_class=HTMLResponse, summary="The audit log (admins)")
def audit_page(
    request: Request,
    store: StaffStoreDep,
    staff: AdminStaff,
    action: str = "",
    staff_email: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
    before: int | None = None,
) -> Response:
    """The audit log, newest first, filtered by action, staff member, target and dates (UTC), 100 a page."""
    filters = {"action": action, "staff_email": staff_email, "target": target, "since": since, "until": until}
    problem = None
    try:
        first, last = _day(since, "From"), _day(until, "To")
    except ValueError as exc:
        first = last = None
        problem = str(exc)
    entries = store.list_audit(
        action=action or None,
        staff_email=staff_email or None,
        target=target or None,
        since=datetime.combine(first, datetime.min.time(), UTC) if first else None,
        until=datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC) if last else None,
        before_id=before,
        limit=101,
    )
    older = None
    if len(entries) > 100:
        entries = entries[:100]
        older = urlencode({**{k: v for k, v in filters.items() if v}, "before": entries[-1].id})
    context: dict[str, Any] = {
        "entries": entries,
        "actions": store.audit_actions(),
        "filters": filters,
        "older": older,
        "problem": problem,
    }
    return render_page(request, "staff/audit.html", context)


@router.get("/users", response_class=HTMLResponse, summary="Staff accounts (admins)")
def users_page(request: Request, store: StaffStoreDep, staff: AdminStaff, done: str = "") -> Response:
    """Every staff account, with a button to disable or enable it."""
    context = {"members": store.list_staff(), "flashes": _flashes(done)}
    return render_page(request, "staff/users.html", context)


def _set_disabled(request: Request, store: StaffStore, staff: StaffMember, staff_id: int, disabled: bool) -> Response:
    member = store.staff_by_id(staff_id)
    if member is None:
        return RedirectResponse("/staff/users?done=unknown", status_code=303)
    if disabled and member.id == staff.id:
        return RedirectResponse("/staff/users?done=not_self", status_code=303)
    try:
        store.set_disabled(member.email, disabled)
    except UnknownStaff:
        return RedirectResponse("/staff/users?done=unknown", status_code=303)
    action = "staff.disable" if disabled else "staff.enable"
    store.record_audit(action, staff=staff, target=member.email, client=client_address(request))
    return RedirectResponse(f"/staff/users?done={'disabled' if disabled else 'enabled'}", status_code=303)


@router.post("/users/{staff_id}/disable", summary="Disable a staff account (admins)")
def disable_user(request: Request, store: StaffStoreDep, staff: AdminStaff, staff_id: int) -> Response:
    """Disable the account and end its sessions; an admin cannot disable their own."""
    return _set_disabled(request, store, staff, staff_id, True)


@router.post("/users/{staff_id}/enable", summary="Enable a staff account again (admins)")
def enable_user(request: Request, store: StaffStoreDep, staff: AdminStaff, staff_id: int) -> Response:
    """Let a disabled account sign in again."""
    return _set_disabled(request, store, staff, staff_id, False)
