"""The route walk: every /staff/ route of the gateway refuses strangers, lower roles, and forms without the token.

The routes are read from `create_app()` itself, so a page another package adds under /staff/ (the review queue,
the dashboard, the editor pages) is walked as soon as it is registered. Each route's role is read back from its
dependencies (`declared_role`): a /staff/ route that asks for no staff member fails the walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from starlette.routing import Mount

from channels.app import create_app
from channels.staff.auth import ROLE_RANK, declared_role
from channels.staff.store import ROLES
from tests.integration.staff_support import HTML, add_staff, page_csrf, sign_in, use_staff_settings

pytestmark = pytest.mark.integration
PUBLIC = {"/staff/login"}  # the only /staff/ page open to anyone (the contract)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
JSON = {"Accept": "application/json"}


@dataclass(frozen=True)
class Walked:
    """One method of one /staff/ route, with a concrete URL (path parameters filled in) and its role."""

    method: str
    path: str
    url: str
    role: str


def staff_routes(app: FastAPI) -> list[Walked]:
    """Every method of every /staff/ route but the sign-in page, with the role it declares."""
    walked: list[Walked] = []
    for route in app.routes:
        path = getattr(route, "path", "")
        if path != "/staff" and not path.startswith("/staff/"):
            continue
        assert not isinstance(route, Mount), f"{path} is a mount: it cannot check staff sessions; use routes"
        assert isinstance(route, APIRoute), f"{path} is not a FastAPI route, so its role cannot be read"
        if path in PUBLIC:
            continue
        role = declared_role(route)
        assert role is not None, (
            f"{sorted(route.methods)} {path} asks for no staff member: depend on CurrentStaff or "
            "require_role(...) from channels.staff.auth"
        )
        url = route.path_format
        for name in route.param_convertors:
            url = url.replace("{" + name + "}", "1")
        walked.extend(Walked(method, path, url, role) for method in sorted(route.methods - {"HEAD", "OPTIONS"}))
    return walked


@dataclass
class Staff:
    """A signed-in client per role, on the same gateway."""

    clients: dict[str, TestClient]
    tokens: dict[str, str]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FastAPI]:
    use_staff_settings(monkeypatch, tmp_path)
    app = create_app()
    with TestClient(app):  # the lifespan runs every migration, as at start-up
        yield app


@pytest.fixture
def staff(app: FastAPI) -> Staff:
    from channels.settings import get_settings

    clients, tokens = {}, {}
    for role in ROLES:
        email = f"{role}@agency.example"
        add_staff(get_settings(), email, role)
        client = TestClient(app)
        assert sign_in(client, email).status_code == 303
        clients[role], tokens[role] = client, page_csrf(client)
    return Staff(clients, tokens)


def _send(client: TestClient, route: Walked, headers: dict[str, str], data: dict[str, str] | None = None) -> Response:
    body = data if route.method in UNSAFE else None
    return client.request(route.method, route.url, headers=headers, data=body, follow_redirects=False)


def test_the_walk_covers_the_staff_pages(app: FastAPI) -> None:
    walked = {(r.method, r.path): r.role for r in staff_routes(app)}
    assert walked[("GET", "/staff/")] == "reviewer"
    assert walked[("POST", "/staff/logout")] == "reviewer"
    assert walked[("GET", "/staff/audit")] == "admin"
    assert walked[("GET", "/staff/users")] == "admin"
    assert walked[("POST", "/staff/users/{staff_id}/disable")] == "admin"


def test_the_walk_refuses_a_staff_route_that_asks_for_no_staff(app: FastAPI) -> None:
    @app.get("/staff/leak")
    def leak() -> dict[str, str]:
        return {"questions": "all of them"}

    with pytest.raises(AssertionError, match=r"/staff/leak asks for no staff member"):
        staff_routes(app)


def test_anonymous_browsers_go_to_sign_in_and_other_clients_get_401(app: FastAPI) -> None:
    client = TestClient(app)
    for route in staff_routes(app):
        page = _send(client, route, HTML, {"csrf_token": "anything"})
        assert page.status_code == 303, f"{route.method} {route.path}: {page.status_code}"
        location = page.headers["location"]
        assert location.startswith("/staff/login?next="), f"{route.method} {route.path} went to {location}"
        api = _send(client, route, JSON, {"csrf_token": "anything"})
        assert api.status_code == 401, f"{route.method} {route.path}: {api.status_code}"
        assert "sign in at /staff/login" in api.json()["error"]


def test_lower_roles_get_the_403_page(app: FastAPI, staff: Staff) -> None:
    checked = 0
    for route in staff_routes(app):
        for role in ROLES[: ROLE_RANK[route.role]]:
            headers = {**HTML, "X-CSRF-Token": staff.tokens[role]}  # a valid form: only the role is wrong
            page = _send(staff.clients[role], route, headers, {"csrf_token": staff.tokens[role]})
            where = f"{route.method} {route.path} as {role}"
            assert page.status_code == 403, f"{where}: {page.status_code}"
            text = page.text
            assert "You don’t have access to this page" in text, where
            assert f"needs the {route.role} role" in text and f"is a {role}" in text, where
            api = _send(staff.clients[role], route, {**JSON, "X-CSRF-Token": staff.tokens[role]})
            assert api.status_code == 403 and "role" in api.json()["error"], where
            checked += 1
    assert checked >= 6  # audit, users and the two account buttons, for reviewers and editors at least


def test_forms_without_the_csrf_token_get_403_even_when_signed_in(app: FastAPI, staff: Staff) -> None:
    checked = 0
    for route in staff_routes(app):
        if route.method not in UNSAFE:
            continue
        client = staff.clients[route.role]
        where = f"{route.method} {route.path} as {route.role}"
        missing = _send(client, route, HTML, {"something": "else"})
        assert missing.status_code == 403, f"{where}: {missing.status_code}"
        assert "This form could not be accepted" in missing.text and "CSRF" in missing.text, where
        wrong = _send(
            client, route, HTML, {"csrf_token": staff.tokens["admin" if route.role != "admin" else "reviewer"]}
        )
        assert wrong.status_code == 403, f"{where} with another session's token"
        api = _send(client, route, {**JSON, "X-CSRF-Token": "not-the-token"})
        assert api.status_code == 403 and "CSRF" in api.json()["error"], where
        checked += 1
    assert checked >= 3  # logout and the two account buttons at least
    for role, client in staff.clients.items():  # nothing was done: every session is still signed in
        assert client.get("/staff/", headers=HTML, follow_redirects=False).status_code == 200, role


def test_the_right_role_gets_past_the_checks(app: FastAPI, staff: Staff) -> None:
    for route in staff_routes(app):
        if route.method in UNSAFE:
            continue
        page = _send(staff.clients[route.role], route, HTML)
        where = f"{route.method} {route.path} as {route.role}"
        assert page.status_code not in (401, 403), f"{where}: {page.status_code}"
        assert not page.headers.get("location", "").startswith("/staff/login"), where
