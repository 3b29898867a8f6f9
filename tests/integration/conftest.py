"""Fixtures for the integration tests: a copy of the sample site on loopback, and the real product crawling it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from content_sync.sample_site import serve_in_thread
from tests.stack import EMAIL_FROM, ROOT, Stack, running_stack, send_mail

SAMPLE_SITE = ROOT / "data" / "sample_site"
SAMPLE_UPDATES = ROOT / "data" / "sample_site_updates"
QUESTIONS = json.loads((ROOT / "tests" / "fixtures" / "sample_site_questions.json").read_text())

__all__ = ["EMAIL_FROM", "QUESTIONS", "SAMPLE_UPDATES", "Stack", "send_mail"]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("site") / "sample_site"
    shutil.copytree(SAMPLE_SITE, root)
    server = serve_in_thread(root)
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


@pytest.fixture(scope="session")
def stack(site: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    site_url, site_root = site
    with running_stack(site_url, site_root, tmp_path_factory.mktemp("data")) as running:
        yield running
