"""What changed after a sync: the top questions from the transcript, and their answers before and now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from channels.editor.changes import (
    SeenAnswer,
    compare_answers,
    normalise_question,
    quoted_stale,
    sync_pages,
    top_questions,
    with_stale,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SYNC_DONE = T0 + timedelta(hours=5)
OLD = "http://site.test/appeals/how-to-appeal.html"
NEW = "http://site.test/appeals/fair-hearings.html"


class Transcript:
    """Rows shaped like the `messages` table, written turn by turn."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def turn(
        self, conversation: str, question: str, replies: list[dict[str, Any]], at: datetime, channel: str = "web"
    ) -> None:
        self.rows.append(
            {
                "id": len(self.rows) + 1,
                "created_at": at,
                "channel": channel,
                "conversation": conversation,
                "direction": "in",
                "text": question,
                "kind": None,
                "answered": any(r.get("answered") for r in replies),
                "source_url": None,
                "index_version": None,
            }
        )
        for reply in replies:
            self.rows.append(
                {
                    "id": len(self.rows) + 1,
                    "created_at": at,
                    "channel": channel,
                    "conversation": conversation,
                    "direction": "out",
                    "text": "",
                    "kind": "answer",
                    "answered": False,
                    "source_url": None,
                    "index_version": "v1",
                }
                | reply
            )


def answer(text: str, url: str | None, version: str = "v1") -> dict[str, Any]:
    return {
        "text": text,
        "kind": "answer",
        "answered": url is not None,
        "source_url": url,
        "index_version": version,
        "reason": None if url else "no_match",
    }


def sample() -> Transcript:
    t = Transcript()
    # three ways of writing one question, on two channels; the last answer before the sync cites OLD
    t.turn("c1", "How do I appeal?", [answer("Ask for a fair hearing within 30 days.", OLD)], T0)
    t.turn("c2", "how do i  appeal", [answer("Ask for a fair hearing within 30 days!", OLD)], T0 + timedelta(hours=1))
    t.turn(
        "c3", "How do I appeal", [answer("Ask for a fair hearing within 30 days.", OLD)], T0 + timedelta(hours=2), "sms"
    )
    # asked after the sync finished: it counts, but it is not the "before" answer
    t.turn(
        "c4",
        "How do I appeal?",
        [answer("Fair hearings: ask within 30 days.", NEW, "v2")],
        SYNC_DONE + timedelta(minutes=5),
    )
    # a question the assistant could not answer, twice
    t.turn("c5", "Can I pay my rent with EBT?", [answer("I don't know that one.", None)], T0)
    t.turn("c6", "can I pay my rent with EBT", [answer("I don't know that one.", None)], T0 + timedelta(hours=3))
    # not questions: a greeting (a plain response), a rating, a choice picked by number, an intent payload
    t.turn("c1", "hi", [{"text": "Hello!", "kind": "text"}], T0)
    t.turn("c1", '/feedback{"helpful": true}', [{"text": "Thanks!", "kind": "feedback"}], T0)
    t.turn("c7", "2", [answer("Office hours are 8 to 5.", "http://site.test/hours.html")], T0)
    t.turn("c8", "Office hours?", [answer("We are open 8 to 5.", "http://site.test/hours.html")], T0)
    return t


def test_normalised_questions_ignore_case_spacing_and_end_punctuation() -> None:
    assert normalise_question("  How do I   APPEAL?! ") == "how do i appeal"
    assert normalise_question("¿Cómo apelo?") == "cómo apelo"
    assert normalise_question("...") == ""


def test_top_questions_count_one_question_however_it_was_written() -> None:
    top = top_questions(sample().rows, limit=10, until=SYNC_DONE)
    assert [(q.key, q.count) for q in top] == [
        ("how do i appeal", 4),
        ("can i pay my rent with ebt", 2),
        ("office hours", 1),
    ]
    appeal = top[0]
    assert appeal.question in ("How do I appeal?", "how do i  appeal", "How do I appeal")
    assert appeal.question == "How do I appeal?"  # the form written most often
    assert appeal.channels == ("sms", "web")


def test_greetings_ratings_payloads_and_picked_numbers_are_not_questions() -> None:
    keys = {q.key for q in top_questions(sample().rows, limit=10)}
    assert not keys & {"hi", "2", 'feedback{"helpful": true}'}
    assert all(not k.startswith("feedback") for k in keys)


def test_the_answer_before_is_the_last_one_given_before_the_sync_finished() -> None:
    appeal = top_questions(sample().rows, limit=1, until=SYNC_DONE)[0]
    assert appeal.before is not None
    assert appeal.before.source_url == OLD
    assert appeal.before.at == T0 + timedelta(hours=2)
    assert appeal.before.text == "Ask for a fair hearing within 30 days."
    # without a sync time, the latest answer of all
    latest = top_questions(sample().rows, limit=1)[0]
    assert latest.before is not None and latest.before.source_url == NEW


def test_a_question_first_asked_after_the_sync_has_no_answer_before() -> None:
    t = Transcript()
    t.turn("c1", "What is SNAP?", [answer("SNAP is food help.", OLD)], SYNC_DONE + timedelta(hours=1))
    (only,) = top_questions(t.rows, until=SYNC_DONE)
    assert only.count == 1 and only.before is None


def test_limit_keeps_the_most_asked() -> None:
    assert [q.key for q in top_questions(sample().rows, limit=1)] == ["how do i appeal"]


def test_compare_answers_says_what_kind_of_change_each_question_had() -> None:
    top = top_questions(sample().rows, limit=10, until=SYNC_DONE)
    now = {
        "how do i appeal": SeenAnswer("Fair hearings: ask within 30 days.", True, NEW, "v2"),
        "can i pay my rent with ebt": SeenAnswer("EBT cannot pay rent.", True, "http://site.test/ebt.html", "v2"),
        "office hours": SeenAnswer("We are open 8 to 5.", True, "http://site.test/hours.html", "v2"),
    }
    report = {"changed": [OLD], "added": ["http://site.test/ebt.html"], "deleted": [], "unchanged": ["x"]}
    result = compare_answers(top, now, report)
    verdicts = {c.question.key: (c.status, c.page_touched) for c in result.changes}
    assert verdicts == {
        "how do i appeal": ("new source page", True),
        "can i pay my rent with ebt": ("now answered", True),
        "office hours": ("same answer", False),
    }
    assert [c.question.key for c in result.changed] == ["how do i appeal", "can i pay my rent with ebt"]
    assert result.pages == {"added": ("http://site.test/ebt.html",), "changed": (OLD,), "deleted": ()}


def test_compare_answers_tells_text_changes_losses_and_questions_not_asked_yet() -> None:
    top = top_questions(sample().rows, limit=10, until=SYNC_DONE)
    now = {
        "how do i appeal": SeenAnswer("Ask for a  fair hearing within 45 days.", True, OLD, "v2"),
        "office hours": SeenAnswer("Sorry, I don't know.", False, None, "v2"),
    }
    verdicts = {c.question.key: c.status for c in compare_answers(top, now, {}).changes}
    assert verdicts == {
        "how do i appeal": "answer text changed",
        "can i pay my rent with ebt": "not asked again yet",
        "office hours": "no longer answered",
    }
    same_but_spacing = {"how do i appeal": SeenAnswer("Ask for a  fair hearing within\n30 days.", True, OLD, "v2")}
    (appeal, *_rest) = compare_answers(top, same_but_spacing, {}).changes
    assert appeal.status == "same answer" and not appeal.changed


def test_seen_answers_survive_a_round_trip_through_json() -> None:
    seen = SeenAnswer("text", True, OLD, "v1", T0)
    assert SeenAnswer.from_dict(seen.to_dict()) == seen


def test_sync_pages_lists_each_outcome_even_when_the_report_is_empty() -> None:
    assert sync_pages({}) == {"added": (), "changed": (), "deleted": ()}
    assert sync_pages({"deleted": ["b", "a"]})["deleted"] == ("a", "b")


def quoting(text: str, digest: str, url: str = OLD) -> dict[str, Any]:
    """An answer that quoted the passage with `digest`."""
    return answer(text, url) | {"chunk_digest": digest}


def stale_sample() -> Transcript:
    t = Transcript()
    t.turn("c1", "How do I appeal?", [quoting("Within 30 days.", "d-appeal-30")], T0)
    t.turn("c2", "how do I appeal", [quoting("Within 30 days.", "d-appeal-30")], T0 + timedelta(hours=2), "sms")
    t.turn("c3", "Office hours?", [quoting("Open 8 to 5.", "d-hours")], T0 + timedelta(hours=3))  # still served
    t.turn("c4", "Summer meals?", [quoting("Meals in June.", "d-meals")], T0 + timedelta(hours=1))  # page removed
    t.turn("c5", "Can I pay rent with EBT?", [answer("I don't know that one.", None)], T0 + timedelta(hours=4))
    return t


def test_quoted_stale_lists_the_questions_whose_quoted_passage_is_gone_newest_first_once_each() -> None:
    stale = quoted_stale(stale_sample().rows, {"d-hours", "d-appeal-60"})
    assert [(q.key, q.count, q.stale_quote) for q in stale] == [("how do i appeal", 2, True), ("summer meals", 1, True)]
    appeal = stale[0]
    assert appeal.channels == ("sms", "web")
    assert appeal.before is not None and appeal.before.at == T0 + timedelta(hours=2)
    assert appeal.before.text == "Within 30 days." and appeal.before.source_url == OLD
    # a passage still served is not listed, nor an answer that quoted nothing
    assert quoted_stale(stale_sample().rows, {"d-hours", "d-appeal-30", "d-meals"}) == []


def test_quoted_stale_is_capped_and_ignores_answers_after_the_sync() -> None:
    t = Transcript()
    for n in range(30):
        t.turn(f"c{n}", f"Question {n}?", [quoting("Old.", f"d{n}")], T0 + timedelta(minutes=n))
    capped = quoted_stale(t.rows, set(), limit=25)
    assert len(capped) == 25 and capped[0].key == "question 29" and capped[-1].key == "question 5"
    assert [q.key for q in quoted_stale(t.rows, set(), until=T0 + timedelta(minutes=1))] == ["question 1", "question 0"]


def test_with_stale_marks_top_questions_and_adds_the_others_once() -> None:
    rows = stale_sample().rows
    top = top_questions(rows, limit=2)
    assert [q.key for q in top] == ["how do i appeal", "can i pay rent with ebt"]
    merged = with_stale(top, quoted_stale(rows, {"d-hours"}))
    assert [(q.key, q.stale_quote) for q in merged] == [
        ("how do i appeal", True),
        ("can i pay rent with ebt", False),
        ("summer meals", True),
    ]
    assert merged[0].count == 2 and merged[0].before == top[0].before  # the top question's own numbers stay
    now = {"summer meals": SeenAnswer("Sorry, I don't know.", False, None, "v2")}
    changed = [c.question.key for c in compare_answers(merged, now, {}).changed]
    assert changed == ["summer meals"]  # its verdict is compare_answers' own ("no longer answered")
