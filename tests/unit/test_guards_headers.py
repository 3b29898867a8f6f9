"""Security headers on every gateway response, and pages that need no 'unsafe-inline' to work."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import channels
from channels.app import create_app
from channels.guards.headers import INLINE_SCRIPT
from channels.settings import get_settings

AGENCY = "https://www.agency.example"
TEMPLATES = Path(channels.__file__).resolve().parent / "templates"
WIDGET_SRC = Path(channels.__file__).resolve().parent / "widget" / "src"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name, value in {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'assistant.db'}",
        "SYNC_WEBHOOK_TOKEN": "test-sync-token",
        "TWILIO_AUTH_TOKEN": "test-twilio-token",
        "PRIVACY_KEY": "test-privacy-key-0123456789",
        "WIDGET_ORIGINS": f"{AGENCY},http://127.0.0.1:8081",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def get(path: str, method: str = "GET", **kwargs: object) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(run())


def directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/staff/login"), ("GET", "/healthz"), ("POST", "/api/sync"), ("GET", "/nowhere")],
)
def test_every_response_has_nosniff_a_referrer_policy_and_a_csp_without_unsafe_inline(
    env: pytest.MonkeyPatch, method: str, path: str
) -> None:
    response = get(path, method)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("strict-origin-when-cross-origin", "same-origin")
    policy = directives(response)
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert policy["default-src"] == "default-src 'none'" and policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'" and "frame-ancestors" in policy


def test_staff_pages_may_not_be_framed_and_keep_their_own_referrer_policy(env: pytest.MonkeyPatch) -> None:
    page = get("/staff/login")
    assert page.status_code == 200
    assert directives(page)["frame-ancestors"] == "frame-ancestors 'none'"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"  # channels/staff/pages.py's, not the default
    assert len(page.headers.get_list("x-frame-options")) == 1  # set once, not twice


def test_the_widget_page_and_assets_may_be_framed_by_the_widget_origins_only(env: pytest.MonkeyPatch) -> None:
    for path in ("/", "/static/chat.css"):
        response = get(path)
        assert response.status_code == 200, path
        assert directives(response)["frame-ancestors"] == f"frame-ancestors 'self' {AGENCY} http://127.0.0.1:8081"
        assert "x-frame-options" not in response.headers  # it can't name origins; frame-ancestors decides
    env.setenv("WIDGET_ORIGINS", "*")
    get_settings.cache_clear()
    assert directives(get("/"))["frame-ancestors"] == "frame-ancestors *"


def test_refusals_carry_the_headers_too(env: pytest.MonkeyPatch) -> None:
    too_big = get("/api/chat", "POST", content=b"x" * 70_000, headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413
    assert too_big.headers["x-frame-options"] == "DENY" and "content-security-policy" in too_big.headers


def test_the_api_docs_page_allows_exactly_its_own_inline_scripts_by_hash(env: pytest.MonkeyPatch) -> None:
    docs = get("/api/docs")
    assert docs.status_code == 200
    scripts = INLINE_SCRIPT.findall(docs.content)
    assert scripts, "FastAPI's docs page has an inline script to allow"
    policy = docs.headers["content-security-policy"]
    for body in scripts:
        assert f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy


INLINE = {
    "an inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "a style element": re.compile(r"<style\b", re.IGNORECASE),
    "a style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "an event handler attribute": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "a javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def test_no_template_needs_unsafe_inline() -> None:
    found = [
        f"{path.relative_to(TEMPLATES)}: {what}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for what, pattern in INLINE.items()
        if pattern.search(path.read_text())
    ]
    assert not found, found
    assert len(list(TEMPLATES.rglob("*.html"))) > 10  # the scan saw the staff, editor and review pages


def test_the_widget_sets_no_style_attribute_or_inline_handler() -> None:
    code = "\n".join(p.read_text() for p in sorted(WIDGET_SRC.glob("*.js")))
    assert code, "the widget's sources are in channels/widget/src"
    for pattern in (r"\.style\s*=", r"setAttribute\(\s*['\"]style", r"setAttribute\(\s*['\"]on", r"innerHTML\s*="):
        assert not re.search(pattern, code), pattern
