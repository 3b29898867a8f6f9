"""The review pages in real headless Chromium: a reviewer works a cluster by keyboard alone, and axe-core finds
no serious violation on the queue, a cluster, a question or a transcript, at phone and desktop widths.

The gateway runs under uvicorn on a loopback port with a SQLite file in tmp_path, seeded with real answer
events taken into the queue and clustered by the real model (no Rasa is needed for these pages). Screenshots go
to SCREENSHOTS, tests/conftest.py (review-queue, review-cluster; -375 at phone width).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect

from channels.answers import AnswerEvent, answers_from_rasa
from channels.app import create_app
from channels.review.ingest import cluster_pending, ingest_new
from channels.review.store import ReviewStore
from channels.settings import get_settings
from channels.store import ChannelStore
from content_sync.settings import DEFAULT_MODEL
from tests.conftest import free_port
from tests.integration.staff_support import PASSWORD, add_staff, use_staff_settings
from tests.integration.test_staff_browser import AXE, browser, check_widths, focused, page, tab_to
from tests.unit.test_answers import not_answered

__all__ = ["browser", "page"]  # the fixtures, shared with the sign-in test
pytestmark = pytest.mark.integration
REVIEWER = "reviewer@agency.example"
QUESTIONS = [
    ("web", "web:s-1", "Is there a summer meals program for kids?"),
    ("sms", "sms:p1", "do you have free lunches for children in the summer"),
    ("email", "email:p2", "Where can my kids get free meals over the summer break? Call me on 555-867-5309"),
    ("web", "web:s-2", "How do I renew my driver's license?"),
]


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The real gateway on a loopback port, a reviewer account, and four questions in the queue."""
    settings = use_staff_settings(monkeypatch, tmp_path)
    channels = ChannelStore(settings.database_url)
    review = ReviewStore(settings.database_url)
    unanswered = answers_from_rasa([{"custom": not_answered("no_match")}])
    for channel, sender, question in QUESTIONS:
        channels.record_events([AnswerEvent(channel, sender, question, "answer", "no_match", "en", "v1")])
        channels.record_turn(channel, sender, question, unanswered)
    ingest_new(channels, review)
    cluster_pending(review, DEFAULT_MODEL)
    port = free_port()
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    add_staff(settings, REVIEWER, "reviewer")
    add_staff(settings, "editor@agency.example", "editor")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    get_settings.cache_clear()


def test_a_reviewer_assigns_a_cluster_by_keyboard_with_no_serious_accessibility_violations(
    page: Page, gateway: str
) -> None:
    if not AXE.is_file():
        pytest.skip(f"axe-core is not installed at {AXE}: `make install` (npm ci in channels/widget) puts it there")
    page.goto(gateway + "/staff/review")
    page.fill("#email", REVIEWER)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(gateway + "/staff/review")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    expect(page.locator("caption")).to_contain_text("2 clusters")
    assert "555-867-5309" not in page.content()
    check_widths(page, "the review queue", shot="review-queue")

    page.get_by_role("link", name="Is there a summer meals program for kids?").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("summer")
    check_widths(page, "a cluster", shot="review-cluster")
    tab_to(page, element_id="assignee", limit=40)
    page.keyboard.type("editor@agency.example")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("Assigned. The cluster needs content now.")
    expect(page.locator("dd").first).to_contain_text("Needs content")
    check_widths(page, "a cluster after assigning it")

    tab_to(page, element_id="note-text", limit=60)
    page.keyboard.type("The summer meals page is planned for June.")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Add note"
    page.keyboard.press("Enter")
    expect(page.get_by_text("The summer meals page is planned for June.")).to_be_visible()

    page.get_by_role("link", name="Latest conversation").first.click()
    expect(page.get_by_role("heading", name="Transcript")).to_be_visible()
    check_widths(page, "a transcript")
    page.go_back()
    page.locator("table a.usa-link").first.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    check_widths(page, "a question")
