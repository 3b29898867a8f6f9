"""The staff store: its own migration chain beside the channels', accounts, sessions, failures and the audit log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from channels.staff.store import (
    VERSION_TABLE,
    StaffError,
    StaffExists,
    StaffStore,
    UnknownStaff,
    current_revision,
    head_revision,
)
from channels.store import ChannelStore


@pytest.fixture
def store(tmp_path: Path) -> StaffStore:
    return StaffStore(f"sqlite:///{tmp_path / 'assistant.db'}")


def test_its_migrations_keep_their_own_version_table_beside_the_channels(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    ChannelStore(url)
    store = StaffStore(url)
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"staff_users", "staff_sessions", "login_failures", "audit_log", VERSION_TABLE} <= tables
    assert {"channels_alembic_version", "answer_events"} <= tables
    assert current_revision(store.engine) == head_revision() == "0001"
    StaffStore(url)  # already at head: nothing to do, nothing fails
    assert (tmp_path / "assistant.db.staff-migrate.lock").exists()


def test_processes_starting_at_once_all_end_at_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    errors: list[BaseException] = []

    def start() -> None:
        try:
            StaffStore(url)
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert current_revision(StaffStore(url, migrate=False).engine) == head_revision()


def test_emails_are_unique_whatever_their_case(store: StaffStore) -> None:
    member = store.add_staff(" Reviewer@Agency.example ", "reviewer", "hash")
    assert member.email == "reviewer@agency.example" and member.role == "reviewer" and not member.disabled
    with pytest.raises(StaffExists, match="already exists"):
        store.add_staff("REVIEWER@agency.example", "admin", "hash")
    with pytest.raises(StaffError, match="reviewer, editor, admin"):
        store.add_staff("other@agency.example", "owner", "hash")
    assert store.staff_by_email("reviewer@AGENCY.example") == member


def test_disabling_ends_every_session_of_the_account(store: StaffStore) -> None:
    member = store.add_staff("editor@agency.example", "editor", "hash")
    later = datetime.now(UTC) + timedelta(hours=1)
    store.create_session("a" * 64, member.id, "csrf-a", later)
    store.create_session("b" * 64, member.id, "csrf-b", later)
    assert store.count_sessions(member.id) == 2
    found = store.session("a" * 64)
    assert found is not None and found.staff.email == "editor@agency.example" and found.csrf_secret == "csrf-a"
    assert store.set_disabled("Editor@agency.example", True).disabled
    assert store.count_sessions(member.id) == 0 and store.session("a" * 64) is None
    assert not store.set_disabled("editor@agency.example", False).disabled
    with pytest.raises(UnknownStaff, match="assistant staff list"):
        store.set_disabled("nobody@agency.example", True)


def test_expired_and_idle_sessions_are_purged(store: StaffStore) -> None:
    member = store.add_staff("admin@agency.example", "admin", "hash")
    now = datetime.now(UTC)
    store.create_session("e" * 64, member.id, "x", now - timedelta(minutes=1), now=now - timedelta(hours=8))
    store.create_session("i" * 64, member.id, "x", now + timedelta(hours=4), now=now - timedelta(hours=2))
    store.create_session("f" * 64, member.id, "x", now + timedelta(hours=4), now=now)
    assert store.purge_sessions(timedelta(minutes=30), now) == 2
    assert store.session("f" * 64) is not None and store.session("i" * 64) is None


def test_failures_are_counted_per_email_and_per_address(store: StaffStore) -> None:
    now = datetime.now(UTC)
    for minutes in (20, 10, 5):
        store.record_failure("Someone@agency.example", "10.0.0.1", now - timedelta(minutes=minutes))
    store.record_failure("other@agency.example", "10.0.0.1", now)
    since = now - timedelta(minutes=15)
    assert len(store.failure_times(since, email="someone@agency.example")) == 2
    assert len(store.failure_times(since, client="10.0.0.1")) == 3
    store.clear_failures("SOMEONE@agency.example")
    assert store.failure_times(since, email="someone@agency.example") == []
    assert store.purge_failures(now - timedelta(minutes=1)) == 0  # the one left is recent


def test_the_audit_log_filters_and_pages(store: StaffStore) -> None:
    admin = store.add_staff("admin@agency.example", "admin", "hash")
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    store.record_audit("login.ok", staff=admin, client="127.0.0.1", now=start)
    store.record_audit("login.failed", staff_email="Who@agency.example", detail={"reason": "x"}, now=start)
    store.record_audit("review.status", staff=admin, target="42", detail={"status": "done"}, now=start)
    store.record_audit("logout", staff=admin, now=start + timedelta(days=1))
    assert [e.action for e in store.list_audit()] == ["logout", "review.status", "login.failed", "login.ok"]
    assert [e.action for e in store.list_audit(action="login.")] == ["login.failed", "login.ok"]
    failed = store.list_audit(staff_email="WHO@agency.example")
    assert len(failed) == 1 and failed[0].detail == {"reason": "x"} and failed[0].staff_id is None
    assert store.list_audit(target="42")[0].detail == {"status": "done"}
    assert [e.action for e in store.list_audit(since=start + timedelta(hours=1))] == ["logout"]
    assert len(store.list_audit(until=start + timedelta(hours=1))) == 3
    newest = store.list_audit(limit=2)
    assert [e.action for e in store.list_audit(before_id=newest[-1].id)] == ["login.failed", "login.ok"]
    assert store.audit_actions() == ["login.failed", "login.ok", "logout", "review.status"]
    assert newest[0].at.tzinfo is not None
