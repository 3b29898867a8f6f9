"""The review queue's staff pages and the web chat notices, through the real gateway app on a temporary SQLite
file: what a reviewer sees and can do, what the audit log keeps, and what a web chat customer is shown.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from channels.answers import AnswerEvent, answers_from_rasa
from channels.app import create_app
from channels.review.ingest import cluster_pending, ingest_new
from channels.review.store import ReviewStore
from channels.settings import Settings
from channels.staff.deps import get_staff_store
from channels.store import ChannelStore
from content_sync.settings import DEFAULT_MODEL
from tests.integration.staff_support import HTML, add_staff, page_csrf, sign_in, use_staff_settings
from tests.unit.test_answers import PAYLOAD, not_answered

SWALLOW = "What is the airspeed of an unladen swallow? my phone is 555-867-5309"
MEALS = "Is there a summer meals program for kids?"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    return use_staff_settings(monkeypatch, tmp_path)


@pytest.fixture
def seeded(settings: Settings) -> tuple[ChannelStore, ReviewStore]:
    """Three questions from web chat and SMS, taken into the queue and clustered, with a web transcript."""
    channels = ChannelStore(settings.database_url)
    review = ReviewStore(settings.database_url)
    unanswered = answers_from_rasa([{"custom": not_answered("no_match")}])
    for channel, sender, question in [
        ("web", "web:s-1", SWALLOW),
        ("web", "web:s-2", MEALS),
        ("sms", "sms:p1", "do you have free lunches for children in the summer"),
    ]:
        channels.record_events([AnswerEvent(channel, sender, question, "answer", "no_match", "en", "v1")])
        channels.record_turn(channel, sender, question, unanswered)
    ingest_new(channels, review)
    cluster_pending(review, DEFAULT_MODEL)
    return channels, review


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app()) as running:
        add_staff(settings, "reviewer@agency.example", "reviewer")
        add_staff(settings, "editor@agency.example", "editor")
        yield running


def cluster_of(review: ReviewStore, words: str) -> int:
    found = next(i.cluster_id for i in review.items() if words in i.question)
    assert found is not None
    return found


def test_strangers_are_sent_to_sign_in(client: TestClient, seeded: tuple[ChannelStore, ReviewStore]) -> None:
    response = client.get("/staff/review", headers=HTML, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/staff/login")
    assert client.get("/staff/review/export.csv").status_code == 401


def test_the_queue_shows_clusters_with_counts_per_channel_and_no_personal_data(
    client: TestClient, seeded: tuple[ChannelStore, ReviewStore]
) -> None:
    sign_in(client, "reviewer@agency.example")
    page = client.get("/staff/review", headers=HTML)
    assert page.status_code == 200
    assert "unladen swallow" in page.text and "555-867-5309" not in page.text and "[PHONE]" in page.text
    assert "2 clusters" in page.text  # the two summer meals questions are one cluster
    assert re.search(r"Web chat: 1<br>SMS: 1", page.text)
    only_sms = client.get("/staff/review", params={"channel": "sms"}, headers=HTML)
    assert "free lunches" in only_sms.text and "unladen swallow" not in only_sms.text
    searched = client.get("/staff/review", params={"q": "swallow"}, headers=HTML)
    assert "1 cluster<" in searched.text and "unladen swallow" in searched.text
    bad = client.get("/staff/review", params={"since": "yesterday"}, headers=HTML)
    assert "is not a date for From: use YYYY-MM-DD" in bad.text


def test_a_reviewer_assigns_changes_status_and_notes_and_each_is_audited(
    client: TestClient, seeded: tuple[ChannelStore, ReviewStore], settings: Settings
) -> None:
    _, review = seeded
    cid = cluster_of(review, MEALS)
    sign_in(client, "reviewer@agency.example")
    token = page_csrf(client)
    url = f"/staff/review/clusters/{cid}"
    page = client.get(url, headers=HTML)
    assert page.status_code == 200 and MEALS in page.text and "editor@agency.example" in page.text
    refused = client.post(url + "/assign", data={"assignee": "editor@agency.example"}, headers=HTML)
    assert refused.status_code == 403  # no CSRF token
    not_an_editor = client.post(
        url + "/assign", data={"assignee": "reviewer@agency.example", "csrf_token": token}, headers=HTML
    )
    assert "is not an active editor" in not_an_editor.text
    done = client.post(url + "/assign", data={"assignee": "editor@agency.example", "csrf_token": token}, headers=HTML)
    assert done.status_code == 200 and "Assigned. The cluster needs content now." in done.text
    assert "Needs content" in done.text and "Assigned to editor@agency.example (was new)." in done.text
    closed = client.post(url + "/status", data={"status": "wont_fix", "csrf_token": token}, headers=HTML)
    assert "Status changed." in closed.text and "needs_content → wont_fix" in closed.text
    wrong = client.post(url + "/status", data={"status": "answered_by_update", "csrf_token": token}, headers=HTML)
    assert "can move to new, not to answered_by_update" in wrong.text
    noted = client.post(url + "/notes", data={"text": "Summer meals page is coming", "csrf_token": token}, headers=HTML)
    assert "Note added." in noted.text and "Summer meals page is coming" in noted.text
    assert {i.status for i in review.items(cid)} == {"wont_fix"}
    actions = [e.action for e in get_staff_store(settings).list_audit(action="review.")]
    assert actions == ["review.note", "review.status", "review.assign"]


def test_the_csv_download_and_the_transcript_are_one_click_away(
    client: TestClient, seeded: tuple[ChannelStore, ReviewStore], settings: Settings
) -> None:
    _, review = seeded
    sign_in(client, "editor@agency.example")
    download = client.get("/staff/review/export.csv", params={"status": "", "channel": "web"})
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert {r["channel"] for r in rows} == {"web"} and len(rows) == 2
    assert "555-867-5309" not in download.text and any("unladen swallow" in r["question"] for r in rows)
    cid = cluster_of(review, "unladen swallow")
    cluster = client.get(f"/staff/review/clusters/{cid}", headers=HTML)
    link = re.search(r'href="(/staff/review/conversations/[^"]+)"', cluster.text)
    assert link, "the cluster page links each question's transcript"
    transcript = client.get(link.group(1), headers=HTML)
    assert transcript.status_code == 200
    assert "unladen swallow" in transcript.text and "555-867-5309" not in transcript.text
    assert "couldn" in transcript.text and "Not answered: No matching guidance" in transcript.text
    unknown = client.get("/staff/review/conversations/" + "0" * 64, headers=HTML)
    assert unknown.status_code == 404
    actions = {e.action for e in get_staff_store(settings).list_audit(action="review.")}
    assert actions == {"review.export", "review.transcript"}


def test_a_web_customer_sees_the_new_answer_once_on_their_next_visit(
    client: TestClient, seeded: tuple[ChannelStore, ReviewStore]
) -> None:
    _, review = seeded
    item = next(i for i in review.items() if i.question == MEALS)
    assert client.get("/api/chat/notices", params={"session_id": "s-2"}).json() == {"session_id": "s-2", "notices": []}
    review.mark_answered(item.id, PAYLOAD["source_url"], "v2", [{"custom": PAYLOAD | {"index_version": "v2"}}])
    assert client.get("/api/chat/notices", params={"session_id": "s-1"}).json()["notices"] == []  # not theirs
    body = client.get("/api/chat/notices", params={"session_id": "s-2"}).json()
    (notice,) = body["notices"]
    assert (notice["source_url"], notice["index_version"], notice["question"]) == (PAYLOAD["source_url"], "v2", MEALS)
    intro, answer = notice["messages"]
    assert MEALS in intro["text"] and answer["answered"] is True and answer["source_url"] == PAYLOAD["source_url"]
    assert client.get("/api/chat/notices", params={"session_id": "s-2"}).json()["notices"] == []
    assert client.get("/api/chat/notices", params={"session_id": "bad id!"}).status_code == 422
