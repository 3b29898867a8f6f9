"""The editors' pages and the dashboard on a real gateway (TestClient, a temporary SQLite file), without Rasa.

Roles, the Sync now form (the queue and the audit log it writes), a finished job's report, the what-changed
page's top questions, and the dashboard's charts drawn from real rows. The real worker and Rasa are in
test_editor_stack.py.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from channels.answers import Answer, AnswerEvent
from channels.app import create_app
from channels.deps import get_channel_store, get_job_store
from channels.settings import Settings
from channels.staff.deps import get_staff_store
from content_sync.chunk import Chunk
from content_sync.index_store import IndexStore
from content_sync.report import SyncReport
from tests.integration.staff_support import HTML, add_staff, page_csrf, sign_in, use_staff_settings

pytestmark = pytest.mark.integration
SITE = "http://127.0.0.1:8080"
APPEALS = f"{SITE}/appeals/how-to-appeal.html"
EDITOR = "editor@agency.example"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    return use_staff_settings(monkeypatch, tmp_path, SYNC_SOURCES=f"{SITE}/sitemap.xml")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def signed_in(client: TestClient, settings: Settings, role: str) -> str:
    email = f"{role}@agency.example"
    add_staff(settings, email, role)
    assert sign_in(client, email).status_code == 303
    return page_csrf(client)


def test_editor_pages_refuse_strangers_and_reviewers_but_reviewers_see_the_dashboard(
    client: TestClient, settings: Settings
) -> None:
    for path in ("/staff/editor", "/staff/editor/preview", "/staff/dashboard"):
        page = client.get(path, headers=HTML, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/staff/login?next=")
    signed_in(client, settings, "reviewer")
    for path in ("/staff/editor", "/staff/editor/preview"):
        page = client.get(path, headers=HTML)
        assert page.status_code == 403 and "needs the editor role" in page.text
    dashboard = client.get("/staff/dashboard", headers=HTML)
    assert dashboard.status_code == 200 and '<h1 class="margin-top-4">Dashboard</h1>' in dashboard.text
    assert 'href="/staff/dashboard" class="usa-nav-link usa-current" aria-current="page"' in dashboard.text


def test_sync_now_queues_a_job_for_the_editor_and_audits_it(client: TestClient, settings: Settings) -> None:
    token = signed_in(client, settings, "editor")
    sent = client.post(
        "/staff/editor/sync",
        data={"csrf_token": token, "mode": "urls", "urls": f"{APPEALS}\n{SITE}/payments/ebt-card.html"},
        headers=HTML,
        follow_redirects=False,
    )
    assert sent.status_code == 303
    job_id = re.fullmatch(r"/staff/editor/sync/([0-9a-f]+)\?queued=1", sent.headers["location"]).group(1)  # type: ignore[union-attr]
    job = get_job_store(settings).get(job_id)
    assert job is not None and job["status"] == "queued"
    assert job["urls"] == [APPEALS, f"{SITE}/payments/ebt-card.html"] and not job["full"]
    assert job["requested_by"] == f"staff:{EDITOR}"
    (entry,) = get_staff_store(settings).list_audit(action="editor.sync")
    assert entry.staff_email == EDITOR and entry.target == job_id and entry.detail["mode"] == "urls"
    page = client.get(sent.headers["location"], headers=HTML)
    assert "Sync queued. This page follows it until it finishes." in page.text
    assert f'data-poll-url="/staff/editor/sync/{job_id}/status"' in page.text
    assert '<script src="/static/editor/poll.js" defer></script>' in page.text
    status = client.get(f"/staff/editor/sync/{job_id}/status", headers={"Accept": "application/json"}).json()
    assert status == {"status": "queued", "done": False, "message": "Queued: the sync worker will start it shortly."}
    history = client.get("/staff/editor", headers=HTML).text
    assert f'href="/staff/editor/sync/{job_id}"' in history and f"staff:{EDITOR}" in history
    # a full sync is its own job; an incremental one of every source too
    full = client.post(
        "/staff/editor/sync", data={"csrf_token": token, "mode": "full"}, headers=HTML, follow_redirects=False
    )
    assert full.status_code == 303
    assert get_job_store(settings).latest(1)[0]["full"] is True


def test_sync_now_refuses_pages_outside_the_allowed_domains(client: TestClient, settings: Settings) -> None:
    token = signed_in(client, settings, "editor")
    for urls, words in (
        ("https://elsewhere.example/page.html", "outside ALLOWED_DOMAINS (127.0.0.1:8080)"),
        ("   ", "Type at least one page address"),
    ):
        page = client.post("/staff/editor/sync", data={"csrf_token": token, "mode": "urls", "urls": urls}, headers=HTML)
        assert page.status_code == 422 and words in page.text
        assert 'role="alert"' in page.text and 'aria-describedby="sync-urls-hint sync-error"' in page.text
    assert get_job_store(settings).latest(5) == []
    assert get_staff_store(settings).list_audit(action="editor.sync") == []


def finished_job(settings: Settings) -> str:
    jobs = get_job_store(settings)
    job_id = jobs.enqueue(requested_by="schedule")
    assert jobs.claim() is not None
    report = SyncReport(index_version="v2", previous_version="v1", published=True, discovered=4, fetched=4, pages=3)
    report.record(APPEALS, "changed")
    report.record(f"{SITE}/benefits/summer-meals.html", "added")
    report.record(f"{SITE}/benefits/school-clothing-allowance.html", "deleted", "404 Not Found")
    report.skip("https://elsewhere.example/x.html", "outside ALLOWED_DOMAINS")
    report.skip("https://elsewhere.example/y.html", "outside ALLOWED_DOMAINS")
    report.seconds = {"discover": 0.5, "fetch": 1.25, "embed": 2.0, "publish": 0.25}
    jobs.finish(job_id, "v2", report.to_dict(), None)
    return job_id


def test_a_finished_job_shows_its_report_as_tables(client: TestClient, settings: Settings) -> None:
    signed_in(client, settings, "editor")
    job_id = finished_job(settings)
    page = client.get(f"/staff/editor/sync/{job_id}", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "Finished: published index version v2." in text and "data-poll-url" not in text
    assert "<caption>What this sync did to each page" in text
    assert re.search(r"<th scope=\"row\">Changed</th><td class=\"text-right\">1</td>", text)
    assert re.search(r"<th scope=\"row\">outside ALLOWED_DOMAINS</th>\s*<td class=\"text-right\">2</td>", text)
    assert "Show 2 addresses" in text and "Discover pages" in text and '<td class="text-right">1.2</td>' in text
    assert f'href="/staff/editor/sync/{job_id}/changes"' in text
    history = client.get("/staff/editor", headers=HTML).text
    assert "1 added, 1 changed, 1 deleted, 2 skipped" in history and "<code>v2</code>" in history
    missing = client.get("/staff/editor/sync/nope", headers=HTML)
    assert missing.status_code == 404 and "There is no sync job “nope”" in missing.text
    api = client.get("/staff/editor/sync/nope/status", headers={"Accept": "application/json"})
    assert api.status_code == 404 and "pick one from /staff/editor" in api.json()["error"]


def test_what_changed_lists_the_top_questions_with_the_answer_before_the_sync(
    client: TestClient, settings: Settings
) -> None:
    token = signed_in(client, settings, "editor")
    store = get_channel_store(settings)
    old = Answer(
        text="Ask for a fair hearing within 30 days.",
        answered=True,
        source_url=APPEALS,
        index_version="v1",
        kind="answer",
    )
    before = datetime.now(UTC) - timedelta(hours=1)
    for n in range(3):
        store.record_turn("web", f"web:s{n}", "How do I appeal?", [old], before)
    store.record_turn(
        "sms",
        "sms:+15550104477",
        "hours?",
        [
            Answer(
                text="Open 8 to 5.",
                answered=True,
                source_url=f"{SITE}/contact/offices.html",
                index_version="v1",
                kind="answer",
            )
        ],
        before,
    )
    job_id = finished_job(settings)
    page = client.get(f"/staff/editor/sync/{job_id}/changes", headers=HTML)
    assert page.status_code == 200
    rows = re.findall(r'<th scope="row" data-label="Question">([^<]+)', page.text)
    assert rows == ["How do I appeal?", "hours?"]
    assert "Ask for a fair hearing within 30 days." in page.text and "not asked again yet" in page.text
    assert "its page changed in this sync" in page.text  # the appeals page is in the report's changed list
    assert f'action="/staff/editor/sync/{job_id}/changes"' in page.text and token in page.text
    assert f"{SITE}/benefits/summer-meals.html" in page.text  # the pages the sync changed


def test_what_changed_adds_the_questions_whose_quoted_passage_is_no_longer_served(
    client: TestClient, settings: Settings
) -> None:
    signed_in(client, settings, "editor")
    store = get_channel_store(settings)
    served = Chunk(id="p_0", url=APPEALS, title="Appeals", headings=("Appeals",), text="Within 60 days.", digest="d60")
    IndexStore(settings.index_dir).publish([served], np.ones((1, 4), dtype=np.float32) / 2, {APPEALS: {}}, {})
    before = datetime.now(UTC) - timedelta(hours=1)
    for question, digest in (("How do I appeal?", "d30"), ("When is the office open?", "d60")):
        quoted = Answer(
            text=f"Quoted {digest}.", answered=True, source_url=APPEALS, index_version="v1", chunk_digest=digest
        )
        store.record_turn("web", f"web:{digest}", question, [quoted], before)
    job_id = finished_job(settings)
    page = client.get(f"/staff/editor/sync/{job_id}/changes", headers=HTML).text
    rows = dict(re.findall(r'<th scope="row" data-label="Question">([^<]+)(.*?)</th>', page))
    assert set(rows) == {"How do I appeal?", "When is the office open?"}
    assert "its quoted passage changed" in rows["How do I appeal?"]  # d30 is not in the index serving now
    assert "its quoted passage changed" not in rows["When is the office open?"]  # d60 still is
    assert "1 of them got an answer quoting a passage that has since changed or been removed" in page
    assert "Only editors see this page: customers who got an earlier answer are not told" in page


def test_the_dashboard_draws_its_charts_from_real_rows_with_a_data_table_each(
    client: TestClient, settings: Settings
) -> None:
    signed_in(client, settings, "reviewer")
    store = get_channel_store(settings)
    good = Answer(text="Ask within 30 days.", answered=True, source_url=APPEALS, index_version="v1", kind="answer")
    unknown = Answer(text="I don't know.", kind="answer", reason="no_match", index_version="v1")
    store.record_turn("web", "web:a", "How do I appeal?", [good])
    store.record_turn("web", "web:b", "Can I pay rent with EBT?", [unknown])
    store.record_turn("sms", "sms:+15550104477", "How do I appeal?", [good])
    store.record_turn("email", "email:r@example.org", "How do I appeal?", [good], datetime.now(UTC) - timedelta(days=1))
    store.record_events([AnswerEvent("web", "web:a", "/feedback", "feedback", "feedback", "en", "v1", helpful=True)])
    page = client.get("/staff/dashboard?days=7", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert re.search(r"<dt>Questions</dt><dd>4</dd>", text)
    assert re.search(r"<dt>Answered</dt><dd>75.0%</dd>", text)
    assert re.search(r"<dt>Rated helpful</dt><dd>100.0%", text)
    svgs = re.findall(r"<svg .*?</svg>", text, flags=re.S)
    assert len(svgs) == 10  # each chart wide and narrow (for phones)
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.get("role") == "img"
        title, desc = root.get("aria-labelledby", "").split()
        assert f'id="{title}"' in svg and f'id="{desc}"' in svg
    assert text.count("<summary>Show data") == 5
    today = datetime.now(UTC).date()
    assert f"{today:%b} {today.day}" in text
    assert 'aria-current="page">Last 7 days</a>' in text
    assert "No data for this period yet." in text  # no review gaps yet: the clusters chart says so
