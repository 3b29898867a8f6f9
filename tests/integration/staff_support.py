"""Helpers for tests of staff pages: a gateway on a temporary SQLite file, staff accounts, signing in by the form.

Any test of a /staff/ page can use them:

    settings = use_staff_settings(monkeypatch, tmp_path)
    with TestClient(create_app()) as client:
        add_staff(settings, "editor@agency.example", "editor")
        sign_in(client, "editor@agency.example")
        token = page_csrf(client)            # the session's CSRF token, read from the page's meta tag

and on a running product (bench.stack.Stack): `with signed_in_to(stack.gateway, email) as client: ...`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from channels.settings import Settings, get_settings
from channels.staff.deps import get_staff_store
from channels.staff.passwords import hash_password
from channels.staff.store import StaffMember

PASSWORD = "correct horse battery staple"
HTML = {"Accept": "text/html,application/xhtml+xml"}
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


def use_staff_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Settings:
    """Point the gateway's settings at a fresh DATA_DIR and SQLite file under `tmp_path` (plus `env`)."""
    values = {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'assistant.db'}",
        "SYNC_WEBHOOK_TOKEN": "test-sync-token",
        "TWILIO_AUTH_TOKEN": "test-twilio-token",
        "PRIVACY_KEY": "test-privacy-key-for-staff-tests",
        "PUBLIC_BASE_URL": "http://testserver",
        **env,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


def add_staff(settings: Settings, email: str, role: str, password: str = PASSWORD) -> StaffMember:
    """Make a staff account straight in the store (what `assistant staff add` does)."""
    return get_staff_store(settings).add_staff(email, role, hash_password(password))


def login_form_token(client: httpx.Client) -> str:
    """Open the sign-in page (which sets its CSRF cookie) and return the form's token."""
    page = client.get("/staff/login", headers=HTML)
    assert page.status_code == 200, page.text
    found = _CSRF_FIELD.search(page.text)
    assert found, "the sign-in form has no csrf_token field"
    return found.group(1)


def sign_in(client: httpx.Client, email: str, password: str = PASSWORD, next_path: str = "") -> Response:
    """Fill in and send the sign-in form the way a browser does; the reply is not followed."""
    token = login_form_token(client)
    return client.post(
        "/staff/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_path},
        headers=HTML,
        follow_redirects=False,
    )


def page_csrf(client: TestClient) -> str:
    """The signed-in session's CSRF token, as the staff home page carries it in its meta tag."""
    page = client.get("/staff/", headers=HTML, follow_redirects=False)
    assert page.status_code == 200, f"not signed in: {page.status_code} {page.headers.get('location')}"
    found = _CSRF_META.search(page.text)
    assert found and found.group(1), "the staff page has no csrf-token meta tag"
    return found.group(1)


@contextmanager
def signed_in_to(gateway: str, email: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the running gateway at `gateway` through the sign-in form, as a browser is."""
    with httpx.Client(base_url=gateway, headers=HTML, timeout=60, trust_env=False) as client:
        done = sign_in(client, email, password)
        assert done.status_code == 303, done.text[:500]
        yield client
