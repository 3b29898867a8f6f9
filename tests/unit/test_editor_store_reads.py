"""The reads the editors' pages make: transcript turns since a day, ratings per day, the review queue's gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from channels.answers import Answer, AnswerEvent
from channels.editor.changes import top_questions
from channels.editor.gaps import count_gaps
from channels.review.store import Candidate, ReviewStore
from channels.store import ChannelStore

KEY = "test-privacy-key-0123456789"
URL = "http://site.test/appeals.html"


def store_in(tmp_path: Path) -> ChannelStore:
    return ChannelStore(f"sqlite:///{tmp_path / 'assistant.db'}", privacy_key=KEY)


def test_messages_since_gives_whole_turns_oldest_first_and_top_questions_reads_them(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    now = datetime.now(UTC)
    good = Answer(
        text="Ask within 30 days. Call (555) 010-0199.",
        answered=True,
        source_url=URL,
        index_version="v1",
        kind="answer",
    )
    store.record_turn("web", "web:s1", "How do I appeal?", [good], now - timedelta(days=40))  # too old
    store.record_turn("web", "web:s2", "how do I appeal", [good], now - timedelta(days=2))
    store.record_turn(
        "sms", "sms:+15550104477", "How do I appeal? My number is 555-010-4477", [good], now - timedelta(days=1)
    )
    rows = store.messages_since(now - timedelta(days=30))
    assert [(r["direction"], r["channel"]) for r in rows] == [
        ("in", "web"),
        ("out", "web"),
        ("in", "sms"),
        ("out", "sms"),
    ]
    assert all(r["created_at"].tzinfo is not None for r in rows)
    assert "555-010-4477" not in rows[2]["text"]  # the transcript is redacted
    (top, *rest) = top_questions(rows)
    assert top.key == "how do i appeal" and top.count == 1 and top.before is not None
    assert top.before.source_url == URL and top.before.answered
    assert [q.count for q in rest] == [1]  # the redacted SMS question is its own question


def test_question_counts_leave_out_greetings_thanks_and_ratings(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    good = Answer(text="Ask within 30 days.", answered=True, source_url=URL, index_version="v1", kind="answer")
    unknown = Answer(text="I don't know.", kind="answer", reason="no_match", index_version="v1")
    hello = Answer(text="Hello! Ask me about our services.")
    thanks = Answer(text="Thanks for telling us.", kind="feedback", reason="feedback", index_version="v1")
    store.record_turn("web", "web:s1", "hi", [hello])
    store.record_turn("web", "web:s1", "How do I appeal?", [good])
    store.record_turn("web", "web:s1", '/feedback{"helpful": "yes"}', [thanks])
    store.record_turn("web", "web:s2", "hi, can I pay rent with EBT?", [hello, unknown])
    store.record_turn("sms", "sms:+15550104477", "How do I appeal?", [good])
    today = datetime.now(UTC).date().isoformat()
    assert store.question_counts(7) == [
        {"day": today, "channel": "sms", "messages": 1, "answered": 1},
        {"day": today, "channel": "web", "messages": 2, "answered": 1},
    ]
    assert {r["channel"]: r["messages"] for r in store.message_counts(7)} == {"web": 4, "sms": 1}  # every message


def test_ratings_count_helpful_and_not_helpful_per_day(tmp_path: Path) -> None:
    store = store_in(tmp_path)

    def rating(helpful: bool) -> AnswerEvent:
        return AnswerEvent("web", "web:s1", "/feedback", "feedback", "feedback", "en", "v1", helpful=helpful)

    store.record_events([rating(True), rating(True), rating(False)])
    store.record_events([AnswerEvent("web", "web:s1", "what?", "answer", "no_match", "en", "v1")])
    today = datetime.now(UTC).date().isoformat()
    assert store.ratings(7) == [{"day": today, "helpful": 2, "not_helpful": 1}]
    assert store.ratings(7, now=datetime.now(UTC) + timedelta(days=30)) == []


def test_cluster_timeline_lists_new_and_resolved_clusters(tmp_path: Path) -> None:
    review = ReviewStore(f"sqlite:///{tmp_path / 'assistant.db'}")
    now = datetime.now(UTC)
    candidates = [
        Candidate(
            event_id=i,
            created_at=now,
            channel="web",
            signal="unanswered",
            question=q,
            question_key=f"k{i}",
            conversation="c",
            reason="no_match",
        )
        for i, q in enumerate(["Can I pay rent with EBT?", "Is there a food bank?"], start=1)
    ]
    assert review.ingest(review.bookmark()[0], 2, candidates) == 2
    items = review.unclustered()
    vectors = {item.id: np.eye(4, dtype=np.float32)[n] for n, item in enumerate(items)}
    placed = review.place_items(vectors, model="test-model")
    first, second = sorted(set(placed.values()))
    review.set_status(first, "closed", "editor@agency.example")
    timeline = review.cluster_timeline(now - timedelta(days=1))
    assert [(row["id"], row["status"]) for row in timeline] == [(first, "closed"), (second, "new")]
    assert all(row["created_at"].tzinfo is not None for row in timeline)
    opened, closed, median = count_gaps(timeline, now - timedelta(days=1))
    assert sum(opened.values()) == 2 and sum(closed.values()) == 1 and median is not None and median < 0.01
    assert review.cluster_timeline(now + timedelta(days=1)) == []
