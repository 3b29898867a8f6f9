"""The review queue: which answer events become items, merging and clustering, statuses, the closed loop's
bookkeeping, customers to tell, and the CSV. Real SQLite files, the real embedding model.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from channels.answers import AnswerEvent, answers_from_rasa
from channels.review.export import COLUMNS, write_csv
from channels.review.ingest import candidate_from, cluster_pending, ingest_new, normalise
from channels.review.loop import confident_answer
from channels.review.store import VERSION_TABLE, ReviewError, ReviewStore, head_revision
from channels.store import ChannelStore
from content_sync.settings import DEFAULT_MODEL
from tests.unit.test_answers import PAYLOAD, not_answered

KEY = "test-privacy-key-0123456789"
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def event(question: str, kind: str = "answer", reason: str | None = "no_match", **extra: Any) -> dict[str, Any]:
    """An answer_events row as ChannelStore.events_since gives it."""
    return {
        "id": extra.pop("id", 1),
        "created_at": extra.pop("created_at", NOW),
        "channel": extra.pop("channel", "web"),
        "conversation": "c0ffee" * 10 + "abcd",
        "question": question,
        "kind": kind,
        "reason": reason,
        "lang": "en",
        "index_version": "v1",
        "helpful": None,
        "about_question": None,
        "about_source_url": None,
        "about_chunk_digest": None,
        "about_index_version": None,
        **extra,
    }


@pytest.fixture
def stores(tmp_path: Path) -> tuple[ChannelStore, ReviewStore]:
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    return ChannelStore(url, privacy_key=KEY), ReviewStore(url)


def record(channels: ChannelStore, *questions: str, channel: str = "web", sender: str = "web:s-1", **kw: Any) -> None:
    kind, reason = kw.pop("kind", "answer"), kw.pop("reason", "no_match")
    events = [AnswerEvent(channel, sender, q, kind, reason, "en", "v1", **kw) for q in questions]
    assert channels.record_events(events) == len(events)


# --- which events become items ------------------------------------------------------------------------------


def test_unanswered_questions_ratings_of_not_helpful_and_handoffs_become_candidates() -> None:
    unanswered = candidate_from(event("How do I renew my driver's license?", reason="out_of_scope"))
    assert unanswered and (unanswered.signal, unanswered.reason) == ("unanswered", "out_of_scope")
    rated = candidate_from(
        event(
            '/feedback{"helpful": "no"}',
            kind="feedback",
            reason="feedback",
            helpful=False,
            about_question="How do I appeal?",
            about_source_url="http://127.0.0.1/appeals.html",
            about_chunk_digest="d1",
            about_index_version="v0",
        )
    )
    assert rated and (rated.signal, rated.question, rated.reason) == ("not_helpful", "How do I appeal?", "not_helpful")
    assert (rated.rated_chunk_digest, rated.index_version) == ("d1", "v0")
    handoff = candidate_from(event("I want to talk to a person", kind="handoff", reason="handoff"))
    assert handoff and handoff.signal == "handoff"


@pytest.mark.parametrize(
    "row",
    [
        event("burial help", kind="clarify", reason="clarify"),
        event('/feedback{"helpful": "yes"}', kind="feedback", reason="feedback", helpful=True, about_question="q?"),
        event("1"),
        event("2."),
        event("12"),
        event(""),
        event("   "),
        event('/feedback{"helpful": "no"}'),
    ],
    ids=["clarify", "helpful", "choice-1", "choice-2", "number", "empty", "blank", "payload"],
)
def test_clarifications_helpful_ratings_and_choice_picks_are_not_items(row: dict[str, Any]) -> None:
    assert candidate_from(row) is None


def test_questions_are_redacted_even_when_the_channel_stored_them_raw() -> None:
    found = candidate_from(event("What is the airspeed of an unladen swallow? my phone is 555-867-5309"))
    assert found is not None
    assert "unladen swallow" in found.question and "555-867-5309" not in found.question
    assert "[PHONE]" in found.question


def test_identical_questions_once_normalised_share_a_key() -> None:
    assert normalise("How do I renew my  LICENSE?!") == normalise("how do i renew my license")
    assert normalise("¿Cuándo llega mi pago?") == normalise("cuándo llega mi pago")
    assert normalise("how do i renew my license") != normalise("how do i renew my licence")


# --- ingestion ------------------------------------------------------------------------------------------------


def test_ingestion_merges_repeats_into_one_item_with_a_count_per_channel(
    stores: tuple[ChannelStore, ReviewStore],
) -> None:
    channels, review = stores
    record(channels, "Is there a summer meals program for kids?", "is there a summer meals program for kids", "1")
    record(channels, "Is there a summer meals program for kids?", channel="sms", sender="sms:abc")
    record(channels, "hello there", kind="text", reason=None)  # never recorded by the channels, ignored anyway
    assert ingest_new(channels, review) == 5
    items = {(i.channel, i.count) for i in review.items()}
    assert items == {("web", 2), ("sms", 1)}
    web = next(i for i in review.items() if i.channel == "web")
    assert web.question == "Is there a summer meals program for kids?"  # the first wording seen
    assert web.conversation == channels.conversation_key("web:s-1")  # a keyed hash, never the session id
    assert ingest_new(channels, review) == 0  # the bookmark: nothing is taken twice
    assert {i.count for i in review.items()} == {2, 1}


def test_two_ingesters_at_once_take_each_event_once(stores: tuple[ChannelStore, ReviewStore], tmp_path: Path) -> None:
    channels, _ = stores
    record(channels, *[f"question number {n} about benefits" for n in range(60)])
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    reviews = [ReviewStore(url, migrate=False) for _ in range(4)]
    threads = [threading.Thread(target=ingest_new, args=(channels, r)) for r in reviews]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = reviews[0].items()
    assert len(items) == 60 and {i.count for i in items} == {1}


def test_the_bookmark_goes_back_when_event_ids_start_again(stores: tuple[ChannelStore, ReviewStore]) -> None:
    channels, review = stores
    record(channels, "first question about food assistance")
    ingest_new(channels, review)
    with channels.engine.begin() as conn:  # the retention purge emptied the table; SQLite reuses its ids
        conn.execute(sa.text("DELETE FROM answer_events"))
    record(channels, "second question about cash assistance")
    ingest_new(channels, review)
    assert sorted(i.question for i in review.items()) == [
        "first question about food assistance",
        "second question about cash assistance",
    ]


def test_the_review_tables_keep_their_own_version_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    ChannelStore(url, privacy_key=KEY)
    ReviewStore(url)
    with sa.create_engine(url).connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        revision = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    assert {"review_items", "review_clusters", "review_notes", "review_notifications"} <= tables
    assert {"channels_alembic_version", VERSION_TABLE, "answer_events"} <= tables
    assert revision == head_revision()


# --- clustering -------------------------------------------------------------------------------------------


def test_paraphrases_cluster_together_and_other_programmes_do_not(stores: tuple[ChannelStore, ReviewStore]) -> None:
    channels, review = stores
    meals = [
        "Is there a summer meals program for kids?",
        "do you have free lunches for children in the summer",
        "Where can my kids get free meals over the summer break?",
    ]
    licence = ["How do I renew my driver's license?", "where do i go to renew my drivers licence"]
    record(channels, meals[0], licence[0], meals[1])
    record(channels, licence[1], meals[2], channel="sms", sender="sms:abc")
    ingest_new(channels, review)
    assert cluster_pending(review, DEFAULT_MODEL) == 5
    by_question = {i.question: i.cluster_id for i in review.items()}
    assert len({by_question[q] for q in meals}) == 1
    assert len({by_question[q] for q in licence}) == 1
    assert by_question[meals[0]] != by_question[licence[0]]
    rows: dict[int | None, Any] = {c.id: c for c in review.clusters()}
    meals_row = rows[by_question[meals[0]]]
    assert meals_row.count == 3 and meals_row.per_channel == {"web": 2, "sms": 1}
    assert meals_row.examples[0] in meals and meals_row.items == 3


# --- statuses ------------------------------------------------------------------------------------------------


def clustered(stores: tuple[ChannelStore, ReviewStore], *questions: str) -> int:
    channels, review = stores
    record(channels, *questions)
    ingest_new(channels, review)
    cluster_pending(review, DEFAULT_MODEL)
    (cluster,) = review.clusters()
    return cluster.id


def test_a_cluster_moves_new_to_needs_content_to_closed_and_its_items_follow(
    stores: tuple[ChannelStore, ReviewStore],
) -> None:
    _, review = stores
    cid = clustered(stores, "Is there a summer meals program for kids?")
    with pytest.raises(ReviewError, match="assign it"):
        review.set_status(cid, "needs_content", "r@agency.example")
    with pytest.raises(ReviewError, match="not to answered_by_update"):
        review.set_status(cid, "answered_by_update", "r@agency.example")
    assert review.assign(cid, "https://agency.example/benefits/summer-meals.html", "r@agency.example") == (
        "new",
        "needs_content",
    )
    (item,) = review.items(cid)
    assert (item.status, item.assigned_to) == ("needs_content", "https://agency.example/benefits/summer-meals.html")
    assert review.set_status(cid, "wont_fix", "r@agency.example") == ("needs_content", "wont_fix")
    with pytest.raises(ReviewError, match="set its status to new"):
        review.assign(cid, "e@agency.example", "r@agency.example")
    review.set_status(cid, "new", "r@agency.example")
    assert [i.status for i in review.items(cid)] == ["new"]
    notes = [n.text for n in review.notes(cid)]
    assert notes[0].startswith("Assigned to https://agency.example/benefits/summer-meals.html")
    assert "Status: needs_content → wont_fix." in notes


def test_the_loop_answers_items_and_the_cluster_once_none_is_open(stores: tuple[ChannelStore, ReviewStore]) -> None:
    channels, review = stores
    cid = clustered(stores, "Is there a summer meals program for kids?", "is there a summer food program for kids")
    review.assign(cid, "editor@agency.example", "r@agency.example")
    first, second = review.items_to_reask("v2")
    assert review.items_to_reask("v1") == []  # unanswered at v1 already: nothing to ask again there
    reply = [{"custom": PAYLOAD | {"index_version": "v2"}}]
    assert review.mark_answered(first.id, PAYLOAD["source_url"], "v2", reply)
    assert not review.mark_answered(first.id, PAYLOAD["source_url"], "v2", reply)  # once
    assert review.cluster(cid).status == "needs_content"  # type: ignore[union-attr]
    review.mark_reasked(second.id, "v2")
    assert [i.id for i in review.items_to_reask("v2")] == []
    review.mark_answered(second.id, PAYLOAD["source_url"], "v3", reply)
    assert review.cluster(cid).status == "answered_by_update"  # type: ignore[union-attr]
    answered = review.item(first.id)
    assert answered and (answered.answered_by_url, answered.answered_in_version) == (PAYLOAD["source_url"], "v2")
    assert any(n.author == "assistant" and "in index version v2" in n.text for n in review.notes(cid))
    # Asked again, and still not answered: the item and its cluster open again.
    record(channels, "Is there a summer meals program for kids?", sender="web:s-2")
    ingest_new(channels, review)
    assert review.cluster(cid).status == "needs_content"  # type: ignore[union-attr]
    assert review.item(first.id).status == "needs_content"  # type: ignore[union-attr]


def test_a_not_helpful_rating_is_answered_only_by_another_passage() -> None:
    rated = candidate_from(
        event("x", kind="feedback", helpful=False, about_question="how do I appeal?", about_chunk_digest="d1g35t")
    )
    assert rated is not None
    from channels.review.store import Item

    item = Item(
        1, None, "web", "not_helpful", rated.question, "c", NOW, NOW, 1, "new", "not_helpful", "en", "v1",
        None, None, None, None, rated_chunk_digest="d1g35t",
    )  # fmt: skip
    same = answers_from_rasa([{"custom": PAYLOAD}])
    other = answers_from_rasa([{"custom": PAYLOAD | {"chunk_digest": "n3w"}}])
    unanswered = answers_from_rasa([{"custom": not_answered("no_match")}])
    assert confident_answer(item, same) is None
    assert confident_answer(item, other) is not None
    assert confident_answer(item, unanswered) is None


# --- customers to tell -------------------------------------------------------------------------------------


def test_opted_in_customers_are_due_once_answered_and_their_contact_goes_once_told(
    stores: tuple[ChannelStore, ReviewStore],
) -> None:
    channels, review = stores
    record(channels, "Is there a summer meals program for kids?", channel="sms", sender="sms:p1")
    record(channels, "Is there a summer meals program for kids?", sender="web:s-9")
    ingest_new(channels, review)
    sms_item = next(i for i in review.items() if i.channel == "sms")
    web_item = next(i for i in review.items() if i.channel == "web")
    found = review.latest_item(sms_item.conversation, "sms", NOW - timedelta(days=400))
    assert found is not None and found.id == sms_item.id
    assert review.opt_in(sms_item.id, "sms", sms_item.conversation, "+15550100001", reply_from="+15005550006")
    assert not review.opt_in(sms_item.id, "sms", sms_item.conversation, "+15550100001")  # once per customer
    assert review.due_notifications() == []  # not answered yet
    reply = [{"custom": PAYLOAD}]
    review.mark_answered(sms_item.id, PAYLOAD["source_url"], "v2", reply)
    review.mark_answered(web_item.id, PAYLOAD["source_url"], "v2", reply)
    (due,) = review.due_notifications()
    assert (due.contact, due.reply_from) == ("+15550100001", "+15005550006")
    assert review.claim_notification(due.id) and not review.claim_notification(due.id)
    review.finish_notification(due.id, "sent")
    (told,) = review.notifications(sms_item.id)
    assert (told.state, told.contact) == ("sent", None)
    # Web: the session that asked gets it once, on its next visit.
    web = channels.conversation_key("web:s-9")
    assert review.take_web_notices(channels.conversation_key("web:other")) == []
    ((notice, item),) = review.take_web_notices(web)
    assert item.id == web_item.id and item.answer_messages() == reply
    assert review.take_web_notices(web) == []


# --- the CSV ------------------------------------------------------------------------------------------------


def test_the_csv_has_the_contracts_columns_first_and_never_a_formula(stores: tuple[ChannelStore, ReviewStore]) -> None:
    channels, review = stores
    record(channels, '=HYPERLINK("http://evil.example") what is my balance', "When is my interview? 555-867-5309")
    ingest_new(channels, review)
    out = io.StringIO()
    assert write_csv(review.items(), out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0][:7] == ["id", "channel", "question", "first_seen", "last_seen", "count", "status"]
    assert tuple(rows[0]) == COLUMNS
    body = {r[2]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert '\'=HYPERLINK("http://evil.example") what is my balance' in body
    interview = body["When is my interview? [PHONE]"]
    assert (interview["channel"], interview["count"], interview["status"], interview["kind"]) == (
        "web",
        "1",
        "new",
        "unanswered",
    )
    assert interview["first_seen"].endswith("Z") and "555-867-5309" not in out.getvalue()
    json.dumps(rows)  # plain strings throughout


def test_the_retention_purge_keeps_questions_and_counts_but_not_who_asked(
    stores: tuple[ChannelStore, ReviewStore],
) -> None:
    channels, review = stores
    record(channels, "Is there a summer meals program for kids?", channel="sms", sender="sms:p1")
    ingest_new(channels, review)
    (item,) = review.items()
    review.opt_in(item.id, "sms", item.conversation, "+15550100001", reply_from="+15005550006")
    assert review.purge_older_than(90) == {"occurrences": 0, "waiting": 0, "notices": 0, "items": 0}
    later = datetime.now(UTC) + timedelta(days=91)
    assert review.purge_older_than(90, now=later) == {"occurrences": 1, "waiting": 1, "notices": 1, "items": 1}
    (kept,) = review.items()
    assert (kept.question, kept.count, kept.conversation) == (item.question, 1, "")
    assert review.notifications(item.id) == []  # the number waited past the retention period: gone
    assert review.conversations(item.id) == []
