"""The web chat page in real headless Chromium: ask, see the answer and its source link."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

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


def test_empty_question_is_not_sent(page: Page) -> None:
    page.get_by_role("button", name="Send").click()
    assert page.locator(".msg").count() == 0
