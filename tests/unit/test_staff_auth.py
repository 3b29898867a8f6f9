"""Staff auth pieces on their own: where `next` may lead, how a lockout is timed, and how roles are declared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute

from channels.staff.auth import (
    AdminStaff,
    CurrentStaff,
    EditorStaff,
    declared_role,
    require_role,
    safe_next,
)
from channels.staff.lockout import Lockout, _locked_until
from channels.staff.store import StaffMember


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/staff/review?status=new", "/staff/review?status=new"),
        ("/staff/", "/staff/"),
        ("", "/staff/"),
        ("https://evil.example/staff/", "/staff/"),
        ("//evil.example/staff", "/staff/"),
        ("/\\evil.example", "/staff/"),
        ("/staff\\..\\x", "/staff/"),
        ("javascript:alert(1)", "/staff/"),
        ("/api/chat", "/staff/"),
        ("/staff/\r\nSet-Cookie: x=1", "/staff/"),
        ("/staff/login?next=/staff/login", "/staff/"),
        ("/staff/logout", "/staff/"),
    ],
)
def test_next_may_only_be_a_local_staff_path(given: str, expected: str) -> None:
    assert safe_next(given) == expected


def test_a_lockout_lasts_its_window_after_the_failure_that_made_it() -> None:
    window = timedelta(minutes=15)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    spread = [start + timedelta(minutes=m) for m in (0, 3, 6, 9, 14)]
    assert _locked_until(spread, 5, window) == start + timedelta(minutes=29)
    assert _locked_until(spread[:4], 5, window) is None
    apart = [start + timedelta(minutes=m) for m in (0, 3, 6, 9, 30)]  # the first ones fell out of the window
    assert _locked_until(apart, 5, window) is None
    lock = Lockout("account", start + timedelta(minutes=29))
    assert lock.minutes_left(start + timedelta(minutes=14)) == 15
    assert lock.minutes_left(start + timedelta(minutes=28, seconds=50)) == 1


def test_each_route_declares_the_role_it_needs() -> None:
    router = APIRouter()

    @router.get("/staff/any")
    def any_staff(staff: CurrentStaff) -> None:
        return None

    @router.get("/staff/edit")
    def edit(staff: EditorStaff) -> None:
        return None

    @router.post("/staff/admin", dependencies=[Depends(require_role("admin"))])
    def admin_only() -> None:
        return None

    @router.get("/staff/both")
    def both(staff: CurrentStaff, admin: AdminStaff) -> None:
        return None

    @router.get("/staff/either")
    def either(staff: Annotated[StaffMember, Depends(require_role("editor", "admin"))]) -> None:
        return None

    @router.get("/staff/open")
    def open_page() -> None:
        return None

    roles = {route.path: declared_role(route) for route in router.routes if isinstance(route, APIRoute)}
    assert roles == {
        "/staff/any": "reviewer",
        "/staff/edit": "editor",
        "/staff/admin": "admin",
        "/staff/both": "admin",
        "/staff/either": "editor",
        "/staff/open": None,
    }


def test_unknown_roles_are_refused_when_the_route_is_written() -> None:
    with pytest.raises(ValueError, match="reviewer, editor, admin"):
        require_role("superuser")
    with pytest.raises(ValueError):
        require_role()
