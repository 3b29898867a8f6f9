"""Signing in and out of the staff pages: cookies, lockout, session expiry, disabled accounts and the audit log.

The gateway is the real app (`create_app()`) on a SQLite file in tmp_path, driven by Starlette's TestClient the
way a browser posts the forms. Time-based behaviour runs with short settings and real waiting, not fake clocks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from channels.app import create_app
from channels.settings import Settings, get_settings
from channels.staff.auth import AuditDep, EditorStaff
from channels.staff.deps import get_staff_store
from channels.staff.sessions import SESSION_COOKIE, hash_token
from tests.integration.staff_support import (
    HTML,
    PASSWORD,
    add_staff,
    login_form_token,
    page_csrf,
    sign_in,
    use_staff_settings,
)

pytestmark = pytest.mark.integration
ADMIN = "admin@agency.example"
REVIEWER = "reviewer@agency.example"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


@pytest.fixture
def open_gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Start the gateway with these settings (e.g. STAFF_IDLE_MINUTES="0.04"); https when PUBLIC_BASE_URL is."""
    with ExitStack() as running:

        def start(**env: str) -> TestClient:
            use_staff_settings(monkeypatch, tmp_path, **env)
            secure = env.get("PUBLIC_BASE_URL", "").startswith("https")
            client = TestClient(create_app(), base_url="https://testserver" if secure else "http://testserver")
            return running.enter_context(client)

        yield start
    get_settings.cache_clear()


@pytest.fixture
def gateway(open_gateway: Callable[..., TestClient]) -> TestClient:
    """The gateway with the default staff settings."""
    return open_gateway()


def settings() -> Settings:
    return get_settings()


def set_cookie_headers(response: Response) -> dict[str, str]:
    """Each Set-Cookie header of the response, by cookie name."""
    headers = response.headers.get_list("set-cookie")
    return {value.split("=", 1)[0]: value for value in headers}


def actions(email: str | None = None) -> list[str]:
    """The audit log's actions, oldest first (for `email` only, when given)."""
    return [e.action for e in reversed(get_staff_store(settings()).list_audit(staff_email=email))]


def test_the_sign_in_page_is_a_uswds_page_without_inline_code(gateway: TestClient) -> None:
    page = gateway.get("/staff/login", headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="en">' in html and '<main id="main-content"' in html
    assert '<a class="usa-skipnav" href="#main-content">Skip to main content</a>' in html
    assert '<link rel="stylesheet" href="/static/uswds/css/uswds.min.css">' in html
    assert html.rstrip().endswith('<script src="/static/uswds/js/uswds.min.js"></script>\n</body>\n</html>')
    assert '<label class="usa-label" for="email">Email address</label>' in html
    assert '<label class="usa-label" for="password">Password</label>' in html
    assert 'autocomplete="current-password"' in html and 'name="csrf_token"' in html
    assert not INLINE_SCRIPT.search(html) and " style=" not in html and "<style" not in html
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
    assert "Review queue" not in html  # no staff navigation before signing in


def test_signing_in_and_out(gateway: TestClient) -> None:
    add_staff(settings(), ADMIN, "admin")
    signed_in = sign_in(gateway, "  Admin@Agency.example ")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/staff/"
    cookie = set_cookie_headers(signed_in)[SESSION_COOKIE]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/staff" in cookie
    assert "Max-Age=28800" in cookie and "Secure" not in cookie  # 8 hours; plain http
    token = gateway.cookies[SESSION_COOKIE]
    stored = get_staff_store(settings()).session(hash_token(token))
    assert stored is not None and stored.staff.email == ADMIN and stored.csrf_secret != token

    home = gateway.get("/staff/", headers=HTML)
    assert home.status_code == 200 and f"Welcome, {ADMIN}" in home.text and "You are signed in as an admin" in home.text
    for link in ("/staff/review", "/staff/dashboard", "/staff/editor", "/staff/audit", "/staff/users"):
        assert f'href="{link}"' in home.text
    assert not INLINE_SCRIPT.search(home.text) and " style=" not in home.text
    assert gateway.get("/staff/login", headers=HTML, follow_redirects=False).headers["location"] == "/staff/"

    out = gateway.post("/staff/logout", data={"csrf_token": page_csrf(gateway)}, headers=HTML, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/staff/login?done=signed_out"
    assert 'staff_session=""' in set_cookie_headers(out)[SESSION_COOKIE]
    assert get_staff_store(settings()).session(hash_token(token)) is None
    assert "You are signed out." in gateway.get(out.headers["location"], headers=HTML).text
    stolen = TestClient(gateway.app, cookies={SESSION_COOKIE: token})  # the old cookie is worth nothing now
    assert stolen.get("/staff/", headers=HTML, follow_redirects=False).status_code == 303
    assert actions(ADMIN) == ["login.ok", "logout"]
    entry = get_staff_store(settings()).list_audit(action="login.ok")[0]
    assert entry.client == "testclient" and entry.staff_id == stored.staff.id


def test_cookies_are_secure_when_the_gateway_is_served_over_https(open_gateway: Callable[..., TestClient]) -> None:
    gateway = open_gateway(PUBLIC_BASE_URL="https://staff.agency.example")
    add_staff(settings(), ADMIN, "admin")
    login = gateway.get("/staff/login", headers=HTML)
    assert "Secure" in set_cookie_headers(login)["staff_login_csrf"]
    signed_in = sign_in(gateway, ADMIN)
    cookie = set_cookie_headers(signed_in)[SESSION_COOKIE]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert gateway.get("/staff/", headers=HTML).status_code == 200


def test_sign_in_returns_to_the_page_asked_for_and_only_to_a_local_one(gateway: TestClient) -> None:
    add_staff(settings(), ADMIN, "admin")
    asked = gateway.get("/staff/audit?action=login.ok", headers=HTML, follow_redirects=False)
    assert asked.status_code == 303
    login_page = gateway.get(asked.headers["location"], headers=HTML)
    assert 'name="next" value="/staff/audit?action=login.ok"' in login_page.text
    back = sign_in(gateway, ADMIN, next_path="/staff/audit?action=login.ok")
    assert back.headers["location"] == "/staff/audit?action=login.ok"
    gateway.cookies.clear()
    assert sign_in(gateway, ADMIN, next_path="https://evil.example/staff/").headers["location"] == "/staff/"
    gateway.cookies.clear()
    assert sign_in(gateway, ADMIN, next_path="//evil.example/").headers["location"] == "/staff/"


def test_the_sign_in_form_needs_its_own_token(gateway: TestClient) -> None:
    add_staff(settings(), ADMIN, "admin")
    forged = gateway.post("/staff/login", data={"email": ADMIN, "password": PASSWORD}, headers=HTML)
    assert forged.status_code == 403 and "The sign-in form had expired" in forged.text
    login_form_token(gateway)
    wrong = gateway.post(
        "/staff/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": "x" * 43}, headers=HTML
    )
    assert wrong.status_code == 403 and SESSION_COOKIE not in gateway.cookies
    assert "login.ok" not in actions()


def test_five_wrong_passwords_lock_the_account_and_the_page_says_until_when(gateway: TestClient) -> None:
    add_staff(settings(), REVIEWER, "reviewer")
    for attempt in range(4):
        wrong = sign_in(gateway, REVIEWER, "not the password at all")
        assert wrong.status_code == 400, attempt
        assert "don’t match an active staff account" in wrong.text and f'value="{REVIEWER}"' in wrong.text
    locked = sign_in(gateway, REVIEWER, "not the password at all")
    assert locked.status_code == 429
    assert re.search(
        r"Too many failed sign-ins for this account\. Try again after \d\d:\d\d UTC \(in 15 minutes\)", locked.text
    )
    assert 880 <= int(locked.headers["retry-after"]) <= 900
    refused = sign_in(gateway, REVIEWER)  # even the right password, while locked
    assert refused.status_code == 429 and SESSION_COOKIE not in gateway.cookies
    assert actions(REVIEWER) == ["login.failed"] * 5 + ["login.lockout", "login.locked"]
    reasons = {e.detail.get("reason") for e in get_staff_store(settings()).list_audit(action="login.failed")}
    assert reasons == {"wrong_password"}
    assert "Try again after" not in sign_in(gateway, "someone.else@agency.example", "wrong password!").text


def test_unknown_emails_lock_the_same_way_so_the_lockout_reveals_nothing(gateway: TestClient) -> None:
    for _ in range(4):
        assert sign_in(gateway, "nobody@agency.example", "not the password at all").status_code == 400
    locked = sign_in(gateway, "nobody@agency.example", "not the password at all")
    assert locked.status_code == 429 and "for this account" in locked.text
    failed = get_staff_store(settings()).list_audit(action="login.failed")
    assert {e.detail["reason"] for e in failed} == {"unknown_email"}


def test_one_address_trying_many_emails_is_locked_out(open_gateway: Callable[..., TestClient]) -> None:
    gateway = open_gateway(STAFF_LOGIN_MAX_FAILURES_PER_CLIENT="3")
    add_staff(settings(), ADMIN, "admin")
    assert sign_in(gateway, "a@agency.example", "not the password at all").status_code == 400
    assert sign_in(gateway, "b@agency.example", "not the password at all").status_code == 400
    locked = sign_in(gateway, "c@agency.example", "not the password at all")
    assert locked.status_code == 429 and "from your network address" in locked.text
    assert sign_in(gateway, ADMIN).status_code == 429  # any account, from this address


def test_a_lockout_ends_when_it_said(open_gateway: Callable[..., TestClient]) -> None:
    gateway = open_gateway(STAFF_LOCKOUT_MINUTES="0.05", STAFF_LOGIN_MAX_FAILURES="2")
    add_staff(settings(), REVIEWER, "reviewer")
    sign_in(gateway, REVIEWER, "not the password at all")
    locked = sign_in(gateway, REVIEWER, "not the password at all")
    assert locked.status_code == 429 and "(in 1 minute)" in locked.text
    assert sign_in(gateway, REVIEWER).status_code == 429
    time.sleep(int(locked.headers["retry-after"]) + 0.2)
    assert sign_in(gateway, REVIEWER).status_code == 303
    assert get_staff_store(settings()).failure_times(time_ago(60), email=REVIEWER) == []  # forgotten on success


def time_ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def test_an_idle_session_ends(open_gateway: Callable[..., TestClient]) -> None:
    gateway = open_gateway(STAFF_IDLE_MINUTES="0.04")
    add_staff(settings(), REVIEWER, "reviewer")
    sign_in(gateway, REVIEWER)
    assert gateway.get("/staff/", headers=HTML).status_code == 200
    token = gateway.cookies[SESSION_COOKIE]
    time.sleep(2.6)
    ended = gateway.get("/staff/review", headers=HTML, follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"] == "/staff/login?next=/staff/review&ended=1"
    assert get_staff_store(settings()).session(hash_token(token)) is None
    assert "Your session ended" in gateway.get(ended.headers["location"], headers=HTML).text


def test_a_session_ends_at_its_time_limit_even_when_busy(open_gateway: Callable[..., TestClient]) -> None:
    gateway = open_gateway(STAFF_SESSION_HOURS="0.0008")  # 2.88 s, however busy the session is
    add_staff(settings(), REVIEWER, "reviewer")
    signed_in = sign_in(gateway, REVIEWER)
    assert "Max-Age=2;" in set_cookie_headers(signed_in)[SESSION_COOKIE]
    token = gateway.cookies[SESSION_COOKIE]
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert gateway.get("/staff/", headers=HTML).status_code == 200
        time.sleep(0.5)
    time.sleep(1.2)
    stale = TestClient(gateway.app, cookies={SESSION_COOKIE: token})  # as if the browser kept the cookie
    assert stale.get("/staff/", headers=HTML, follow_redirects=False).status_code == 303
    assert get_staff_store(settings()).session(hash_token(token)) is None


def test_admins_disable_an_account_and_its_sessions_end(gateway: TestClient) -> None:
    add_staff(settings(), ADMIN, "admin")
    reviewer = add_staff(settings(), REVIEWER, "reviewer")
    other = TestClient(gateway.app)
    sign_in(other, REVIEWER)
    assert other.get("/staff/", headers=HTML).status_code == 200
    sign_in(gateway, ADMIN)
    users = gateway.get("/staff/users", headers=HTML)
    assert users.status_code == 200 and REVIEWER in users.text and "This is you" in users.text
    token = page_csrf(gateway)
    done = gateway.post(f"/staff/users/{reviewer.id}/disable", data={"csrf_token": token}, headers=HTML)
    assert "The account is disabled, and it was signed out everywhere." in done.text
    assert '<span class="usa-tag bg-secondary-dark">Disabled</span>' in done.text
    assert other.get("/staff/", headers=HTML, follow_redirects=False).status_code == 303
    refused = sign_in(other, REVIEWER)
    assert refused.status_code == 403 and "This staff account is disabled" in refused.text
    admin = get_staff_store(settings()).staff_by_email(ADMIN)
    assert admin is not None
    itself = gateway.post(f"/staff/users/{admin.id}/disable", data={"csrf_token": token}, headers=HTML)
    assert "You can’t disable your own account" in itself.text
    again = gateway.post(f"/staff/users/{reviewer.id}/enable", data={"csrf_token": token}, headers=HTML)
    assert "The account is enabled again" in again.text
    assert sign_in(other, REVIEWER).status_code == 303
    entry = get_staff_store(settings()).list_audit(action="staff.disable")[0]
    assert entry.staff_email == ADMIN and entry.target == REVIEWER


def test_the_audit_page_filters_entries(gateway: TestClient) -> None:
    add_staff(settings(), ADMIN, "admin")
    sign_in(gateway, "stranger@agency.example", "not the password at all")
    sign_in(gateway, ADMIN)
    everything = gateway.get("/staff/audit", headers=HTML)
    assert (
        everything.status_code == 200
        and "login.failed" in everything.text
        and "stranger@agency.example" in everything.text
    )
    failed = gateway.get("/staff/audit", params={"action": "login.failed"}, headers=HTML)
    rows = re.findall(r"<tr>\s*<th scope=\"row\"", failed.text)
    assert len(rows) == 1 and "reason: unknown_email" in failed.text and "<code>login.ok</code>" not in failed.text
    mine = gateway.get("/staff/audit", params={"staff_email": ADMIN}, headers=HTML)
    assert "<code>login.ok</code>" in mine.text and "stranger@agency.example</td>" not in mine.text
    bad = gateway.get("/staff/audit", params={"since": "yesterday"}, headers=HTML)
    assert bad.status_code == 200 and "is not a date for From: use YYYY-MM-DD" in bad.text
    future = gateway.get("/staff/audit", params={"since": "2999-01-01"}, headers=HTML)
    assert "No entries match." in future.text
    assert not INLINE_SCRIPT.search(everything.text) and " style=" not in everything.text


def test_scripts_get_json_errors_not_pages(gateway: TestClient) -> None:
    anonymous = gateway.get("/staff/audit", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401 and anonymous.json() == {
        "error": "sign in at /staff/login first: this needs a staff session"
    }
    add_staff(settings(), REVIEWER, "reviewer")
    sign_in(gateway, REVIEWER)
    forbidden = gateway.get("/staff/audit", headers={"Accept": "application/json"})
    assert forbidden.status_code == 403 and "needs the admin role" in forbidden.json()["error"]


def test_other_staff_packages_audit_through_the_dependency(open_gateway: Callable[..., TestClient]) -> None:
    gateway = open_gateway()  # a route of another package's, as it would write it
    app = gateway.app
    assert isinstance(app, FastAPI)

    @app.post("/staff/test-publish")
    def publish(staff: EditorStaff, audit: AuditDep) -> dict[str, int]:
        return {"entry": audit("editor.publish", target="page:42", pages=3)}

    add_staff(settings(), "editor@agency.example", "editor")
    sign_in(gateway, "editor@agency.example")
    token = page_csrf(gateway)
    assert gateway.post("/staff/test-publish", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    done = gateway.post("/staff/test-publish", headers={"X-CSRF-Token": token, "Accept": "application/json"})
    assert done.status_code == 200
    entry = get_staff_store(settings()).list_audit(action="editor.publish")[0]
    assert entry.id == done.json()["entry"] and entry.staff_email == "editor@agency.example"
    assert entry.target == "page:42" and entry.detail == {"pages": 3} and entry.client == "testclient"
