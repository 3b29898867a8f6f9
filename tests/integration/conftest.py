"""Fixtures for the integration tests: a copy of the sample site on loopback, and the real product crawling it.

`stack` is one product shared by the whole session: tests must not change its site. A module whose tests
publish changes to the site uses `own_stack` instead: its own copy of the site and its own product, in its own
DATA_DIR. Every product process refuses non-loopback connections (tests/guard).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.stack import EMAIL_FROM, ROOT, SHARED_VECTOR_CACHE, Stack, running_stack, send_mail
from content_sync.jobs import get_engine
from content_sync.sample_site import serve_in_thread
from tests.conftest import loopback_only_env

SAMPLE_SITE = ROOT / "data" / "sample_site"
SAMPLE_UPDATES = ROOT / "data" / "sample_site_updates"
QUESTIONS = json.loads((ROOT / "tests" / "fixtures" / "sample_site_questions.json").read_text())

__all__ = ["EMAIL_FROM", "QUESTIONS", "SAMPLE_UPDATES", "Stack", "send_mail"]


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root`, by relative path, with its content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database named `<prefix>_<random>` on the local server, dropped afterwards; the test is
    skipped, saying why, when there is no server."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL at {POSTGRES_ADMIN_URL}: {exc}")
    name = f"{prefix}_{uuid.uuid4().hex}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def served_site_copy(parent: Path) -> Iterator[tuple[str, Path]]:
    """A fresh copy of the sample site under `parent`, served on a free loopback port."""
    root = parent / "sample_site"
    shutil.copytree(SAMPLE_SITE, root)
    server = serve_in_thread(root)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def product_on(site_url: str, site_root: Path, data_dir: Path) -> Iterator[Stack]:
    """The real product crawling `site_url`, with the loopback guard on in every process."""
    with running_stack(site_url, site_root, data_dir, wrap_env=loopback_only_env) as running:
        yield running


@pytest.fixture(scope="package", autouse=True)
def shared_vector_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One vector cache for every product these tests start, so each first sync after the first one takes its
    vectors instead of embedding the whole site again (what it saves: docs/benchmarks.md)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SHARED_VECTOR_CACHE, str(tmp_path_factory.mktemp("vector-cache")))
        yield


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The shared stack's site. It must stay as published: changing it would change every later test's answers."""
    with served_site_copy(tmp_path_factory.mktemp("site")) as served:
        published = _snapshot(served[1])
        yield served
        now = _snapshot(served[1])
    changed = sorted(name for name in published.keys() | now.keys() if published.get(name) != now.get(name))
    assert not changed, f"a test changed the shared stack's site ({changed}); use the own_stack fixture"


@pytest.fixture(scope="session")
def stack(site: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The product shared by the session, read-only: don't change its site (see `own_stack`)."""
    site_url, site_root = site
    with product_on(site_url, site_root, tmp_path_factory.mktemp("data")) as running:
        yield running


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A product of the module's own, crawling its own copy of the site, which its tests may change."""
    with (
        served_site_copy(tmp_path_factory.mktemp("own-site")) as (site_url, site_root),
        product_on(site_url, site_root, tmp_path_factory.mktemp("own-data")) as running,
    ):
        yield running
