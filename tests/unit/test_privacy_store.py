"""The channel store keeps no raw personal data: redaction and hashing on write, SMS rows cleaned once answered,
transcripts that join up, and the retention purge."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from channels.answers import Answer, AnswerEvent
from channels.cli import main
from channels.email.listener import Spool
from channels.privacy import hash_sender, pseudonym
from channels.settings import get_settings
from channels.store import ChannelStore, answer_events, messages, sms_messages, sms_opt_outs

KEY = "test-privacy-key-0123456789"
PHONE = "+15550104477"
QUESTION = "How do I appeal? my phone is 555-867-5309 and my email is ana.ruiz@example.org"
REDACTED = "How do I appeal? my phone is [PHONE] and my email is [EMAIL]"


def store_in(tmp_path: Path) -> ChannelStore:
    return ChannelStore(f"sqlite:///{tmp_path / 'assistant.db'}", privacy_key=KEY)


def every_value(store: ChannelStore, *tables: sa.Table) -> str:
    """Every stored value of these tables, as one string to search."""
    with store.engine.connect() as conn:
        return "\n".join(str(v) for t in tables for row in conn.execute(sa.select(t)) for v in row)


def answered(text: str = "You can appeal within 30 days.") -> Answer:
    return Answer(
        text=text,
        answered=True,
        source_url="http://127.0.0.1:8080/appeals.html",
        source_title="Appeals",
        index_version="v7",
        kind="answer",
        lang="en",
        chunk_digest="d1g35t",
    )


def test_answer_events_are_stored_redacted_and_hashed(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    sender = pseudonym(KEY, "sms", PHONE)
    event = AnswerEvent("sms", sender, QUESTION, "feedback", "feedback", "en", "v1", False, QUESTION, None, None, None)
    assert store.record_events([event]) == 1
    (row,) = store.recent_events()
    assert row["question"] == REDACTED and row["about_question"] == REDACTED
    assert row["conversation"] == hash_sender(KEY, sender) == store.conversation_key(sender)
    stored = every_value(store, answer_events)
    assert "555-867-5309" not in stored and "ana.ruiz" not in stored and "5550104477" not in stored


def test_a_turn_is_kept_redacted_and_one_customer_s_turns_join_up(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    sender = pseudonym(KEY, "sms", PHONE)
    assert store.record_turn("sms", sender, QUESTION, [answered("Call us at (555) 010-4400.")]) == 2
    assert store.record_turn("sms", sender, "thanks", [Answer(text="You're welcome!")]) == 2
    store.record_turn("web", "web:someone-else", "hello", [Answer(text="Hi!")])
    conversation = store.conversation_key(sender)
    rows = store.transcript(conversation)
    assert [(r["direction"], r["text"]) for r in rows] == [
        ("in", REDACTED),
        ("out", "Call us at [PHONE]."),
        ("in", "thanks"),
        ("out", "You're welcome!"),
    ]
    first_in, first_out = rows[0], rows[1]
    assert first_in["answered"] is True and first_in["kind"] is None and first_in["index_version"] == "v7"
    assert (first_out["kind"], first_out["source_url"], first_out["chunk_digest"]) == (
        "answer",
        "http://127.0.0.1:8080/appeals.html",
        "d1g35t",
    )
    assert rows[3]["answered"] is False and rows[3]["chunk_digest"] is None
    assert {r["channel"] for r in rows} == {"sms"} and all(r["created_at"].tzinfo for r in rows)
    assert "5550104477" not in every_value(store, messages)


def test_the_dashboard_counts_messages_per_day_and_channel(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    today = datetime.now(UTC)
    yesterday = today - timedelta(days=1)
    store.record_turn("web", "web:a", "q1", [answered()], now=today)
    store.record_turn("web", "web:a", "q2", [Answer(text="I don't know", kind="answer")], now=today)
    store.record_turn("sms", "sms:x", "q3", [answered()], now=yesterday)
    store.record_turn("web", "web:b", "q4", [answered()], now=today - timedelta(days=40))  # outside the window
    counts = store.message_counts(days=30, now=today)
    assert counts == [
        {"day": today.date().isoformat(), "channel": "web", "messages": 2, "answered": 1, "answered_rate": 0.5},
        {"day": yesterday.date().isoformat(), "channel": "sms", "messages": 1, "answered": 1, "answered_rate": 1.0},
    ]
    latest = store.recent_messages(limit=2, direction="in")
    assert [m["text"] for m in latest] == ["q4", "q3"]  # by id: the order they were written
    assert [m["text"] for m in store.recent_messages(channel="sms")] == ["You can appeal within 30 days.", "q3"]


def test_an_answered_sms_keeps_neither_the_number_nor_the_raw_body(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    assert store.claim_sms("SM1", PHONE, QUESTION, "+15005550006")
    row = store.sms_message("SM1")
    assert row is not None and row["sender"] == PHONE and row["body"] == QUESTION  # still owed an answer
    store.save_sms_reply("SM1", "<Response/>", "pending")
    assert store.sms_message("SM1")["sender"] == PHONE  # type: ignore[index]
    store.set_sms_state("SM1", "sent", '["the answer"]')
    row = store.sms_message("SM1")
    assert row is not None and row["state"] == "sent"
    assert row["sender"] == row["sender_hash"] == store.number_key(PHONE)
    assert row["body"] == REDACTED and row["answer_text"] == '["the answer"]'
    store.set_sms_state("SM1", "sent")  # again: nothing left to hash or redact, nothing breaks
    assert store.sms_message("SM1")["sender"] == store.number_key(PHONE)  # type: ignore[index]
    assert store.claim_sms("SM2", PHONE, "STOP")
    store.save_sms_reply("SM2", "<Response/>", "replied")
    assert "5550104477" not in every_value(store, sms_messages)


def test_the_rate_limit_counts_one_number_across_answered_and_pending_messages(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    for sid in ("SM1", "SM2", "SM3"):
        store.claim_sms(sid, PHONE, "q")
    store.save_sms_reply("SM1", "<Response/>", "replied")  # its sender is a hash now
    store.claim_sms("SM9", "+15550109999", "q")
    assert len(store.recent_sms_times(PHONE, 60, exclude_sid="SM3")) == 2
    assert len(store.recent_sms_times("+15550109999", 60)) == 1


def test_opt_outs_are_kept_as_hashes_and_old_raw_ones_still_count(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    store.set_opted_out(PHONE, True)
    assert store.is_opted_out(PHONE) and not store.is_opted_out("+15550109999")
    assert PHONE not in every_value(store, sms_opt_outs)
    with store.engine.begin() as conn:  # a row written before migration 0004
        conn.execute(sms_opt_outs.insert().values(phone="+15550108888", opted_out_at=datetime.now(UTC)))
    assert store.is_opted_out("+15550108888")
    store.set_opted_out("+15550108888", False)
    assert not store.is_opted_out("+15550108888")
    store.set_opted_out(PHONE, False)
    assert not store.is_opted_out(PHONE)


def test_the_purge_deletes_what_is_older_than_retention_and_keeps_the_rest(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=91), now - timedelta(days=89)
    for when, tag in ((old, "old"), (recent, "new")):
        store.record_turn("web", f"web:{tag}", f"{tag} question", [Answer(text="reply")], now=when)
        store.claim_sms(f"SM-{tag}", PHONE, f"{tag} sms", now=when)
    store.record_events([AnswerEvent("web", "web:x", "q", "answer", "no_match", "en", "v1")])
    with store.engine.begin() as conn:
        conn.execute(answer_events.update().values(created_at=old))
    store.record_events([AnswerEvent("web", "web:y", "kept", "answer", "no_match", "en", "v1")])
    store.set_opted_out(PHONE, True)
    with store.engine.begin() as conn:
        conn.execute(sms_opt_outs.update().values(opted_out_at=old))

    counts = store.purge_older_than(90, now=now)

    assert {k: counts[k] for k in ("messages", "answer_events", "sms_messages")} == {
        "messages": 2,
        "answer_events": 1,
        "sms_messages": 1,
    }
    assert [m["text"] for m in store.recent_messages()] == ["reply", "new question"]
    assert [e["question"] for e in store.recent_events()] == ["kept"]
    assert store.sms_message("SM-old") is None and store.sms_message("SM-new") is not None
    assert store.is_opted_out(PHONE), "a STOP is honoured however old it is"
    assert not any(store.purge_older_than(90, now=now).values())


def test_the_spool_purge_deletes_old_finished_mail_only(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "mail")
    for where, name in (("done", "old.json"), ("failed", "old.eml"), ("done", "new.json")):
        (spool.root / where / name).write_text("{}")
    waiting = spool.put(b"Subject: hi\r\n\r\nstill waiting", "a@example.org")
    long_ago = (datetime.now(UTC) - timedelta(days=100)).timestamp()
    for path in (spool.root / "done" / "old.json", spool.root / "failed" / "old.eml"):
        os.utime(path, (long_ago, long_ago))
    assert spool.purge_older_than(90) == 2
    assert sorted(p.name for p in (spool.root / "done").iterdir()) == ["new.json"]
    assert spool.waiting() == [waiting]


def test_assistant_purge_deletes_old_rows_and_says_how_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'assistant.db'}",
        "SYNC_WEBHOOK_TOKEN": "test-sync-token",
        "TWILIO_AUTH_TOKEN": "test-twilio-token",
        "PRIVACY_KEY": KEY,
        "RETENTION_DAYS": "90",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    store = store_in(tmp_path)
    now = datetime.now(UTC)
    store.record_turn("web", "web:a", "forty days ago", [], now=now - timedelta(days=40))
    store.record_turn("web", "web:a", "today", [], now=now)
    try:
        assert main(["purge"]) == 0  # RETENTION_DAYS=90: both stay
        assert "0 from messages" in capsys.readouterr().out
        assert main(["purge", "--days", "30"]) == 0
        assert "1 from messages, 0 from answer_events, 0 from sms_messages" in capsys.readouterr().out
        assert [m["text"] for m in store.recent_messages()] == ["today"]
        with pytest.raises(SystemExit):
            main(["purge", "--days", "0"])
    finally:
        get_settings.cache_clear()
