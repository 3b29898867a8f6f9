"""The channels' store: its alembic migrations on SQLite, and the answer events it records."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from channels.answers import AnswerEvent
from channels.store import VERSION_TABLE, ChannelStore, current_revision, head_revision, metadata, upgrade_database
from content_sync.jobs import JobStore, get_engine
from tests.conftest import ROOT

KEY = "test-privacy-key-0123456789"


def url_in(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'assistant.db'}"


def event(**changes: object) -> AnswerEvent:
    base = AnswerEvent(
        channel="web",
        conversation="web:s1",
        question="how do I appeal?",
        kind="answer",
        reason="no_match",
        lang="en",
        index_version="v1",
    )
    return AnswerEvent(**{**base.__dict__, **changes})


def test_migrations_make_the_tables_in_an_empty_sqlite_file(tmp_path: Path) -> None:
    url = url_in(tmp_path)
    assert not (tmp_path / "assistant.db").exists()
    upgrade_database(url)
    engine = get_engine(url)
    tables = {"sms_messages", "sms_opt_outs", "answer_events", "messages", VERSION_TABLE}
    assert tables <= set(sa.inspect(engine).get_table_names())  # later migrations add their own tables
    assert current_revision(engine) == head_revision() and int(head_revision() or 0) >= 4


def test_migrations_match_the_tables_the_store_uses(tmp_path: Path) -> None:
    url = url_in(tmp_path)
    upgrade_database(url)
    with get_engine(url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    url = url_in(tmp_path)
    first = ChannelStore(url, privacy_key=KEY)
    first.record_events([event()])
    upgrade_database(url)
    second = ChannelStore(url, privacy_key=KEY)
    assert [e["question"] for e in second.recent_events()] == ["how do I appeal?"]
    with get_engine(url).connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar() == 1


def test_processes_starting_at_once_all_migrate_safely(tmp_path: Path) -> None:
    url = url_in(tmp_path)
    code = f"from channels.store import upgrade_database; upgrade_database({url!r})"
    processes = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], errors
    assert current_revision(get_engine(url)) == head_revision()


def test_a_database_from_before_migrations_keeps_its_sms(tmp_path: Path) -> None:
    url = url_in(tmp_path)
    engine = get_engine(url)
    with engine.begin() as conn:  # what ChannelStore's create_all made before there were migrations
        conn.execute(
            sa.text(
                "CREATE TABLE sms_messages (message_sid VARCHAR(64) PRIMARY KEY, sender VARCHAR(64) NOT NULL, "
                "body TEXT NOT NULL, reply_twiml TEXT, received_at DATETIME NOT NULL)"
            )
        )
        conn.execute(sa.text("INSERT INTO sms_messages VALUES ('SM1', '+1555', 'hi', '<Response/>', '2026-01-01')"))
    store = ChannelStore(url, privacy_key=KEY)
    assert store.sms_reply("SM1") == "<Response/>"
    assert not store.claim_sms("SM1", "+1555", "hi")
    assert current_revision(engine) == head_revision()


def test_the_sync_job_table_lives_beside_the_channels_tables(tmp_path: Path) -> None:
    url = url_in(tmp_path)
    jobs = JobStore(url)
    job_id = jobs.enqueue()
    ChannelStore(url, privacy_key=KEY)
    assert "sync_jobs" in sa.inspect(get_engine(url)).get_table_names()
    assert jobs.enqueue() == job_id  # still there, still queued


def test_events_round_trip_newest_first(tmp_path: Path) -> None:
    store = ChannelStore(url_in(tmp_path), privacy_key=KEY)
    before = datetime.now(UTC) - timedelta(seconds=1)
    rated = event(
        channel="sms",
        conversation="sms:+15550104477",
        question='/feedback{"helpful": "yes"}',
        kind="feedback",
        reason="feedback",
        index_version="v2",
        helpful=True,
        about_question="how do I appeal?",
        about_source_url="http://127.0.0.1:8080/appeals.html",
        about_chunk_digest="d1g35t",
        about_index_version="v1",
    )
    assert store.record_events([event(), event(kind="clarify", reason="clarify")]) == 2
    assert store.record_events([rated]) == 1
    assert store.record_events([]) == 0
    rows = store.recent_events()
    assert [r["reason"] for r in rows] == ["feedback", "clarify", "no_match"]
    newest = rows[0]
    stored = rated.__dict__ | {"conversation": store.conversation_key("sms:+15550104477")}
    assert {k: newest[k] for k in rated.__dict__} == stored
    assert newest["created_at"].tzinfo is not None and newest["created_at"] >= before
    assert rows[0]["id"] > rows[1]["id"] > rows[2]["id"]
    assert [r["channel"] for r in store.recent_events(channel="web")] == ["web", "web"]
    assert len(store.recent_events(conversation=store.conversation_key("sms:+15550104477"))) == 1
    assert len(store.recent_events(limit=1)) == 1


def test_a_long_value_is_cut_to_its_column(tmp_path: Path) -> None:
    store = ChannelStore(url_in(tmp_path), privacy_key=KEY)
    assert store.record_events([event(index_version="v" * 500, question="q" * 5000)]) == 1
    (row,) = store.recent_events()
    assert row["index_version"] == "v" * 64 and row["question"] == "q" * 5000


def test_a_failed_write_is_logged_and_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = ChannelStore(url_in(tmp_path), migrate=False, privacy_key=KEY)  # no tables: every insert fails
    with caplog.at_level(logging.ERROR, logger="channels.store"):
        assert store.record_events([event()]) == 0
    assert "could not record 1 answer event(s) from web" in caplog.text
