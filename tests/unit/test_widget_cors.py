"""WIDGET_ORIGINS: the pages that may embed the widget get CORS answers on /api/chat and /static/, no others."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from channels.app import create_app
from channels.settings import Settings, get_settings

AGENCY = "https://www.agency.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name, value in {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'assistant.db'}",
        "SYNC_WEBHOOK_TOKEN": "test-sync-token",
        "TWILIO_AUTH_TOKEN": "test-twilio-token",
        "PRIVACY_KEY": "test-privacy-key-0123456789",
        "SYNC_SOURCES": f"{AGENCY}/sitemap.xml,http://127.0.0.1:8081/",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WIDGET_ORIGINS", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def request(method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            return await client.request(method, path, headers=headers)

    return asyncio.run(run())


def test_the_sites_being_crawled_may_embed_the_widget_by_default(env: pytest.MonkeyPatch) -> None:
    assert get_settings().embed_origins == ["http://127.0.0.1:8081", AGENCY]
    allowed = request("OPTIONS", "/api/chat", {"Origin": AGENCY, **PREFLIGHT})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == AGENCY
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in allowed.headers  # no cookies cross origins

    refused = request("OPTIONS", "/api/chat", {"Origin": "https://elsewhere.example", **PREFLIGHT})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_static_assets_answer_the_embedding_page_and_other_routes_never_do(env: pytest.MonkeyPatch) -> None:
    css = request("GET", "/static/widget/widget.css", {"Origin": AGENCY})
    assert css.status_code == 200, "build the widget first: make install (or make widget)"
    assert css.headers["access-control-allow-origin"] == AGENCY
    for path in ("/api/sync", "/healthz", "/staff/login"):
        response = request("OPTIONS", path, {"Origin": AGENCY, **PREFLIGHT})
        assert "access-control-allow-origin" not in response.headers, path


def test_widget_origins_replace_the_default_and_star_allows_any(env: pytest.MonkeyPatch) -> None:
    env.setenv("WIDGET_ORIGINS", "https://help.agency.example/, http://localhost:3000")
    get_settings.cache_clear()
    assert get_settings().embed_origins == ["https://help.agency.example", "http://localhost:3000"]
    assert "access-control-allow-origin" not in request("OPTIONS", "/api/chat", {"Origin": AGENCY, **PREFLIGHT}).headers

    env.setenv("WIDGET_ORIGINS", "*")
    get_settings.cache_clear()
    response = request("OPTIONS", "/api/chat", {"Origin": "https://anyone.example", **PREFLIGHT})
    assert response.headers["access-control-allow-origin"] in ("*", "https://anyone.example")


def test_an_origin_with_a_path_is_refused_naming_the_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv("WIDGET_ORIGINS", "https://www.agency.example/help")
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings()
