"""The staff store on PostgreSQL (the scale-out profile's DATABASE_URL): migrations, racing starts, sessions, audit.

Uses the local PostgreSQL the job queue tests use (TEST_POSTGRES_URL); skipped, saying so, when there is none.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from channels.staff.store import StaffExists, StaffStore, current_revision, head_revision
from channels.store import ChannelStore
from tests.integration.conftest import fresh_postgres_database

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    with fresh_postgres_database("staff_test") as url:
        yield url


def _start_store(url: str) -> None:
    StaffStore(url)


def test_gateways_starting_at_once_leave_the_staff_tables_at_head(database_url: str) -> None:
    ChannelStore(database_url)
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_start_store, args=(database_url,)) for _ in range(3)]
    for process in processes:  # no file lock on PostgreSQL: whoever loses the race waits for head
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0, 0]
    in_threads: list[BaseException] = []

    def start() -> None:
        try:
            StaffStore(database_url)
        except BaseException as exc:  # the test reports it
            in_threads.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]  # threads of one process take turns
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not in_threads and not any(thread.is_alive() for thread in threads)
    store = StaffStore(database_url)
    assert current_revision(store.engine) == head_revision()
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"staff_users", "staff_sessions", "login_failures", "audit_log", "staff_alembic_version"} <= tables
    assert "channels_alembic_version" in tables


def test_accounts_sessions_and_audit_work_on_postgresql(database_url: str) -> None:
    store = StaffStore(database_url)
    member = store.add_staff("Admin@agency.example", "admin", "hash")
    with pytest.raises(StaffExists):
        store.add_staff("admin@AGENCY.example", "reviewer", "hash")
    now = datetime.now(UTC)
    store.create_session("t" * 64, member.id, "csrf", now + timedelta(hours=8), now=now)
    found = store.session("t" * 64)
    assert found is not None and found.staff.email == "admin@agency.example" and found.expires_at > now
    store.record_failure("admin@agency.example", "127.0.0.1", now)
    assert len(store.failure_times(now - timedelta(minutes=1), email="ADMIN@agency.example")) == 1
    store.record_audit("review.status", staff=member, target="7", detail={"status": "done", "n": 2})
    entry = store.list_audit(action="review.")[0]
    assert entry.detail == {"status": "done", "n": 2} and entry.staff_email == "admin@agency.example"
    store.set_disabled("admin@agency.example", True)
    assert store.session("t" * 64) is None
