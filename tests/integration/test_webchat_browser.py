"""The embeddable web chat widget in real headless Chromium.

Most tests drive the real stack: the gateway's demo page (`GET /`, the widget embedded by its one tag), or
an agency page on another origin that embeds the same tag (Playwright answers that page's URL itself; the
widget, its assets and /api/chat are the real gateway's). A few tests need replies the real assistant can't
be made to give: markup in every field, a 503, a 413, a 429. There the built widget is served from
channels/static with /api/chat answered by the test (Playwright routes), so the test decides what the
server says.

Screenshots go to SCREENSHOTS (tests/conftest.py: build/screenshots, or docs/screenshots with `make screenshots`,
the pictures the README shows).
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Route, expect, sync_playwright

import channels
from bench.stack import ROOT
from channels.webchat.routes import templates
from tests.conftest import SCREENSHOTS
from tests.integration.conftest import Stack

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
    # The agency pages below are answered by Playwright itself, so Chromium can't place them in an address space
    # and would ask before they reach the gateway on loopback. A real agency page and gateway are both public.
    "--disable-features=LocalNetworkAccessChecks",
]
STATIC = Path(channels.__file__).resolve().parent / "static"
WIDGET_SRC = ROOT / "channels" / "widget"
AXE = WIDGET_SRC / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = SCREENSHOTS
ORIGIN = "http://chat.test"  # never resolved: every request to it is answered by the scripted route below
SITE = "http://127.0.0.1:8080"
STORE_KEY = "psa-chat:v1:"
RETRIES = 3  # RETRY_DELAYS_MS in channels/widget/src/api.js: a failed send is tried 3 more times

BURIAL = "How much is the Burial Allowance for a cremation?"
BURIAL_FOLLOW_UP = "what form do I fill out for that?"  # answered from the conversation: the burial form
AMBIGUOUS = "how much is the allowance?"  # the assistant asks which allowance (kind "clarify")
FAIR_HEARING = "How long do I have to ask for a fair hearing?"
SPANISH = "Me robaron la tarjeta Harvest, ¿cómo consigo otra?"

# Records every node added inside an aria-live region that was already in the page: what a screen reader
# would announce. History drawn before the widget joins the page is not announced.
LIVE_RECORDER = """
window.__announced = [];
new MutationObserver((records) => {
  for (const record of records) {
    const region = record.target.closest && record.target.closest('[aria-live], [role="log"], [role="status"]');
    if (!region) continue;
    for (const node of record.addedNodes) window.__announced.push((node.textContent || '').trim());
  }
}).observe(document, { childList: true, subtree: true, characterData: true });
"""
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'"
)
CSP_RECORDER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(LIVE_RECORDER)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, stack: Stack) -> Page:
    """The gateway's demo page, as a customer opens it."""
    page = context.new_page()
    page.goto(stack.gateway + "/")
    return page


def launcher(page: Page, name: str = "Ask a question") -> Any:
    return page.locator(".psa-chat__launcher").filter(has_text=name)


def open_chat(page: Page, name: str = "Ask a question") -> None:
    launcher(page, name).click()
    expect(page.locator(".psa-chat__input")).to_be_focused()


def ask(page: Page, text: str, label: str = "Your question") -> dict[str, Any]:
    """Type `text`, press Enter, and wait until its answer is drawn; the reply /api/chat sent."""
    before = page.locator(".psa-chat__msg--bot").count()
    with page.expect_response(lambda r: "/api/chat" in r.url and r.request.method == "POST", timeout=90_000) as info:
        box = page.get_by_label(label)
        box.fill(text)
        box.press("Enter")
    assert info.value.ok, f"/api/chat answered {info.value.status}: {info.value.text()}"
    reply: dict[str, Any] = info.value.json()
    expect(page.locator(".psa-chat__msg--bot")).to_have_count(before + len(reply["messages"]))
    return reply


def stored(page: Page, origin: str) -> dict[str, Any]:
    raw = page.evaluate("key => localStorage.getItem(key)", STORE_KEY + origin)
    return json.loads(raw) if raw else {}


def age_store(page: Page, origin: str, minutes: float) -> None:
    """Pretend the customer left the conversation `minutes` ago."""
    page.evaluate(
        """([key, minutes]) => {
             const saved = JSON.parse(localStorage.getItem(key));
             saved.savedAt = Date.now() - minutes * 60000;
             localStorage.setItem(key, JSON.stringify(saved));
           }""",
        [STORE_KEY + origin, minutes],
    )


def no_horizontal_overflow(page: Page) -> None:
    sizes = page.evaluate(
        """() => {
             const panel = document.querySelector('.psa-chat__panel');
             return {page: document.documentElement.scrollWidth, viewport: window.innerWidth,
                     panel: panel.scrollWidth, panelBox: panel.clientWidth,
                     right: Math.max(...Array.from(document.querySelectorAll('.psa-chat *'))
                                     .map(e => e.getBoundingClientRect().right))};
           }"""
    )
    assert sizes["page"] <= sizes["viewport"], sizes
    assert sizes["panel"] <= sizes["panelBox"], sizes
    assert sizes["right"] <= sizes["viewport"] + 0.5, sizes


def run_axe(page: Page) -> list[dict[str, Any]]:
    assert AXE.is_file(), "axe-core is missing: run make install (npm ci in channels/widget)"
    page.evaluate(AXE.read_text())  # not add_script_tag: the gateway's CSP refuses an added inline script
    results = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"""
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))


# --- the build ------------------------------------------------------------------------------------------


def test_the_built_assets_are_fresh_and_served(stack: Stack) -> None:
    sources = [WIDGET_SRC / "package.json", WIDGET_SRC / "package-lock.json", WIDGET_SRC / "build.mjs"]
    sources += sorted((WIDGET_SRC / "src").iterdir())
    built = [STATIC / "widget" / "widget.js", STATIC / "widget" / "widget.css", STATIC / "uswds/css/uswds.min.css"]
    missing = [str(p) for p in built if not p.is_file()]
    assert not missing, f"{missing} not built: run `make install` (or `make widget`)"
    newest_source = max(p.stat().st_mtime for p in sources)
    stale = [str(p) for p in built if p.stat().st_mtime < newest_source]
    assert not stale, f"{stale} are older than channels/widget's sources: run `make widget`"
    lock = json.loads((WIDGET_SRC / "package-lock.json").read_text())["packages"]
    package = json.loads((WIDGET_SRC / "package.json").read_text())
    for name, version in {**package["dependencies"], **package["devDependencies"]}.items():
        assert version[0].isdigit(), f"{name} is not pinned to an exact version in package.json"
        assert lock[f"node_modules/{name}"]["version"] == version, name

    for path, kind in [
        ("/static/widget/widget.js", "javascript"),
        ("/static/widget/widget.css", "css"),
        ("/static/uswds/css/uswds.min.css", "css"),
        ("/static/uswds/js/uswds.min.js", "javascript"),
        ("/static/uswds/img/usa-icons/close.svg", "svg"),
        ("/static/uswds/fonts/source-sans-pro/sourcesanspro-regular-webfont.woff2", "woff2"),
    ]:
        response = httpx.get(stack.gateway + path, timeout=10)
        assert response.status_code == 200, path
        assert kind in response.headers["content-type"] or path.endswith(".woff2"), (path, response.headers)


def test_the_demo_page_embeds_the_widget_with_one_tag_and_no_inline_code(stack: Stack) -> None:
    html = httpx.get(stack.gateway + "/", timeout=10).text
    assert html.count("<script") == 1 and '<script src="/static/widget/widget.js" defer></script>' in html
    assert "style=" not in html and "<style" not in html and not re.search(r"\son[a-z]+\s*=", html)
    assert 'lang="en"' in html and "usa-header" in html and "psa-chat" not in html  # the widget adds its own


# --- the real stack ---------------------------------------------------------------------------------------


def test_an_answer_shows_its_source_link_and_date_and_survives_a_reload(page: Page, stack: Stack) -> None:
    open_chat(page)
    reply = ask(page, BURIAL)
    answer = reply["messages"][0]
    assert answer["answered"] and answer["last_updated"], answer
    bot = page.locator(".psa-chat__msg--bot").last
    link = bot.get_by_role("link")
    expect(link).to_have_count(1)
    assert link.get_attribute("href") == answer["source_url"]
    assert answer["source_url"].startswith(stack.site + "/allowances/burial-allowance")
    expect(bot.locator(".psa-chat__source")).to_have_text(f"Source: {answer['source_title']}")
    expect(bot.locator(".psa-chat__updated")).to_contain_text("Updated ")
    assert bot.locator("time").get_attribute("datetime") == answer["last_updated"][:10]
    expect(page.locator(".psa-chat__msg--me")).to_have_text(["You said: " + BURIAL])
    expect(page.locator(".psa-chat__input")).to_be_focused()  # focus stays in the box after sending
    assert page.evaluate("window.__announced.length") > 0  # the answer went into the live region
    session = reply["session_id"]
    assert stored(page, stack.gateway)["sessionId"] == session

    age_store(page, stack.gateway, 31)  # an idle gap of more than half an hour, then a reload
    page.reload()
    expect(page.locator(".psa-chat__panel")).to_be_visible()  # it was open: it still is
    expect(page.locator(".psa-chat__msg")).to_have_count(2)
    expect(page.locator(".psa-chat__msg--bot").get_by_role("link")).to_have_attribute("href", answer["source_url"])
    assert page.evaluate("window.__announced") == []  # history is shown, not announced again

    with page.expect_request(lambda r: "/api/chat" in r.url and r.method == "POST") as request:
        follow = ask(page, BURIAL_FOLLOW_UP)
    assert dict(request.value.post_data_json or {})["session_id"] == session
    assert follow["session_id"] == session
    assert "FB-262" in follow["messages"][0]["text"]  # the assistant remembered the topic
    expect(page.locator(".psa-chat__msg--bot").last).to_contain_text("FB-262")


def test_a_conversation_left_longer_than_rasa_keeps_it_starts_afresh(page: Page, stack: Stack) -> None:
    open_chat(page)
    ask(page, BURIAL)
    age_store(page, stack.gateway, 5 * 60)
    page.reload()
    expect(page.locator(".psa-chat__msg")).to_have_count(0)
    assert stored(page, stack.gateway) == {}


def test_rasa_keeps_a_conversation_open_past_the_widgets_idle_gap() -> None:
    session = (ROOT / "assistant" / "domain" / "session.yml").read_text()
    minutes = int(session.split("session_expiration_time:")[1].split()[0])
    assert minutes == 0 or minutes >= 31, "a 30-minute idle gap would start a new Rasa session"
    assert "carry_over_slots_to_new_session: true" in session
    source = (WIDGET_SRC / "src" / "store.js").read_text()
    assert f"KEEP_MINUTES = {minutes};" in source, "the widget keeps history as long as Rasa keeps the session"


def test_a_clarifications_choices_are_buttons_that_answer(page: Page, stack: Stack) -> None:
    open_chat(page)
    reply = ask(page, AMBIGUOUS)
    asked = reply["messages"][0]
    assert asked["kind"] == "clarify", asked
    group = page.get_by_role("group", name=asked["text"])
    buttons = group.get_by_role("button")
    expect(buttons).to_have_text([c["title"] for c in asked["choices"]])
    expect(page.locator(".psa-chat__input")).to_be_focused()
    shot(page, "widget-clarify.png")

    second = asked["choices"][1]
    with page.expect_request(lambda r: "/api/chat" in r.url and r.method == "POST") as request:
        group.get_by_role("button", name=second["title"]).click()
    sent = request.value.post_data_json
    assert re.fullmatch(r"[0-9a-f]{32}", sent.pop("idempotency_key")), "every message carries a fresh key"
    assert sent == {"session_id": reply["session_id"], "text": second["payload"]}
    expect(page.locator(".psa-chat__msg--me").last).to_have_text("You said: " + second["title"])
    answer = page.locator(".psa-chat__msg--bot").last
    expect(answer.get_by_role("link")).to_have_count(1, timeout=60_000)
    source = answer.locator(".psa-chat__source").inner_text()
    assert second["title"].split(":")[0].lower() in source.lower(), (second, source)
    for button in buttons.all():  # a choice answers the question it came with, once
        expect(button).to_be_disabled()
    expect(page.locator(".psa-chat__input")).to_be_focused()


def test_feedback_buttons_send_the_rating_and_show_the_thanks(page: Page, stack: Stack) -> None:
    open_chat(page)
    reply = ask(page, FAIR_HEARING)
    feedback = reply["messages"][0]["feedback"]
    group = page.get_by_role("group", name=feedback["prompt"])
    yes = next(b for b in feedback["buttons"] if b["title"] == "Yes")
    with page.expect_response(lambda r: "/api/chat" in r.url and r.request.method == "POST") as info:
        group.get_by_role("button", name="Yes").click()
    thanks = info.value.json()["messages"][0]
    assert thanks["kind"] == "feedback" and dict(info.value.request.post_data_json or {})["text"] == yes["payload"]
    expect(page.locator(".psa-chat__msg--bot").last).to_have_text("Assistant: " + thanks["text"])
    expect(page.locator(".psa-chat__msg--me").last).to_have_text("You said: Yes")
    expect(group.get_by_role("button", name="Yes")).to_be_disabled()


def test_email_me_this_sends_the_answer_with_a_code_after_consent(page: Page, stack: Stack) -> None:
    open_chat(page)
    answer = ask(page, BURIAL)["messages"][0]
    share = page.locator(".psa-chat__share:not([hidden])")
    expect(share).to_have_count(1)  # only under the latest answer
    share.locator("summary").click()
    share.locator("label.usa-radio__label", has_text="Email").click()  # USWDS draws its own radio over the input
    expect(share.get_by_label("Email", exact=True)).to_be_checked()
    address = f"widget-{uuid.uuid4().hex[:8]}@example.org"
    share.get_by_label("Email address").fill(address)
    share.get_by_role("button", name="Send it to me").click()
    expect(share.get_by_role("status")).to_have_text("Tick the box to agree first.")
    assert not [m for m in stack.sink.messages if address in str(m["To"])]  # nothing goes without consent
    share.locator("label.usa-checkbox__label", has_text="I agree to get this answer").click()
    expect(share.get_by_label(re.compile("^I agree to get this answer"))).to_be_checked()
    with page.expect_response(lambda r: r.url.endswith("/api/chat/send") and r.request.method == "POST") as info:
        share.get_by_role("button", name="Send it to me").click()
    assert info.value.status == 202, info.value.text()
    expect(share.get_by_role("status")).to_contain_text(f"We're emailing the answer to {address}, with a code")
    end = time.monotonic() + 60
    mailed = None
    while mailed is None and time.monotonic() < end:
        mailed = next((m for m in stack.sink.messages if address in str(m["To"])), None)
        time.sleep(0.2)
    assert mailed is not None, "the answer was not emailed"
    body = mailed.get_body(preferencelist=("plain",))
    text = body.get_content() if body else ""
    assert answer["source_url"] in text and re.search(r"\b[A-Z0-9]{6}\b", text), text


def test_the_interface_follows_the_assistant_into_spanish(page: Page) -> None:
    open_chat(page)
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    reply = ask(page, SPANISH)
    assert reply["messages"][0]["lang"] == "es", reply
    bot = page.locator(".psa-chat__msg--bot").last
    expect(bot).to_have_attribute("lang", "es")
    expect(bot.locator(".psa-chat__source")).to_contain_text("Fuente: ")
    expect(bot.locator(".psa-chat__updated")).to_contain_text("Actualizado el ")
    expect(page.get_by_role("button", name="Enviar")).to_be_visible()
    expect(page.get_by_label("Su pregunta")).to_be_focused()
    expect(page.locator(".psa-chat")).to_have_attribute("lang", "es")


def agency_page(lang: str, extra: str = "") -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Agencia</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        f"<body><main><h1>Agency page</h1><p>Content.</p></main>{extra}</body></html>"
    )


def test_a_spanish_agency_page_on_its_own_origin_gets_spanish_words(context: BrowserContext, stack: Stack) -> None:
    page = context.new_page()
    tag = f'<script src="{stack.gateway}/static/widget/widget.js" data-title="Pregunte a la Agencia" defer></script>'
    url = stack.site + "/embed/es.html"  # the agency's own origin (WIDGET_ORIGINS defaults to it)
    page.route(url, lambda route: route.fulfill(content_type="text/html", body=agency_page("es", tag)))
    page.goto(url)
    open_chat(page, "Pregunte a la Agencia")
    expect(page.get_by_role("heading", name="Pregunte a la Agencia")).to_be_visible()
    expect(page.get_by_role("button", name="Empezar de nuevo")).to_be_visible()
    expect(page.get_by_label("Su pregunta")).to_have_attribute("placeholder", "Por ejemplo: ¿cómo apelo una decisión?")
    links = page.evaluate("() => Array.from(document.querySelectorAll('link[rel=stylesheet]')).map(l => l.href)")
    assert links == [f"{stack.gateway}/static/uswds/css/uswds.min.css", f"{stack.gateway}/static/widget/widget.css"]
    reply = ask(page, SPANISH, label="Su pregunta")  # cross-origin: CORS from the gateway lets it through
    assert reply["messages"][0]["answered"]
    expect(page.locator(".psa-chat__msg--bot").last.locator(".psa-chat__source")).to_contain_text("Fuente: ")
    loaded = page.evaluate(
        """async () => (await document.fonts.load('16px "Source Sans Pro Web"'))
                         .filter(f => f.status === 'loaded').length"""
    )
    assert loaded > 0, "the USWDS font from the gateway did not load on the agency's page (CORS on /static/)"


def test_a_page_on_an_origin_not_allowed_gets_an_error_that_says_what_to_do(
    context: BrowserContext, stack: Stack
) -> None:
    page = context.new_page()
    tag = f'<script src="{stack.gateway}/static/widget/widget.js" defer></script>'
    url = "http://127.0.0.1:9/elsewhere.html"  # a port that is not the agency site's: another origin
    page.route(url, lambda route: route.fulfill(content_type="text/html", body=agency_page("en", tag)))
    page.goto(url)
    open_chat(page)
    box = page.get_by_label("Your question")
    box.fill("How long do I have to ask for a fair hearing?")
    box.press("Enter")
    error = page.locator(".psa-chat__msg--error")
    expect(error).to_have_text(
        "We couldn't reach the assistant. Check your internet connection, then send your question again.",
        timeout=30_000,
    )
    expect(box).to_have_value("How long do I have to ask for a fair hearing?")  # ready to send again


def test_markup_in_a_question_is_shown_as_text(page: Page) -> None:
    dialogs: list[str] = []

    def dialog(d: Dialog) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    open_chat(page)
    question = '<img src=x onerror="alert(1)"><script>window.pwned=1</script> hello'
    ask(page, question)
    expect(page.locator(".psa-chat__msg--me")).to_have_text("You said: " + question)
    assert page.locator(".psa-chat img, .psa-chat script").count() == 0
    assert page.evaluate("window.pwned") is None
    assert dialogs == []


def test_keyboard_only(page: Page) -> None:
    for _ in range(30):  # Tab through the page to the launcher
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('psa-chat__launcher')"):
            break
    else:
        raise AssertionError("Tab never reached the chat button")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "the focused chat button shows no focus ring"
    page.keyboard.press("Enter")
    box = page.locator(".psa-chat__input")
    expect(box).to_be_focused()
    page.keyboard.type("How long do I have")
    page.keyboard.press("Shift+Enter")  # a new line, not a send
    page.keyboard.type("to ask for a fair hearing?")
    expect(box).to_have_value("How long do I have\nto ask for a fair hearing?")
    assert page.locator(".psa-chat__msg").count() == 0
    with page.expect_response(lambda r: "/api/chat" in r.url and r.request.method == "POST", timeout=90_000):
        page.keyboard.press("Enter")
    no = page.get_by_role("button", name="No")
    expect(no).to_be_enabled()
    expect(box).to_be_focused()

    page.keyboard.press("Shift+Tab")  # the newest answer's "Email me this", then its buttons, come before the box
    expect(page.locator(".psa-chat__share:not([hidden]) summary")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(no).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") not in ("", "none")
    with page.expect_response(lambda r: "/api/chat" in r.url and r.request.method == "POST", timeout=90_000):
        page.keyboard.press("Enter")
    expect(page.locator(".psa-chat__msg--me").last).to_have_text("You said: No")
    expect(page.locator(".psa-chat__msg--bot")).to_have_count(2)
    expect(box).to_be_focused()

    page.keyboard.press("Escape")  # closes the panel, back to the button: no trap
    expect(page.locator(".psa-chat__panel")).to_be_hidden()
    expect(page.locator(".psa-chat__launcher")).to_be_focused()
    expect(page.locator(".psa-chat__launcher")).to_have_attribute("aria-expanded", "false")


def test_start_over_forgets_the_conversation(page: Page, stack: Stack) -> None:
    open_chat(page)
    first = ask(page, BURIAL)["session_id"]
    page.get_by_role("button", name="Start over").click()
    expect(page.locator(".psa-chat__msg")).to_have_count(0)
    expect(page.locator(".psa-chat__status")).to_have_text("You started a new conversation.")
    expect(page.locator(".psa-chat__input")).to_be_focused()
    with page.expect_request(lambda r: "/api/chat" in r.url and r.method == "POST") as request:
        second = ask(page, BURIAL_FOLLOW_UP)
    assert "session_id" not in dict(request.value.post_data_json or {})
    assert second["session_id"] != first
    assert "FB-262" not in second["messages"][0]["text"]  # a new conversation has no topic to lean on


@pytest.mark.parametrize("width", [375, 1280])
def test_no_serious_accessibility_violations_with_a_conversation(browser: Browser, stack: Stack, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 812 if width < 600 else 800})
    try:
        page = context.new_page()
        page.goto(stack.gateway + "/")
        assert run_axe(page) == [], "the demo page, chat closed"
        open_chat(page)
        ask(page, AMBIGUOUS)  # choices, then an answer with its link, date and "Was this helpful?"
        ask(page, FAIR_HEARING)
        shot(page, f"widget-{width}.png")
        assert run_axe(page) == []
    finally:
        context.close()


@pytest.mark.parametrize(("width", "height"), [(320, 640), (640, 400)])  # a phone; 1280x800 at 200% zoom
def test_narrow_and_zoomed_windows_have_no_horizontal_scroll(
    browser: Browser, stack: Stack, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.goto(stack.gateway + "/")
        no_horizontal_overflow_page = page.evaluate("document.documentElement.scrollWidth")
        assert no_horizontal_overflow_page <= width
        open_chat(page)
        ask(page, BURIAL + " " + "x" * 120)  # a long unbroken word too
        no_horizontal_overflow(page)
        box = page.locator(".psa-chat__input").bounding_box()
        send = page.get_by_role("button", name="Send").bounding_box()
        assert box and send and send["x"] + send["width"] <= width and box["width"] >= 120, (box, send)
    finally:
        context.close()


# --- the widget with scripted replies ---------------------------------------------------------------------


@dataclass
class Scripted:
    """The demo page and built widget, with /api/chat answered in order from `replies` (a dict, or a tuple
    (status, body, headers)); `sent` is what arrived. `hold` keeps the next reply until `release()`."""

    page: Page
    replies: list[Any] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    hold: bool = False
    held: list[Route] = field(default_factory=list)

    def serve(self, route: Route) -> None:
        request = route.request
        path = request.url.removeprefix(ORIGIN).split("?")[0]
        if path == "/":
            html = templates.get_template("chat.html").render(request=SimpleNamespace(base_url=ORIGIN + "/"))
            route.fulfill(content_type="text/html", body=html)
        elif path.startswith("/static/") and (STATIC / path.removeprefix("/static/")).is_file():
            route.fulfill(path=STATIC / path.removeprefix("/static/"))
        elif path == "/api/chat" and request.method == "POST":
            self.sent.append(dict(request.post_data_json or {}))
            if self.hold:
                self.held.append(route)
                return
            self.answer(route)
        else:
            route.fulfill(status=404, body="not found")

    def answer(self, route: Route) -> None:
        if not self.replies:
            route.fulfill(status=500, json={"error": "the test queued no reply"})
            return
        reply = self.replies.pop(0)
        if reply == "abort":
            route.abort("internetdisconnected")
        elif isinstance(reply, tuple):
            status, body, headers = reply
            route.fulfill(status=status, json=body, headers=headers)
        else:
            route.fulfill(json={"session_id": "routed-session", "messages": reply})

    def release(self) -> None:
        self.hold = False
        while self.held:
            self.answer(self.held.pop(0))

    def ask(self, text: str) -> None:
        box = self.page.get_by_label("Your question")
        box.fill(text)
        box.press("Enter")


@pytest.fixture
def scripted(browser: Browser) -> Iterator[Scripted]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    widget = Scripted(page)

    def dialog(d: Dialog) -> None:
        widget.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.route(f"{ORIGIN}/**", widget.serve)
    page.goto(ORIGIN + "/")
    open_chat(page)
    yield widget
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


def test_markup_in_every_field_of_a_reply_is_shown_as_text(scripted: Scripted) -> None:
    img = '<img src=x onerror="window.pwned=1;alert(1)">'
    scripted.replies.append(
        [
            message(
                text=f"{img} <b>bold</b> answer",
                answered=True,
                source_url=f"{SITE}/a.html",
                source_title="<b>Title</b><script>window.pwned=2</script>",
                last_updated="<i>today</i>",
                feedback={"prompt": "<b>Helpful?</b>", "buttons": [{"title": f"{img}Yes", "payload": "/feedback"}]},
            ),
            message(text="a link that is not http", answered=True, source_url="javascript:window.pwned=3"),
            message(
                kind="clarify<script>",
                text="<script>window.pwned=4</script>Which?",
                choices=[{"n": 1, "title": f"<b>One</b>{img}", "url": "javascript:alert(1)", "payload": "1"}],
            ),
        ]
    )
    scripted.ask("anything")
    page = scripted.page
    bots = page.locator(".psa-chat__msg--bot")
    expect(bots).to_have_count(3)
    expect(bots.nth(0).locator(".psa-chat__text")).to_have_text(f"{img} <b>bold</b> answer")
    expect(bots.nth(0).locator(".psa-chat__source")).to_have_text("Source: <b>Title</b><script>window.pwned=2</script>")
    expect(bots.nth(0).locator(".psa-chat__updated")).to_have_text("Updated <i>today</i>")
    expect(bots.nth(0).locator(".psa-chat__feedback-prompt")).to_have_text("<b>Helpful?</b>")
    expect(page.get_by_role("button", name=f"{img}Yes")).to_have_count(1)
    expect(page.get_by_role("button", name=f"<b>One</b>{img}")).to_have_count(1)
    expect(bots.nth(2).locator(".psa-chat__text")).to_have_text("<script>window.pwned=4</script>Which?")
    assert page.locator(".psa-chat img, .psa-chat b, .psa-chat i, .psa-chat script").count() == 0
    links = page.locator(".psa-chat__log a")
    expect(links).to_have_count(1)  # the javascript: source got no link
    assert links.get_attribute("href") == f"{SITE}/a.html"
    page.reload()  # and the same from the saved history
    expect(page.locator(".psa-chat__msg--bot")).to_have_count(3)
    assert page.locator(".psa-chat img, .psa-chat b, .psa-chat i, .psa-chat script").count() == 0
    assert page.evaluate("window.pwned") is None
    assert scripted.dialogs == []


def test_an_empty_question_is_not_sent(scripted: Scripted) -> None:
    status = scripted.page.locator(".psa-chat__status")
    scripted.ask("   \n  ")
    expect(status).to_have_text("Please type a question first.")
    assert scripted.page.locator(".psa-chat__msg").count() == 0 and scripted.sent == []
    scripted.replies.append([message(text="Hello!", kind="text", lang=None, index_version=None)])
    scripted.ask("hello")
    expect(scripted.page.locator(".psa-chat__msg--bot")).to_have_text("Assistant: Hello!")
    assert [{k: v for k, v in body.items() if k != "idempotency_key"} for body in scripted.sent] == [{"text": "hello"}]
    assert re.fullmatch(r"[0-9a-f]{32}", scripted.sent[0]["idempotency_key"])


def test_the_typing_indicator_is_announced_and_still_when_motion_is_reduced(scripted: Scripted) -> None:
    page = scripted.page
    status = page.locator(".psa-chat__status")
    assert status.get_attribute("role") == "status"
    dots = page.locator(".psa-chat__dots span").first
    scripted.hold = True
    scripted.replies.append([message(text="Here you are.", kind="text")])
    scripted.ask("question")
    expect(status).to_have_text("The assistant is looking that up…")
    expect(page.locator(".psa-chat__dots")).to_be_visible()
    assert dots.evaluate("d => getComputedStyle(d).animationName") == "psa-chat-pulse"
    page.emulate_media(reduced_motion="reduce")
    assert dots.evaluate("d => getComputedStyle(d).animationName") == "none"
    scripted.release()
    expect(page.locator(".psa-chat__msg--bot")).to_have_count(1)
    expect(status).to_have_text("")
    expect(page.locator(".psa-chat__dots")).to_be_hidden()


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        (
            (503, {"error": "the assistant is not available right now; try again in a moment"}, {}),
            "The assistant isn't available right now. Please try again in a minute.",
        ),
        (
            (413, {"error": "text is 2500 characters; at most 2000 are accepted"}, {}),
            "That message is too long. Please shorten it (at most 2000 characters) and send it again.",
        ),
        (
            (429, {"error": "too many messages; try again in 30 seconds"}, {"Retry-After": "30"}),
            "You've sent a lot of messages in a short time. Please wait 30 seconds and try again.",
        ),
        ("abort", "We couldn't reach the assistant. Check your internet connection, then send your question again."),
    ],
)
def test_errors_say_what_to_do_and_keep_the_question(scripted: Scripted, reply: Any, shown: str) -> None:
    """A 503 or no reply at all is first sent again (RETRY_DELAYS_MS in api.js: 1, 3 and 8 s) with the same
    key; only when every try fails does the customer see the error."""
    page = scripted.page
    tries = 1 + RETRIES if reply == "abort" or reply[0] == 503 else 1
    scripted.replies += [reply] * tries + [[message(text="Answered now.", kind="text")]]
    scripted.ask("my question")
    expect(page.locator(".psa-chat__msg--error")).to_have_text(shown, timeout=30_000)
    assert len(scripted.sent) == tries and len({body["idempotency_key"] for body in scripted.sent}) == 1
    box = page.get_by_label("Your question")
    expect(box).to_have_value("my question")
    expect(box).to_be_focused()
    box.press("Enter")  # one key sends it again
    expect(page.locator(".psa-chat__msg--bot")).to_have_text("Assistant: Answered now.")
    page.reload()  # the failed try is not part of the saved conversation
    expect(page.locator(".psa-chat__msg")).to_have_text(["You said: my question", "Assistant: Answered now."])


def test_a_lost_reply_is_sent_again_with_the_same_key_and_answered_without_an_error(scripted: Scripted) -> None:
    page = scripted.page
    scripted.replies += ["abort", (503, {"error": "not available"}, {}), [message(text="Answered now.", kind="text")]]
    scripted.ask("my question")
    expect(page.locator(".psa-chat__msg--bot")).to_have_text("Assistant: Answered now.", timeout=15_000)
    assert page.locator(".psa-chat__msg--error").count() == 0
    assert [body["text"] for body in scripted.sent] == ["my question"] * 3
    assert len({body["idempotency_key"] for body in scripted.sent}) == 1


def test_the_page_works_under_a_strict_content_security_policy(browser: Browser, stack: Stack) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.add_init_script(CSP_RECORDER)

        def with_csp(route: Route) -> None:
            response = route.fetch()
            route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})

        page.route(stack.gateway + "/", with_csp)
        page.goto(stack.gateway + "/")
        open_chat(page)
        ask(page, BURIAL)
        expect(page.locator(".psa-chat__msg--bot").get_by_role("link")).to_have_count(1)
        page.wait_for_timeout(300)
        assert page.evaluate("window.__csp") == []
        assert page.locator("[style]").count() == 0
    finally:
        context.close()
