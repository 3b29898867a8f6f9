"""The closed loop through the real stack: questions only the site update answers go unanswered on SMS, email
and web chat, enter the review queue, get assigned on the staff page; the update is published and synced;
the items close themselves, citing the new page, and each customer is told once: by SMS through the loopback
Twilio stand-in (they texted YES), by a reply in their email thread through the SMTP sink, and on the web
chat's next visit.

This module changes its site, so it runs a product of its own.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from html import unescape

import httpx
import pytest
from playwright.sync_api import sync_playwright

from bench.stack import ROOT, Stack, apply_updates, running_stack
from bench.twilio_standin import TwilioStandin
from channels.staff.passwords import hash_password
from channels.staff.store import StaffStore
from tests.conftest import loopback_only_env
from tests.integration.conftest import send_mail, served_site_copy

pytestmark = pytest.mark.integration
QUESTION = "What is the SunBites Summer Meals program for kids?"  # only data/sample_site_updates/ answers it
NEW_PAGE = "/benefits/summer-meals.html"
EDITOR = "editor@agency.example"
PASSWORD = "correct horse battery staple"
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, TwilioStandin]]:
    with TwilioStandin() as standin:

        def env(base: dict[str, str]) -> dict[str, str]:
            assert base["TWILIO_AUTH_TOKEN"] == standin.auth_token
            extra = {**standin.env(), "RATE_LIMIT_PER_CLIENT": "0", "SMS_INLINE_TIMEOUT": "14"}
            return loopback_only_env({**base, **extra})

        with (
            served_site_copy(tmp_path_factory.mktemp("review-site")) as (site_url, site_root),
            running_stack(site_url, site_root, tmp_path_factory.mktemp("review-data"), wrap_env=env) as stack,
        ):
            yield stack, standin


def warm_up(stack: Stack, timeout: float = 300) -> None:
    """Wait until the assistant answers a question (on a busy machine the action server loads its model late)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reply = httpx.post(stack.gateway + "/api/chat", json={"text": "How do I appeal a decision?"}, timeout=60)
            if reply.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise AssertionError("the assistant never answered a question")


def text_us(stack: Stack, standin: TwilioStandin, body: str, phone: str) -> str:
    """Text the product; its reply, from the TwiML or, when it was made too late for that, by REST."""
    before = len(standin.sent_to(phone))
    response = stack.sms(body, sid="SM" + uuid.uuid4().hex, sender=phone)
    assert response.status_code == 200, response.text
    inline = [unescape(m) for m in re.findall(r"<Message>(.*?)</Message>", response.text, re.S)]
    if inline:
        return "\n".join(inline)
    sent = standin.wait_for(phone, before + 1, timeout=90)[before:]
    assert sent, "no reply, inline or by REST"
    return "\n".join(m.body for m in sent)


def export(stack: Stack) -> list[dict[str, str]]:
    """`assistant review export`, run as an operator would, with the product's settings."""
    done = subprocess.run(
        [sys.executable, "-m", "channels.cli", "review", "export"],
        cwd=ROOT,
        env=loopback_only_env(stack.env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def ours(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """The export's rows for QUESTION, by channel."""
    return {r["channel"]: r for r in rows if r["question"] == QUESTION}


@pytest.fixture
def editor(product: tuple[Stack, TwilioStandin]) -> Iterator[httpx.Client]:
    """A browser-like client signed in to the staff pages as an editor."""
    stack, _ = product
    StaffStore(stack.env["DATABASE_URL"]).add_staff(EDITOR, "editor", hash_password(PASSWORD))
    with httpx.Client(base_url=stack.gateway, headers=HTML, timeout=30, follow_redirects=True) as client:
        login = client.get("/staff/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token, login.text
        done = client.post("/staff/login", data={"email": EDITOR, "password": PASSWORD, "csrf_token": token.group(1)})
        assert done.status_code == 200 and "Signed in as editor@agency.example" in done.text, done.text
        yield client


def assign_cluster(client: httpx.Client, page_url: str) -> str:
    """Find QUESTION's cluster in the queue (it may take a few seconds to be grouped) and assign it."""
    deadline = time.monotonic() + 60
    link = None
    while time.monotonic() < deadline and link is None:
        queue = client.get("/staff/review", params={"q": "summer meals"})
        link = re.search(r'href="(/staff/review/clusters/\d+)"', queue.text)
        time.sleep(1)
    assert link, "the question never showed in the review queue"
    page = client.get(link.group(1))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    done = client.post(link.group(1) + "/assign", data={"assignee": page_url, "csrf_token": token.group(1)})
    assert "Assigned. The cluster needs content now." in done.text, done.text
    assert 'Times asked</dt><dd class="margin-0">3 (' in done.text and "SMS 1" in done.text
    return link.group(1)


def plain(message: EmailMessage) -> str:
    """A message's text/plain body."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, "the message has no text part"
    return str(body.get_content())


def notices(stack: Stack, message_id: str) -> list[EmailMessage]:
    """The notices in the email customer's thread (replies to their message other than the first answer)."""
    replies = [m for m in stack.sink.messages if message_id in str(m.get("In-Reply-To", ""))]
    return [m for m in replies if "It answers it now" in plain(m)]


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def web_visit(stack: Stack, session: str) -> list[str]:
    """Open the gateway's page in headless Chromium with `session`'s conversation kept in the browser, as the
    widget keeps it; the source links the widget shows once its notices are drawn."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu"],
        )
        try:
            page = browser.new_page()
            page.goto(stack.gateway + "/")
            saved = {"sessionId": session, "entries": [], "lang": None, "open": True, "savedAt": 0}
            page.evaluate(
                "([key, saved]) => localStorage.setItem(key, JSON.stringify({...saved, savedAt: Date.now()}))",
                [f"psa-chat:v1:{stack.gateway}", saved],
            )
            page.reload()
            links = page.locator(".psa-chat__msg--bot .psa-chat__source-link")
            links.first.wait_for(timeout=30_000)
            return [str(link.get_attribute("href")) for link in links.all()]
        finally:
            browser.close()


def test_unanswered_questions_close_themselves_after_the_update_and_each_customer_is_told_once(
    product: tuple[Stack, TwilioStandin], editor: httpx.Client
) -> None:
    stack, standin = product
    phone = "+1555" + str(uuid.uuid4().int)[:7]

    # 1. The question goes unanswered on every channel, and each customer is offered to be told.
    warm_up(stack)
    web = stack.chat(QUESTION)
    assert [m["answered"] for m in web["messages"]] == [False]
    session = web["session_id"]
    sms_reply = text_us(stack, standin, QUESTION, phone)
    assert sms_reply.endswith("Text YES to be told when we can answer this."), sms_reply
    opted_in = text_us(stack, standin, "YES", phone)
    assert opted_in.startswith("Thanks. We'll text you once when our guidance can answer your question.")
    message_id = send_mail(stack.smtp_port, QUESTION, "Summer food for my kids", sender="parent@example.org")
    first = stack.sink.reply_to(message_id)
    assert first is not None
    first_body = plain(first)
    assert "we will reply to this email to tell you" in first_body

    rows = ours(export(stack))  # the export takes in what the gateway has not yet
    assert set(rows) == {"sms", "email", "web"}, rows
    assert all(r["status"] == "new" and r["count"] == "1" for r in rows.values())
    assert {r["reason"] for r in rows.values()} <= {"no_match", "out_of_scope"}  # a programme nobody knows yet
    wait_until(lambda: all(r["cluster_id"] for r in ours(export(stack)).values()), 60, "the questions' clustering")
    assert len({r["cluster_id"] for r in ours(export(stack)).values()}) == 1

    # 2. An editor assigns its cluster to the page that will answer it.
    page_url = stack.site + NEW_PAGE
    cluster_url = assign_cluster(editor, page_url)
    assert {r["status"] for r in ours(export(stack)).values()} == {"needs_content"}

    # 3. The update is published and synced.
    apply_updates(stack.site_root)
    job = stack.sync()
    assert job["status"] == "succeeded", job
    version = job["index_version"]

    # 4. The items close themselves, citing the new page and version.
    def closed() -> bool:
        found = ours(export(stack))
        return all(r["status"] == "answered_by_update" for r in found.values()) and len(found) == 3

    wait_until(closed, 180, "the items closing themselves")
    for row in ours(export(stack)).values():
        assert (row["answered_by_url"], row["answered_in_version"]) == (page_url, version)
    cluster = editor.get(cluster_url)
    assert "Answered by an update" in cluster.text and f"Answered by {page_url} in index version {version}" in (
        unescape(cluster.text)
    )

    # 5. Each customer is told once: SMS through the stand-in, email in their own thread, web on the next visit.
    wait_until(lambda: any(page_url in m.body for m in standin.sent_to(phone)), 60, "the SMS notice")
    wait_until(lambda: notices(stack, message_id), 60, "the email notice")
    shown = web_visit(stack, session)  # the customer opens the web chat again, in the browser they asked from
    assert any(href == page_url for href in shown), shown
    time.sleep(8)  # several more passes of the loop: nobody is told twice
    told = [m for m in standin.sent_to(phone) if "Our guidance answers it now" in m.body]
    assert len(told) == 1, [m.body for m in standin.sent_to(phone)]
    assert sum(page_url in m.body for m in standin.sent_to(phone)) == 1
    (mail,) = notices(stack, message_id)
    assert mail["Subject"] == "Re: Summer food for my kids" and message_id in mail["References"]
    mail_body = plain(mail)
    assert page_url in mail_body and version in mail_body
    again = httpx.get(stack.gateway + "/api/chat/notices", params={"session_id": session}, timeout=30).json()
    assert again["notices"] == []


def test_the_export_has_a_question_just_asked_with_its_phone_number_redacted(
    product: tuple[Stack, TwilioStandin],
) -> None:
    stack, _ = product
    warm_up(stack)
    reply = stack.chat("What is the airspeed of an unladen swallow XXXXXX? my phone is 555-867-5309")
    assert not any(m["answered"] for m in reply["messages"])
    done = subprocess.run(
        [sys.executable, "-m", "channels.cli", "review", "export"],
        cwd=ROOT,
        env=loopback_only_env(stack.env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("id,channel,question,first_seen,last_seen,count,status")
    assert "unladen swallow" in done.stdout and "555-867-5309" not in done.stdout
