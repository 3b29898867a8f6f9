"""The staff sign-in in real headless Chromium: keyboard only, USWDS styles, and axe-core at phone and desktop widths.

The gateway runs under uvicorn on a free loopback port with a SQLite file in tmp_path (no Rasa is needed for the
staff pages). Screenshots (staff-login, staff-home, staff-audit; -375 at phone width) go to SCREENSHOTS
(tests/conftest.py; `make screenshots` refreshes docs/screenshots).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from channels.app import create_app
from channels.settings import get_settings
from tests.conftest import ROOT, SCREENSHOTS, free_port
from tests.integration.staff_support import PASSWORD, add_staff, use_staff_settings

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]
AXE = ROOT / "channels" / "widget" / "node_modules" / "axe-core" / "axe.min.js"
USWDS_CSS = ROOT / "channels" / "static" / "uswds" / "css" / "uswds.min.css"
SHOTS = SCREENSHOTS
EMAIL = "admin@agency.example"
WIDTHS = (375, 1280)


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The real gateway on a loopback port, with one admin account; yields its base URL."""
    settings = use_staff_settings(monkeypatch, tmp_path)
    port = free_port()
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    add_staff(settings, EMAIL, "admin")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.1 A/AA and best practice)."""
    page.evaluate(AXE.read_text())  # not add_script_tag: the gateway's CSP refuses an added inline script
    results = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"""
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def check_widths(page: Page, what: str, shot: str | None = None) -> None:
    """No serious or critical axe violation at phone and desktop widths, nor sideways scrolling on a phone."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)
        assert serious_violations(page) == [], f"{what} at {width}px"
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{what} scrolls sideways by {overflow}px at {width}px"
        if shot:
            SHOTS.mkdir(parents=True, exist_ok=True)
            name = f"{shot}.png" if width == 1280 else f"{shot}-{width}.png"
            page.screenshot(path=str(SHOTS / name), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def focused(page: Page) -> dict[str, str]:
    return dict(
        page.evaluate(
            "() => ({id: document.activeElement.id, text: document.activeElement.textContent.trim(),"
            " tag: document.activeElement.tagName})"
        )
    )


def tab_to(page: Page, *, element_id: str = "", text: str = "", limit: int = 15) -> None:
    """Press Tab until the element with this id (or this text) has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if (element_id and now["id"] == element_id) or (text and now["text"] == text):
            return
    raise AssertionError(f"Tab never reached {element_id or text!r}; the focus ended on {focused(page)}")


def test_sign_in_by_keyboard_alone_with_no_serious_accessibility_violations(page: Page, gateway: str) -> None:
    if not AXE.is_file():
        pytest.skip(f"axe-core is not installed at {AXE}: `make install` (npm ci in channels/widget) puts it there")
    assert USWDS_CSS.is_file(), f"{USWDS_CSS} is missing: `make install` builds the USWDS assets (channels/widget)"

    page.goto(gateway + "/staff/audit")  # a staff page: the browser is sent to sign in, and back afterwards
    assert page.url == gateway + "/staff/login?next=/staff/audit"
    expect(page.get_by_role("heading", name="Staff sign in")).to_be_visible()
    button_colour = page.evaluate("() => getComputedStyle(document.querySelector('.usa-button')).backgroundColor")
    assert button_colour == "rgb(0, 94, 162)", "the USWDS stylesheet did not apply (primary button colour)"
    check_widths(page, "the sign-in page", shot="staff-login")

    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip to main content", "the skip link is not the first thing Tab reaches"
    tab_to(page, element_id="email")
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "password"
    page.keyboard.type("not the right password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("don’t match an active staff account")
    check_widths(page, "the sign-in page with its error")

    tab_to(page, element_id="password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(gateway + "/staff/audit")  # back to the page first asked for
    expect(page.get_by_role("cell", name="login.failed")).to_be_visible()
    check_widths(page, "the audit log", shot="staff-audit")

    page.goto(gateway + "/staff/")
    expect(page.get_by_role("heading", name=f"Welcome, {EMAIL}")).to_be_visible()
    check_widths(page, "the staff home page", shot="staff-home")

    page.goto(gateway + "/staff/")
    tab_to(page, text="Sign out", limit=25)
    page.keyboard.press("Enter")
    page.wait_for_url(gateway + "/staff/login?done=signed_out")
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
