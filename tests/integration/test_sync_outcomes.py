"""What a sync does to each page when the site misbehaves, on a real site on loopback: withdrawn pages go with
their reason, transient failures keep the last good content, and discovery that was cut short deletes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from content_sync.index_store import IndexStore
from content_sync.search import Searcher
from content_sync.settings import SyncSettings
from content_sync.sync import run_sync

ROOT = Path(__file__).resolve().parents[2]

PAGE = """<!doctype html><html lang="en"><head><title>{title}</title>{head}</head><body>
<nav><a href="/index.html">Home</a></nav><main><h1>{title}</h1><p>{text}</p>{links}</main></body></html>"""

TOPICS = {
    "appeals": "You can ask for a fair hearing within 30 days of the date on your notice.",
    "cards": "Call the card line on (555) 010-2200 and a new card arrives in 5 to 7 days.",
    "hours": "Offices are open Monday to Friday from 8 a.m. to 5 p.m., closed on state holidays.",
    "meals": "Children can get free summer meals at any school site from June to August.",
    "heating": "The heating grant pays up to $600 toward winter fuel bills for each household.",
    "childcare": "Childcare help covers up to 40 hours of care a week while you work or study.",
}


@dataclass
class Site:
    """A small agency site whose pages can be made to answer anything, per path."""

    base: str = ""
    robots: str = "User-agent: *\nDisallow: /internal/\n"
    pages: dict[str, str] = field(default_factory=dict)  # path -> HTML
    overrides: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # sitemap order
    requests: list[str] = field(default_factory=list)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (body, content type)
    lastmod: dict[str, str] = field(default_factory=dict)  # path -> the sitemap's <lastmod>

    def sitemap(self) -> bytes:
        locs = "".join(
            f"<url><loc>{self.base}{path}</loc>"
            + (f"<lastmod>{self.lastmod[path]}</lastmod>" if path in self.lastmod else "")
            + "</url>"
            for path in self.order
        )
        return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'.encode()


def make_site() -> Site:
    site = Site()
    links = "".join(f'<p><a href="/{name}.html">{name}</a></p>' for name in TOPICS)
    for name, text in TOPICS.items():
        site.pages[f"/{name}.html"] = PAGE.format(title=name.title(), head="", text=text, links="")
        site.order.append(f"/{name}.html")
    site.pages["/index.html"] = PAGE.format(title="Home", head="", text="Find guidance here.", links=links)
    return site


@pytest.fixture
def site() -> Iterator[Site]:
    state = make_site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            if self.path in state.overrides:
                status, headers, body = state.overrides[self.path]
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.path == "/robots.txt":
                body, kind = state.robots.encode(), "text/plain"
            elif self.path == "/sitemap.xml":
                body, kind = state.sitemap(), "application/xml"
            elif self.path in state.pages:
                body, kind = state.pages[self.path].encode(), "text/html; charset=utf-8"
            elif self.path in state.files:
                body, kind = state.files[self.path]
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def settings_for(site: Site, data: Path, source: str = "/sitemap.xml", **extra: object) -> SyncSettings:
    return SyncSettings(data_dir=data, sync_sources=[site.base + source], _env_file=None, **extra)  # type: ignore[call-arg]


def indexed_urls(settings: SyncSettings) -> set[str]:
    return {c.url for c in IndexStore(settings.index_dir).load().chunks}


def test_withdrawn_pages_go_with_their_reason_and_a_failing_page_keeps_its_content(site: Site, tmp_path: Path) -> None:
    settings = settings_for(site, tmp_path / "data")
    run_sync(settings)
    url = {name: f"{site.base}/{name}.html" for name in TOPICS}
    assert indexed_urls(settings) == set(url.values())

    site.overrides["/appeals.html"] = (401, {"Content-Type": "text/html"}, b"<p>Please sign in</p>")
    site.overrides["/cards.html"] = (403, {"Content-Type": "text/html"}, b"<p>Forbidden</p>")
    site.robots += "Disallow: /hours.html\n"
    site.pages["/meals.html"] = site.pages["/meals.html"].replace(
        "<head>", '<head><meta name="robots" content="noindex">'
    )
    site.overrides["/heating.html"] = (200, {"Content-Type": "application/octet-stream"}, b"\x00\x01binary")
    site.overrides["/childcare.html"] = (503, {"Content-Type": "text/html", "Retry-After": "0"}, b"busy")
    before = len(site.requests)

    report = run_sync(settings)

    assert sorted(report.deleted) == sorted(url[n] for n in ("appeals", "cards", "hours", "meals", "heating"))
    assert "401" in report.reasons[url["appeals"]]
    assert "403" in report.reasons[url["cards"]]
    assert "robots" in report.reasons[url["hours"]]
    assert "noindex" in report.reasons[url["meals"]]
    assert "HTML" in report.reasons[url["heating"]]
    assert report.kept == [url["childcare"]] and "503" in report.reasons[url["childcare"]]
    assert indexed_urls(settings) == {url["childcare"]}
    hit = Searcher(settings.index_dir, settings.embedding_model, watch_seconds=0).search("hours of childcare help")
    assert hit.hits[0].chunk.url == url["childcare"], "the page that failed for a moment still answers"
    assert "/hours.html" not in site.requests[before:], "a newly disallowed page is not fetched"
    assert site.requests[before:].count("/childcare.html") > 1, "a 503 is tried again before it is kept"


def test_a_failing_start_page_deletes_nothing_when_following_links(site: Site, tmp_path: Path) -> None:
    settings = settings_for(site, tmp_path / "data", source="/index.html")
    first = run_sync(settings)
    assert len(first.added) == len(TOPICS) + 1

    site.overrides["/index.html"] = (404, {"Content-Type": "text/html"}, b"gone for a moment")
    report = run_sync(settings)
    assert report.deleted == [] and not report.discovery_complete
    assert any("index.html" in e for e in report.errors)
    assert len(indexed_urls(settings)) == len(TOPICS) + 1

    del site.overrides["/index.html"]
    site.overrides["/robots.txt"] = (500, {"Content-Type": "text/plain"}, b"oops")  # RFC 9309: disallow all
    report = run_sync(settings)
    assert report.deleted == [] and not report.discovery_complete
    assert len(indexed_urls(settings)) == len(TOPICS) + 1


def test_the_page_cap_is_reported_and_deletes_nothing(site: Site, tmp_path: Path) -> None:
    settings = settings_for(site, tmp_path / "data", sync_max_pages=3)
    first = run_sync(settings)
    assert len(first.added) == 3 and not first.discovery_complete
    capped = [s for s in first.skipped if "SYNC_MAX_PAGES=3" in s["reason"]]
    assert len(capped) == len(TOPICS) - 3
    before = indexed_urls(settings)

    site.order.reverse()  # the sitemap lists the pages the other way round now
    report = run_sync(settings)
    assert report.deleted == []
    assert before <= indexed_urls(settings), "pages past the cap are not deleted for their absence"
    assert all("SYNC_MAX_PAGES" in report.reasons[u] for u in report.kept)


def test_an_unchanged_resync_publishes_nothing(site: Site, tmp_path: Path) -> None:
    settings = settings_for(site, tmp_path / "data")
    first = run_sync(settings)
    again = run_sync(settings)
    assert again.published is False and again.embedded == 0
    assert again.index_version == first.index_version
    assert IndexStore(settings.index_dir).list_versions() == [first.index_version]


def test_rollback_and_every_reader_follows_within_half_a_second(site: Site, tmp_path: Path) -> None:
    settings = settings_for(site, tmp_path / "data")
    old = run_sync(settings).index_version
    site.pages["/hours.html"] = site.pages["/hours.html"].replace("8 a.m. to 5 p.m.", "7 a.m. to 7 p.m.")
    new = run_sync(settings).index_version
    searcher = Searcher(settings.index_dir, settings.embedding_model)
    assert searcher.search("when are offices open").index_version == new

    env = {**os.environ, "DATA_DIR": str(settings.data_dir), "SYNC_SOURCES": site.base + "/sitemap.xml"}
    listed = subprocess.run(
        [sys.executable, "-m", "channels.cli", "index", "list"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert listed.returncode == 0 and old in listed.stdout and new in listed.stdout, listed.stderr
    rolled = subprocess.run(
        [sys.executable, "-m", "channels.cli", "index", "rollback"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert rolled.returncode == 0 and old in rolled.stdout, rolled.stderr
    switched = time.monotonic()
    while searcher.loaded_version() != old and time.monotonic() - switched < 5:
        time.sleep(0.01)
    assert time.monotonic() - switched < 0.5, "the reader picks up the rollback off the request path"
    answer = searcher.search("when are offices open")
    assert answer.index_version == old and "8 a.m. to 5 p.m." in answer.hits[0].chunk.text


KILLED_SYNC = """
import sys
from content_sync.settings import SyncSettings
from content_sync.sync import run_sync
run_sync(SyncSettings(data_dir=sys.argv[1], sync_sources=[sys.argv[2]], _env_file=None), full=True)
"""


def test_a_sync_killed_while_publishing_leaves_the_old_version_serving(site: Site, tmp_path: Path) -> None:
    settings = settings_for(site, tmp_path / "data")
    good = run_sync(settings).index_version
    versions = settings.index_dir / "versions"
    caught = False
    for _attempt in range(5):  # stop it the moment a half-written version appears, then kill -9
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_SYNC, str(settings.data_dir), site.base + "/sitemap.xml"], cwd=ROOT
        )
        while child.poll() is None:
            if any(p.name.startswith(".tmp-") for p in versions.iterdir()):
                os.kill(child.pid, signal.SIGSTOP)
                caught = True
                break
            time.sleep(0.0005)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait()
        if caught:
            break
        IndexStore(settings.index_dir).switch(good)  # that sync finished: put the good version back, try again
    assert caught, "the half-written version was never seen; the publish was faster than the poll"
    store = IndexStore(settings.index_dir)
    assert store.current_version() == good
    answer = Searcher(settings.index_dir, settings.embedding_model, watch_seconds=0).search("lost card")
    assert answer.index_version == good and answer.hits

    site.pages["/cards.html"] = site.pages["/cards.html"].replace("5 to 7 days", "3 days")
    report = run_sync(settings)
    assert report.published and any("half-written" in note for note in report.recovered)
    assert not [p for p in versions.iterdir() if p.name.startswith(".tmp-")]


def test_a_linked_pdf_is_indexed_with_its_page_numbers_and_goes_when_unlinked(site: Site, tmp_path: Path) -> None:
    handbook = (ROOT / "tests" / "fixtures" / "pdf" / "handbook.pdf").read_bytes()
    site.files["/docs/handbook.pdf"] = (handbook, "application/pdf")
    link = '<p><a href="/docs/handbook.pdf#page=2">Reporting changes (PDF)</a></p>'
    site.pages["/hours.html"] = site.pages["/hours.html"].replace("</main>", link + "</main>")
    settings = settings_for(site, tmp_path / "data")
    pdf = site.base + "/docs/handbook.pdf"

    first = run_sync(settings)
    assert pdf in first.added
    chunks = [c for c in IndexStore(settings.index_dir).load().chunks if c.url == pdf]
    assert {c.page for c in chunks} == {1, 2, 3}
    answer = Searcher(settings.index_dir, settings.embedding_model, watch_seconds=0).search(
        "how many days do I have to report a new job"
    )
    top = answer.hits[0]
    assert top.chunk.url == pdf and top.chunk.page == 2 and "10 days" in top.chunk.text

    again = run_sync(settings)  # the page that links it is unchanged; the PDF stays
    assert pdf in again.unchanged and pdf not in again.deleted

    site.pages["/hours.html"] = site.pages["/hours.html"].replace(link, "")
    gone = run_sync(settings)
    assert pdf in gone.deleted and "no longer listed" in gone.reasons[pdf]


def test_answers_carry_the_page_date_and_when_it_was_indexed(site: Site, tmp_path: Path) -> None:
    site.lastmod["/cards.html"] = "2026-11-20"
    settings = settings_for(site, tmp_path / "data")
    run_sync(settings)
    hit = Searcher(settings.index_dir, settings.embedding_model, watch_seconds=0).search("new card line").hits[0]
    assert hit.chunk.url == site.base + "/cards.html"
    assert hit.updated == "2026-11-20", "with no date on the page, the sitemap's lastmod is the page's date"
    assert hit.indexed_at and hit.indexed_at.startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    assert hit.chunk.digest


def test_a_gzipped_sitemap_named_in_robots_txt_is_read_for_a_start_page(site: Site, tmp_path: Path) -> None:
    import gzip

    site.files["/maps/pages.xml.gz"] = (gzip.compress(site.sitemap()), "application/gzip")
    site.robots += f"Sitemap: {site.base}/maps/pages.xml.gz\n"
    site.pages["/index.html"] = site.pages["/index.html"].replace('<a href="/meals.html">meals</a>', "")
    settings = settings_for(site, tmp_path / "data", source="/index.html")
    report = run_sync(settings)
    assert sorted(report.added) == sorted(f"{site.base}/{name}.html" for name in TOPICS)
    assert "/maps/pages.xml.gz" in site.requests and "/index.html" not in site.requests, (
        "robots.txt names a sitemap, so the start page's links are not crawled"
    )


def test_a_copy_with_rel_canonical_is_indexed_once_under_the_canonical_url(site: Site, tmp_path: Path) -> None:
    copy = site.pages["/cards.html"].replace("<head>", f'<head><link rel="canonical" href="{site.base}/cards.html">')
    site.pages["/print/cards.html"] = copy.replace("<head>", "<head>", 1)
    site.pages["/cards.html"] = copy  # the page names itself: indexed as usual
    site.order.append("/print/cards.html?utm_source=print")
    report = run_sync(settings_for(site, tmp_path / "data"))
    printed = f"{site.base}/print/cards.html"
    assert f"{site.base}/cards.html" in report.added
    assert {"url": printed, "reason": report.reasons[printed]} in report.skipped
    assert "canonical" in report.reasons[printed]


def test_a_page_whose_sitemap_lastmod_has_not_changed_is_not_fetched(site: Site, tmp_path: Path) -> None:
    for path in site.order:
        site.lastmod[path] = "2026-11-01"
    settings = settings_for(site, tmp_path / "data")
    run_sync(settings)
    site.pages["/hours.html"] = site.pages["/hours.html"].replace("8 a.m. to 5 p.m.", "9 a.m. to 4 p.m.")
    site.lastmod["/hours.html"] = "2026-12-01"
    before = len(site.requests)
    report = run_sync(settings)
    fetched = [p for p in site.requests[before:] if p.endswith(".html")]
    assert fetched == ["/hours.html"], "only the page whose lastmod moved is asked for"
    assert report.changed == [f"{site.base}/hours.html"]
    assert "lastmod" in report.reasons[f"{site.base}/cards.html"]

    targeted = run_sync(settings, urls=[f"{site.base}/cards.html"])  # a publish webhook always fetches
    assert site.requests[-1] == "/cards.html" and targeted.unchanged == [f"{site.base}/cards.html"]


def test_a_sitemap_cut_short_deletes_nothing(site: Site, tmp_path: Path) -> None:
    settings = settings_for(site, tmp_path / "data")
    run_sync(settings)
    whole = site.sitemap().decode()
    cut = whole[: whole.index("</url>", whole.index("</url>") + 1) + 6] + "\nPHP Fatal error: out of memory"
    site.overrides["/sitemap.xml"] = (200, {"Content-Type": "application/xml"}, cut.encode())
    report = run_sync(settings)
    assert report.deleted == [] and not report.discovery_complete
    assert any("cut short" in e for e in report.errors)
    assert len(indexed_urls(settings)) == len(TOPICS)


def test_a_copy_whose_canonical_page_fails_keeps_its_content(site: Site, tmp_path: Path) -> None:
    head = f'<head><link rel="canonical" href="{site.base}/gone.html">'
    site.pages["/cards.html"] = site.pages["/cards.html"].replace("<head>", head)  # names a page that 404s
    a = site.pages["/meals.html"].replace("<head>", f'<head><link rel="canonical" href="{site.base}/heating.html">')
    b = site.pages["/heating.html"].replace("<head>", f'<head><link rel="canonical" href="{site.base}/meals.html">')
    site.pages["/meals.html"], site.pages["/heating.html"] = a, b  # two pages naming each other
    report = run_sync(settings_for(site, tmp_path / "data"))
    assert f"{site.base}/cards.html" in report.added, "its canonical page does not exist, so it is indexed itself"
    pair = {f"{site.base}/meals.html", f"{site.base}/heating.html"}
    assert len(pair & set(report.added)) == 1, "of two pages naming each other, exactly one is indexed"


def test_an_empty_reply_keeps_the_page_and_a_new_date_alone_is_published(site: Site, tmp_path: Path) -> None:
    settings = settings_for(site, tmp_path / "data")
    first = run_sync(settings)
    site.overrides["/cards.html"] = (200, {"Content-Type": "text/html"}, b"")
    report = run_sync(settings)
    assert report.kept == [f"{site.base}/cards.html"] and "empty" in report.reasons[f"{site.base}/cards.html"]
    assert f"{site.base}/cards.html" in indexed_urls(settings)
    del site.overrides["/cards.html"]

    dated = '<p class="last-updated">Last updated <time datetime="2026-11-30">30 November 2026</time></p>'
    site.pages["/cards.html"] = site.pages["/cards.html"].replace("</main>", dated + "</main>")
    again = run_sync(settings)
    assert again.published and again.index_version != first.index_version and again.embedded == 0
    hit = Searcher(settings.index_dir, settings.embedding_model, watch_seconds=0).search("new card line").hits[0]
    assert hit.chunk.url == f"{site.base}/cards.html" and hit.updated == "2026-11-30"


def test_a_sync_that_would_delete_most_of_the_site_deletes_nothing_unless_allowed(site: Site, tmp_path: Path) -> None:
    for n in range(14):
        site.pages[f"/notice-{n}.html"] = PAGE.format(
            title=f"Notice {n}", head="", text=f"Public notice {n} about office {n}.", links=""
        )
        site.order.append(f"/notice-{n}.html")
    settings = settings_for(site, tmp_path / "data")
    run_sync(settings)
    for path in site.order[:15]:  # a firewall now answers 403 to most of the site
        site.overrides[path] = (403, {"Content-Type": "text/html"}, b"Forbidden")
    held = run_sync(settings)
    assert held.deleted == [] and len(held.kept) == 15
    assert any("would delete 15 of 20 pages" in e for e in held.errors)
    assert len(indexed_urls(settings)) == 20

    allowed = run_sync(settings, allow_deletions=True)
    assert len(allowed.deleted) == 15 and len(indexed_urls(settings)) == 5
