"""The web chat page in real headless Chromium.

Two kinds of test: the real stack (ask, see the answer and its source link), and the widget on its own, its
page and script served from channels/ with /api/chat answered by the test (Playwright routes), so the test
decides exactly what the server says: markup in every field, a clarification's choices, feedback buttons.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, Route, expect, sync_playwright

import channels
from channels.webchat.routes import templates
from tests.integration.conftest import QUESTIONS, Stack

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STATIC = Path(channels.__file__).resolve().parent / "static"
ORIGIN = "http://chat.test"  # never resolved: every request to it is answered by the route below
SITE = "http://127.0.0.1:8080"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(stack.gateway + "/")
    yield page
    context.close()


@dataclass
class Widget:
    """The chat page with a scripted /api/chat: `replies` are answered in order, `sent` is what arrived."""

    page: Page
    replies: list[list[dict[str, Any]]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def serve(self, route: Route) -> None:
        request = route.request
        path = request.url.removeprefix(ORIGIN).split("?")[0]
        if path == "/":
            route.fulfill(content_type="text/html", body=templates.get_template("chat.html").render())
        elif path.startswith("/static/") and (STATIC / path.removeprefix("/static/")).is_file():
            route.fulfill(path=STATIC / path.removeprefix("/static/"))
        elif path == "/api/chat" and request.method == "POST":
            self.sent.append(dict(request.post_data_json or {}))
            if not self.replies:
                route.fulfill(status=500, json={"error": "the test queued no reply"})
                return
            route.fulfill(json={"session_id": "routed-session", "messages": self.replies.pop(0)})
        else:
            route.fulfill(status=404, body="not found")

    def ask(self, text: str) -> None:
        self.page.get_by_label("Your question").fill(text)
        self.page.get_by_role("button", name="Send").click()


@pytest.fixture
def widget(browser: Browser) -> Iterator[Widget]:
    context = browser.new_context()
    page = context.new_page()
    scripted = Widget(page)

    def dialog(d: Dialog) -> None:
        scripted.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.route(f"{ORIGIN}/**", scripted.serve)
    page.goto(ORIGIN + "/")
    yield scripted
    context.close()


def message(**fields: Any) -> dict[str, Any]:
    base = {
        "text": "",
        "answered": False,
        "source_url": None,
        "source_title": None,
        "index_version": "v1",
        "last_updated": None,
        "kind": "answer",
        "lang": "en",
        "choices": [],
        "feedback": None,
    }
    return base | fields


CLARIFY = message(
    kind="clarify",
    text="I found a few pages that could answer that. Which one do you mean?",
    choices=[
        {"n": n, "title": title, "url": f"{SITE}/allowances/{n}.html", "payload": str(n)}
        for n, title in enumerate(["Burial Allowance", "Funeral Costs Help", "Survivor Benefits"], start=1)
    ],
)
FEEDBACK = {
    "prompt": "Was this helpful?",
    "buttons": [
        {"title": "Yes", "payload": '/feedback{"helpful": "yes"}'},
        {"title": "No", "payload": '/feedback{"helpful": "no"}'},
    ],
}
ANSWER = message(
    text="The burial allowance pays up to $1,500 towards funeral costs.",
    answered=True,
    source_url=f"{SITE}/allowances/1.html",
    source_title="Burial Allowance",
    feedback=FEEDBACK,
)


def test_asking_shows_the_answer_and_its_source(page: Page, stack: Stack) -> None:
    case = QUESTIONS["questions"][1]
    page.get_by_label("Your question").fill(case["question"])
    page.get_by_role("button", name="Send").click()
    link = page.locator(".msg.bot a.source")
    expect(link).to_have_count(1, timeout=60_000)
    assert link.get_attribute("href") == stack.site + case["path"]
    expect(page.locator(".msg.me")).to_have_text(case["question"])


def test_enter_sends_and_markup_is_shown_as_text(page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    box = page.get_by_label("Your question")
    box.fill('<img src=x onerror="alert(1)"> hello')
    box.press("Enter")
    expect(page.locator(".msg.bot")).to_have_count(1, timeout=60_000)
    expect(page.locator(".msg.me")).to_have_text('<img src=x onerror="alert(1)"> hello')
    assert page.locator(".msg img").count() == 0
    assert dialogs == []


def test_markup_in_every_field_of_a_reply_is_shown_as_text(widget: Widget) -> None:
    img = '<img src=x onerror="window.pwned=1;alert(1)">'
    widget.replies.append(
        [
            message(
                text=f"{img} <b>bold</b> answer",
                answered=True,
                source_url=f"{SITE}/a.html",
                source_title="<b>Title</b><script>window.pwned=2</script>",
                last_updated="<i>today</i>",
                feedback={
                    "prompt": "<b>Helpful?</b>",
                    "buttons": [{"title": f"{img}Yes", "payload": "/feedback"}],
                },
            ),
            message(text="a link that is not http", answered=True, source_url="javascript:window.pwned=3"),
            message(
                kind="clarify",
                text="<script>window.pwned=4</script>Which?",
                choices=[{"n": 1, "title": f"<b>One</b>{img}", "url": "javascript:alert(1)", "payload": "1"}],
            ),
        ]
    )
    widget.ask("anything")
    bots = widget.page.locator(".msg.bot")
    expect(bots).to_have_count(3)
    expect(bots.nth(0).locator(".text")).to_have_text(f"{img} <b>bold</b> answer")
    expect(bots.nth(0).locator("a.source")).to_have_text("Source: <b>Title</b><script>window.pwned=2</script>")
    expect(bots.nth(0).locator(".feedback-prompt")).to_have_text("<b>Helpful?</b>")
    expect(widget.page.get_by_role("button", name=f"{img}Yes")).to_have_count(1)
    expect(widget.page.get_by_role("button", name=f"<b>One</b>{img}")).to_have_count(1)
    expect(bots.nth(2).locator(".text")).to_have_text("<script>window.pwned=4</script>Which?")
    assert widget.page.locator("#chat-log img, #chat-log b, #chat-log i, #chat-log script").count() == 0
    links = widget.page.locator("#chat-log a")
    expect(links).to_have_count(1)  # the javascript: source got no link
    assert links.get_attribute("href") == f"{SITE}/a.html"
    assert widget.page.evaluate("window.pwned") is None
    assert widget.dialogs == []


def test_empty_question_is_not_sent(widget: Widget) -> None:
    status = widget.page.locator("#chat-status")
    widget.ask("   \n  ")  # passes the textarea's `required`: only the script's own check stops it
    expect(status).to_have_text("Please type a question first.")
    status.evaluate("s => { s.textContent = ''; }")
    widget.page.locator("#chat-input").evaluate("box => box.removeAttribute('required')")
    widget.ask("")
    expect(status).to_have_text("Please type a question first.")
    assert widget.page.locator(".msg").count() == 0
    assert widget.sent == []
    widget.replies.append([message(text="Hello!", kind="text", lang=None, index_version=None)])
    widget.ask("hello")  # and the same page does send a real question
    expect(widget.page.locator(".msg.bot")).to_have_text("Hello!")
    assert widget.sent == [{"text": "hello"}]


def test_a_clarifications_buttons_send_their_payload(widget: Widget) -> None:
    page = widget.page
    widget.replies += [[CLARIFY], [ANSWER], [message(kind="feedback", text="Thank you for telling us.")]]
    widget.ask("help with a burial")
    group = page.get_by_role("group", name=CLARIFY["text"])
    buttons = group.get_by_role("button")
    expect(buttons).to_have_text(["Burial Allowance", "Funeral Costs Help", "Survivor Benefits"])
    assert buttons.evaluate_all("bs => bs.map(b => b.tagName + ':' + b.type)") == ["BUTTON:button"] * 3
    group.get_by_role("button", name="Funeral Costs Help").click()

    expect(page.locator(".msg.me").last).to_have_text("Funeral Costs Help")
    expect(page.locator("a.source")).to_have_text("Source: Burial Allowance")
    assert widget.sent[1] == {"session_id": "routed-session", "text": "2"}
    for button in buttons.all():  # a choice answers the question it came with, once
        expect(button).to_be_disabled()

    page.get_by_role("group", name="Was this helpful?").get_by_role("button", name="Yes").click()
    expect(page.locator(".msg.bot").last).to_have_text("Thank you for telling us.")
    expect(page.locator(".msg.me").last).to_have_text("Yes")
    assert widget.sent[2] == {"session_id": "routed-session", "text": '/feedback{"helpful": "yes"}'}
    assert page.locator("#chat-log").get_attribute("aria-live") == "polite"


def test_a_spanish_reply_is_marked_as_spanish(widget: Widget) -> None:
    spanish = ANSWER | {
        "lang": "es",
        "text": "El subsidio paga hasta $1,500.",
        "feedback": {"prompt": "¿Le fue útil?", "buttons": [{"title": "Sí", "payload": "/feedback"}]},
    }
    widget.replies.append([spanish])
    widget.ask("¿ayuda para el entierro?")
    bot = widget.page.locator(".msg.bot")
    expect(bot).to_have_attribute("lang", "es")
    expect(bot.locator("a.source")).to_have_text("Fuente: Burial Allowance")
    expect(widget.page.get_by_role("group", name="¿Le fue útil?").get_by_role("button", name="Sí")).to_be_visible()
