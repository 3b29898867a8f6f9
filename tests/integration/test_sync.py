"""content_sync against a real site on loopback: incremental work, and a failed sync never unpublishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from content_sync.errors import NothingToPublish, SyncBusy
from content_sync.index_store import IndexStore
from content_sync.sample_site import serve_in_thread
from content_sync.search import Searcher
from content_sync.settings import SyncSettings
from content_sync.sync import run_sync, sync_lock

PAGE = """<!doctype html><html lang="en"><head><title>{title} | Agency</title><script>track()</script></head>
<body><header><nav><a href="/">Home</a> <a href="/internal/secret.html">Staff</a></nav></header>
<nav class="breadcrumb"><a href="/">Home</a> / {title}</nav>
<main><h1>{title}</h1><p>{intro}</p><h2>Details</h2><p>{detail}</p></main>
<nav aria-label="Related">{links}</nav>
<footer>Agency footer, 1 Main Street</footer></body></html>"""

PAGES = {
    "appeals.html": (
        "How to appeal",
        "You can appeal any decision about your benefits.",
        "Ask for a fair hearing within 30 days of the date on your notice.",
    ),
    "cards.html": (
        "Lost EBT card",
        "Report a lost or stolen card at once.",
        "Call the card line on (555) 010-2200 and a new card arrives in 5 to 7 days.",
    ),
    "hours.html": (
        "Office hours",
        "Our offices are open on weekdays.",
        "We are open Monday to Friday from 8 a.m. to 5 p.m., closed on state holidays.",
    ),
}


def write_site(root: Path, pages: dict[str, tuple[str, str, str]]) -> None:
    links = "".join(f'<p><a href="/{name}">{p[0]}</a></p>' for name, p in pages.items())
    links += '<p><a href="https://elsewhere.example/">Another agency</a></p>'
    for name, (title, intro, detail) in pages.items():
        (root / name).write_text(PAGE.format(title=title, intro=intro, detail=detail, links=links))
    (root / "index.html").write_text(PAGE.format(title="Home", intro="Welcome.", detail="Find guidance.", links=links))
    (root / "internal").mkdir(exist_ok=True)
    (root / "internal" / "secret.html").write_text(PAGE.format(title="Secret", intro="x", detail="y", links=""))
    locs = "".join(f"<url><loc>{{{{BASE_URL}}}}/{name}</loc></url>" for name in pages)
    (root / "sitemap.xml").write_text(
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}'
        "<url><loc>http://elsewhere.example/x.html</loc></url></urlset>"
    )
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /internal/\n")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "site"
    root.mkdir()
    write_site(root, PAGES)
    server = serve_in_thread(root)
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def settings_for(base: str, data: Path, source: str = "/sitemap.xml") -> SyncSettings:
    return SyncSettings(data_dir=data, sync_sources=[base + source], _env_file=None)  # type: ignore[call-arg]


def test_sync_publishes_and_search_finds_the_page(site: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = site
    settings = settings_for(base, tmp_path / "data")
    report = run_sync(settings)
    assert sorted(report.added) == sorted(f"{base}/{n}" for n in PAGES)
    assert {"url": "http://elsewhere.example/x.html", "reason": "outside ALLOWED_DOMAINS"} in report.skipped
    result = Searcher(settings.index_dir, settings.embedding_model).search("I lost my EBT card, who do I call?")
    assert result.hits[0].chunk.url == f"{base}/cards.html"
    assert result.index_version == report.index_version
    texts = " ".join(c.text for c in IndexStore(settings.index_dir).load().chunks)
    assert "Agency footer" not in texts and "track()" not in texts and "Home /" not in texts


def test_unchanged_resync_embeds_nothing_and_keeps_vectors(site: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = site
    settings = settings_for(base, tmp_path / "data")
    first = run_sync(settings)
    second = run_sync(settings)
    assert second.embedded == 0
    assert sorted(second.unchanged) == sorted(first.added)
    store = IndexStore(settings.index_dir)
    old, new = store.load(first.index_version), store.load(second.index_version)
    assert [c.id for c in old.chunks] == [c.id for c in new.chunks]
    assert np.array_equal(old.vectors(), new.vectors())


def test_changed_and_deleted_pages(site: tuple[str, Path], tmp_path: Path) -> None:
    base, root = site
    settings = settings_for(base, tmp_path / "data")
    run_sync(settings)
    pages = dict(PAGES)
    pages["hours.html"] = ("Office hours", "Our offices are open on weekdays.", "We now open at 7 a.m. every weekday.")
    del pages["appeals.html"]
    (root / "appeals.html").unlink()
    write_site(root, pages)
    report = run_sync(settings)
    assert report.changed == [f"{base}/hours.html"]
    assert report.deleted == [f"{base}/appeals.html"]
    assert report.embedded == 1
    urls = {c.url for c in IndexStore(settings.index_dir).load().chunks}
    assert f"{base}/appeals.html" not in urls


def test_targeted_sync_of_a_gone_page_removes_it(site: tuple[str, Path], tmp_path: Path) -> None:
    base, root = site
    settings = settings_for(base, tmp_path / "data")
    run_sync(settings)
    (root / "cards.html").unlink()
    report = run_sync(settings, urls=[f"{base}/cards.html", "http://169.254.169.254/latest/meta-data"])
    assert report.deleted == [f"{base}/cards.html"]
    assert report.skipped[0]["url"].startswith("http://169.254.169.254")
    assert "ALLOWED_DOMAINS" in report.skipped[0]["reason"]
    assert report.pages == len(PAGES) - 1


def test_link_following_respects_robots_and_domains(site: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = site
    report = run_sync(settings_for(base, tmp_path / "data", source="/index.html"))
    urls = set(report.added)
    assert f"{base}/cards.html" in urls
    assert not any("internal" in u or "elsewhere" in u for u in urls)


def test_failed_sync_keeps_the_last_good_version(site: tuple[str, Path], tmp_path: Path) -> None:
    base, root = site
    settings = settings_for(base, tmp_path / "data")
    good = run_sync(settings).index_version
    for page in root.glob("*.html"):
        page.unlink()
    (root / "sitemap.xml").write_text("<urlset><url><loc>broken")
    with pytest.raises(NothingToPublish, match="last good index keeps serving"):
        run_sync(settings, full=True)
    assert IndexStore(settings.index_dir).current_version() == good


def test_crash_while_writing_a_version_changes_nothing(
    site: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = site
    settings = settings_for(base, tmp_path / "data")
    good = run_sync(settings).index_version

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("content_sync.index_store._write", disk_full)
    with pytest.raises(OSError, match="No space"):
        run_sync(settings, full=True)
    monkeypatch.undo()
    store = IndexStore(settings.index_dir)
    assert store.current_version() == good
    assert store.load().version == good
    recovered = run_sync(settings)
    assert store.current_version() == recovered.index_version
    assert not list(store.versions.glob(".tmp-*")), "the next sync clears what the crash left"


def test_one_sync_at_a_time(tmp_path: Path) -> None:
    with sync_lock(tmp_path, wait=False), pytest.raises(SyncBusy), sync_lock(tmp_path, wait=False):
        pass


def test_gzip_pages_and_a_redirect_loop(tmp_path: Path) -> None:
    import gzip
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    page = PAGE.format(title="Compressed", intro="This page came gzip-encoded.", detail="It is read once.", links="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/loop":
                self.send_response(302)
                self.send_header("Location", "/loop")
                self.end_headers()
                return
            if self.path == "/away":
                self.send_response(301)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                self.end_headers()
                return
            if self.path == "/robots.txt":
                self.send_response(404)
                self.end_headers()
                return
            body = gzip.compress(page.encode())
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        settings = SyncSettings(data_dir=tmp_path, sync_sources=[base + "/page.html"], _env_file=None)  # type: ignore[call-arg]
        report = run_sync(settings, urls=[base + "/page.html", base + "/loop", base + "/away"])
    finally:
        server.shutdown()
        server.server_close()
    assert report.added == [base + "/page.html"]
    reasons = {s["url"]: s["reason"] for s in report.skipped}
    assert "redirects more than 5 times" in reasons[base + "/loop"]
    assert "outside ALLOWED_DOMAINS" in reasons[base + "/away"]
    chunks = IndexStore(settings.index_dir).load().chunks
    assert any("gzip-encoded" in c.text for c in chunks)


def test_a_sitemap_that_fails_for_a_moment_deletes_nothing(site: tuple[str, Path], tmp_path: Path) -> None:
    base, root = site
    names = list(PAGES)
    (root / "a.xml").write_text(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{{{{BASE_URL}}}}/{n}</loc></url>" for n in names[:1])
        + "</urlset>"
    )
    (root / "b.xml").write_text(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{{{{BASE_URL}}}}/{n}</loc></url>" for n in names[1:])
        + "</urlset>"
    )
    (root / "index.xml").write_text(
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><loc>{{BASE_URL}}/a.xml</loc></sitemap><sitemap><loc>{{BASE_URL}}/b.xml</loc></sitemap></sitemapindex>"
    )
    settings = settings_for(base, tmp_path / "data", source="/index.xml")
    assert len(run_sync(settings).added) == len(PAGES)
    (root / "b.xml").unlink()  # b.xml is unreadable now, but its pages still exist
    (root / names[2]).unlink()  # except this one, which is really gone
    report = run_sync(settings)
    assert report.deleted == [f"{base}/{names[2]}"]
    assert report.pages == len(PAGES) - 1
    assert any("incomplete" in e for e in report.errors)


def test_sample_site_lists_urls_at_the_address_it_was_asked_on(site: tuple[str, Path]) -> None:
    import httpx

    base, _ = site
    sitemap = httpx.get(base + "/sitemap.xml", headers={"Host": "agency.test:8080"}).text
    assert "<loc>http://agency.test:8080/appeals.html</loc>" in sitemap
