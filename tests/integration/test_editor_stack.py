"""The editors' pages and the dashboard on the real product: Rasa, the action server, the sync worker, the gateway.

The preview asks the real Rasa and renders with the channels' own renderers; Sync now queues a job the real
worker runs; "what changed" asks the customers' top questions again after the sample site's guidance update;
and the pages are checked in headless Chromium with axe-core at phone and desktop widths (screenshots in
SCREENSHOTS, tests/conftest.py). These tests change the site, so they run on a product of their own (`own_stack`).
"""

from __future__ import annotations

import html
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from bench.stack import ROOT, apply_updates
from channels.staff.passwords import hash_password
from channels.staff.store import StaffStore
from channels.store import ChannelStore
from content_sync.jobs import JobStore
from tests.conftest import SCREENSHOTS
from tests.integration.conftest import QUESTIONS, Stack, send_mail
from tests.integration.staff_support import signed_in_to

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple"
EDITOR, REVIEWER = "editor@agency.example", "reviewer@agency.example"
HTML = {"Accept": "text/html,application/xhtml+xml"}
JSON = {"Accept": "application/json"}
CASE = QUESTIONS["questions"][0]  # "How long do I have to ask for a fair hearing?": the appeals page
UPDATED = QUESTIONS["after_update"][0]  # the fair hearing deadline: 30 days before the update, 60 after
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
AXE = ROOT / "channels" / "widget" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = SCREENSHOTS


@pytest.fixture(scope="module")
def accounts(own_stack: Stack) -> Stack:
    """An editor and a reviewer in the product's database (what `assistant staff add` makes)."""
    store = StaffStore(own_stack.env["DATABASE_URL"])
    for email, role in ((EDITOR, "editor"), (REVIEWER, "reviewer")):
        store.add_staff(email, role, hash_password(PASSWORD))
    return own_stack


def csrf(page: httpx.Response) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert found, "the page has no CSRF meta tag"
    return found.group(1)


def section(page: str, section_id: str) -> str:
    """The text of one `<section id=...>` of a page."""
    found = re.search(rf'<section[^>]*id="{section_id}".*?</section>', page, re.S)
    assert found, f"no section {section_id}"
    return html.unescape(found.group(0))


def wait_until_done(client: httpx.Client, url: str, timeout: float = 600) -> dict[str, Any]:
    """Poll a status URL as the page's script does, until it says done."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = client.get(url, headers=JSON).json()
        if status["done"]:
            return status  # type: ignore[no-any-return]
        time.sleep(1)
    raise AssertionError(f"{url} was not done in {timeout} s: {status}")


def recorded(stack: Stack) -> tuple[int, int]:
    """How many transcript rows and answer events the product has kept."""
    store = ChannelStore(stack.env["DATABASE_URL"], migrate=False, privacy_key=stack.env["PRIVACY_KEY"])
    return len(store.recent_messages(10_000)), len(store.recent_events(10_000))


def test_pages_refuse_strangers_and_the_editor_pages_refuse_reviewers(accounts: Stack) -> None:
    stranger = httpx.get(accounts.gateway + "/staff/editor", headers=HTML, follow_redirects=False, timeout=30)
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/staff/login?next=")
    with signed_in_to(accounts.gateway, REVIEWER) as reviewer:
        refused = reviewer.get("/staff/editor/preview", params={"q": CASE["question"]})
        assert refused.status_code == 403 and "needs the editor role" in refused.text
        assert reviewer.get("/staff/dashboard").status_code == 200


def test_preview_shows_web_sms_and_email_with_the_same_source_and_records_nothing(accounts: Stack) -> None:
    version = httpx.get(accounts.gateway + "/healthz", timeout=10).json()["index_version"]
    with signed_in_to(accounts.gateway, EDITOR) as editor:
        before = recorded(accounts)
        page = editor.get("/staff/editor/preview", params={"q": CASE["question"]})
        assert page.status_code == 200, page.text[:1000]
        assert recorded(accounts) == before, "the preview must not record a turn or an answer event"
    facts = html.unescape(page.text)
    assert re.search(r'data-fact="answered">yes<', facts)
    found = re.search(r'data-fact="source"><a class="usa-link" href="([^"]+)">', facts)
    assert found, "the preview names no source page"
    source = found.group(1)
    assert source.startswith(accounts.site + "/"), source
    assert f'data-fact="index-version"><code>{version}</code>' in facts
    web, sms, email = (section(page.text, f"preview-{name}") for name in ("web", "sms", "email"))
    assert f'href="{source}"' in web
    assert source in sms and re.search(r"\d+ characters, [12] segments?", sms)
    assert source in email and f"Guidance version: {version}" in email
    first_sentence = re.split(r"(?<=[.!?])\s", re.sub(r"<[^>]+>", "", web.split('editor-pre margin-top-0">', 1)[1]))[0]
    assert first_sentence.strip() and first_sentence.strip() in email  # the same passage, rendered per channel
    # the one answer: a customer asking the same question on web chat gets the same page and version
    customer = next(m for m in accounts.chat(CASE["question"])["messages"] if m["answered"])
    assert (customer["source_url"], customer["index_version"]) == (source, version)


def test_sync_now_is_run_by_the_worker_and_what_changed_shows_the_new_answer(accounts: Stack) -> None:
    site, store = accounts.site, JobStore(accounts.env["DATABASE_URL"])
    for _ in range(3):  # customers ask, and get the answer of the guidance as it was
        accounts.chat(UPDATED["question"])
    accounts.sms(UPDATED["question"], sid="SM" + uuid.uuid4().hex)
    apply_updates(accounts.site_root)  # the agency publishes its guidance update

    with signed_in_to(accounts.gateway, EDITOR) as editor:
        token = csrf(editor.get("/staff/editor"))
        sent = editor.post("/staff/editor/sync", data={"csrf_token": token, "mode": "incremental"})
        assert sent.status_code == 303
        job_id = re.fullmatch(r"/staff/editor/sync/([0-9a-f]+)\?queued=1", sent.headers["location"]).group(1)  # type: ignore[union-attr]
        following = editor.get(sent.headers["location"])
        assert "Sync queued. This page follows it until it finishes." in following.text
        assert f'data-poll-url="/staff/editor/sync/{job_id}/status"' in following.text
        finished = wait_until_done(editor, f"/staff/editor/sync/{job_id}/status")
        assert finished["status"] == "succeeded", finished
        job = store.get(job_id)
        assert job is not None and job["requested_by"] == f"staff:{EDITOR}" and job["index_version"]
        new_version = job["index_version"]

        report = html.unescape(editor.get(f"/staff/editor/sync/{job_id}").text)
        assert f"Finished: published index version {new_version}." in report
        assert f'<a class="usa-link" href="{site}{UPDATED["path"]}">' in report  # in the Changed list
        assert (
            f"{site}/benefits/summer-meals.html" in report
            and f"{site}/benefits/school-clothing-allowance.html" in report
        )
        audit = StaffStore(accounts.env["DATABASE_URL"]).list_audit(action="editor.sync", target=job_id)
        assert [entry.staff_email for entry in audit] == [EDITOR]

        changes_url = f"/staff/editor/sync/{job_id}/changes"
        waiting = html.unescape(editor.get(changes_url).text)
        row = question_row(waiting, UPDATED["question"])
        assert ">4<" in row, "asked three times on web chat and once by SMS"
        assert UPDATED["old_phrase"] in row and "not asked again yet" in row
        before = recorded(accounts)
        started = editor.post(changes_url, data={"csrf_token": csrf(editor.get(changes_url))})
        assert started.status_code == 303
        assert wait_until_done(editor, changes_url + "/status")["status"] == "done"
        compared = html.unescape(editor.get(changes_url).text)
    row = question_row(compared, UPDATED["question"])
    assert re.search(r"<strong>(answer text changed|new source page)</strong>", row), row
    assert "its page changed in this sync" in row
    assert "its quoted passage changed" in row, "the fair hearing passage it quoted was rewritten by the update"
    assert UPDATED["question"] in section(compared, "stale-quotes"), "and its answer now differs"
    assert f"version <code>{new_version}</code>" in row
    assert f"questions again at index version {new_version}." in compared
    assert recorded(accounts) == before, "asking the top questions again must not record customer turns"


def question_row(page: str, question: str) -> str:
    """The what-changed table's row for `question`."""
    for row in re.findall(r"<tr>.*?</tr>", page, re.S):
        if f'data-label="Question">{question}' in row:
            return str(row)
    raise AssertionError(f"no row for {question!r} in the what-changed table")


# --- in the browser ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations (WCAG 2.1 A and AA, and best practice) on the page."""
    assert AXE.is_file(), "axe-core is missing: run make install (npm ci in channels/widget)"
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"""
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def ask_a_few_questions(stack: Stack) -> None:
    """Real traffic on every channel, so the dashboard's charts and the queue have something to show."""
    for case in QUESTIONS["questions"][1:5]:
        reply = stack.chat(case["question"])
        feedback = next((m["feedback"] for m in reply["messages"] if m.get("feedback")), None)
        if feedback:
            stack.chat(feedback["buttons"][0]["payload"], session_id=reply["session_id"])
    for question in QUESTIONS["unanswerable"][:3]:
        stack.chat(question)
    stack.sms(QUESTIONS["unanswerable"][3], sid="SM" + uuid.uuid4().hex)
    assert stack.sink.reply_to(send_mail(stack.smtp_port, QUESTIONS["questions"][5]["question"], "A question"))


def sign_in_browser(page: Page, stack: Stack) -> None:
    page.goto(stack.gateway + "/staff/login")
    page.get_by_label("Email address").fill(EDITOR)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/staff/$"))


@pytest.mark.parametrize("width", [375, 1280])
def test_dashboard_preview_and_sync_history_pass_axe(accounts: Stack, browser: Browser, width: int) -> None:
    if width == 375:
        ask_a_few_questions(accounts)
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    try:
        page = context.new_page()
        sign_in_browser(page, accounts)
        pages = {
            "staff-dashboard.png": "/staff/dashboard?days=7",
            "staff-preview.png": "/staff/editor/preview?q=" + quote(UPDATED["question"]),
            "staff-sync-history.png": "/staff/editor",
        }
        for shot, path in pages.items():
            page.goto(accounts.gateway + path)
            page.wait_for_load_state("networkidle")
            heading = page.get_by_role("heading", level=1)
            assert heading.inner_text() in ("Dashboard", "Answer preview", "Sync history")
            if "preview" in path:
                source = page.locator("[data-fact=source] a").get_attribute("href")
                assert source and source.startswith(accounts.site + "/")
                assert page.locator(f"#preview-web a[href='{source}']").count() == 1
            if "dashboard" in path:
                visible = page.locator(".editor-chart--narrow svg" if width < 640 else ".editor-chart--wide svg")
                assert visible.count() == 5 and visible.first.is_visible()
            assert run_axe(page) == [], f"{path} at {width} px"
            if width == 1280:
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / shot), full_page=True)
        page.goto(accounts.gateway + "/staff/dashboard")  # 30 days, with a data table open
        page.get_by_text("Show data").first.click()
        assert page.get_by_role("table", name=re.compile("Questions per day")).is_visible()
        assert run_axe(page) == [], f"the dashboard with a data table open at {width} px"
        done = [j for j in JobStore(accounts.env["DATABASE_URL"]).latest(10) if j["status"] == "succeeded"]
        page.goto(f"{accounts.gateway}/staff/editor/sync/{done[0]['job_id']}")  # a sync's page, and what changed
        page.wait_for_load_state("networkidle")
        assert run_axe(page) == [], f"a sync job's page at {width} px"
        page.get_by_role("link", name="What changed for customers’ top questions").click()
        page.wait_for_load_state("networkidle")
        assert run_axe(page) == [], f"the what-changed page at {width} px"
    finally:
        context.close()
