"""The Fetcher against real loopback servers: what it refuses, where it connects, how it classifies, how polite it is.

Names like agency.test are resolved by a resolver the test gives the Fetcher (the one permitted seam); every
request the Fetcher makes is counted by the server, so "refused" means no request reached it.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from content_sync.fetch import DomainPolicy, Fetcher, FetchResult

UA = "TestBot/1.0"
PAGE = b"<html><head><title>Hello</title></head><body><main><p>Hello from the site</p></main></body></html>"
HTML = {"Content-Type": "text/html; charset=utf-8"}


@dataclass
class Reply:
    """What the test server answers on one route."""

    status: int = 200
    body: bytes = PAGE
    headers: dict[str, str] = field(default_factory=lambda: dict(HTML))
    delay: float = 0.0  # seconds before the status line
    drip: float | None = None  # send the body one byte every this many seconds


Route = Reply | Callable[[int], Reply]  # a callable is given how many times the path was asked for before


class Site:
    """A threaded HTTP server on a loopback address whose routes a test sets; it records every request."""

    def __init__(
        self, routes: dict[str, Route], host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.routes = routes
        self.requests: list[str] = []
        self.hosts: list[str | None] = []
        self.started: list[tuple[str, float]] = []
        self.active = self.peak = 0
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host, self.port = host, int(self.server.server_address[1])
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def count(self, path: str) -> int:
        with self.lock:
            return self.requests.count(path)

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self.lock:
            before = self.requests.count(path)
            self.requests.append(path)
            self.hosts.append(handler.headers.get("Host"))
            self.started.append((path, time.monotonic()))
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            route = self.routes.get(path) or self.routes.get("*") or Reply(404, b"not found", {})
            reply = route(before) if callable(route) else route
            time.sleep(reply.delay)
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            if reply.drip is None:
                handler.wfile.write(reply.body)
                return
            for byte in reply.body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(reply.drip)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client hung up, as it should on a slow drip
        finally:
            with self.lock:
                self.active -= 1

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MapResolver:
    """Resolves the names it is given, records every lookup, and fails for the rest as DNS would."""

    def __init__(self, names: dict[str, Sequence[str]]) -> None:
        self.names = names
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.names[host])


@pytest.fixture
def make_site() -> Iterator[Callable[..., Site]]:
    sites: list[Site] = []

    def make(routes: dict[str, Route] | None = None, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> Site:
        site = Site(routes if routes is not None else {"/": Reply()}, host, port, **kwargs)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()


@pytest.fixture
def make_fetcher() -> Iterator[Callable[..., Fetcher]]:
    fetchers: list[Fetcher] = []

    def make(entries: list[str], **kwargs: Any) -> Fetcher:
        kwargs.setdefault("retry_backoff", 0.01)
        kwargs.setdefault("deadline", 5.0)
        fetcher = Fetcher(DomainPolicy(entries), UA, **kwargs)
        fetchers.append(fetcher)
        return fetcher

    yield make
    for fetcher in fetchers:
        fetcher.close()


# --- addresses -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [("127.0.0.1", "a loopback address"), ("10.0.0.5", "a private address"), ("169.254.169.254", "metadata")],
)
def test_a_listed_name_resolving_to_a_forbidden_address_is_refused(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher], address: str, kind: str
) -> None:
    site = make_site()
    fetcher = make_fetcher([f"agency.test:{site.port}"], resolver=MapResolver({"agency.test": [address]}))

    result = fetcher.fetch_page(f"http://agency.test:{site.port}/")

    assert result.transient and not result.withdrawn and result.status == 0
    assert result.skip_reason is not None
    assert f"agency.test resolves to {address}" in result.skip_reason and kind in result.skip_reason
    assert "ALLOWED_DOMAINS" in result.skip_reason  # says what to do if that address really is the site
    assert site.requests == []


def test_an_ip_literal_in_allowed_domains_is_fetched(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site()
    result = make_fetcher([site.netloc]).fetch_page(site.url + "/")
    assert result.outcome == "ok" and "Hello from the site" in result.text and result.final_url == site.url + "/"


def test_dns_rebinding_cannot_move_the_connection(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    """The check sees 127.0.0.2 (listed); a second lookup of the name (the system's: localhost is 127.0.0.1)
    would lead elsewhere. The connection must go to the address that was checked."""
    checked = make_site({"/": Reply(body=b"<p>the checked server</p>")}, host="127.0.0.2")
    for _ in range(20):  # the same port on 127.0.0.1, where a re-resolved "localhost" would land
        try:
            other = make_site({"*": Reply(body=b"<p>the other server</p>")}, host="127.0.0.1", port=checked.port)
            break
        except OSError:
            checked = make_site({"/": Reply(body=b"<p>the checked server</p>")}, host="127.0.0.2")
    else:
        pytest.skip("no port free on both 127.0.0.1 and 127.0.0.2")
    assert ("127.0.0.1", checked.port) in [i[4] for i in socket.getaddrinfo("localhost", checked.port)]
    resolver = MapResolver({"localhost": ["127.0.0.2"]})
    fetcher = make_fetcher([f"localhost:{checked.port}", f"127.0.0.2:{checked.port}"], resolver=resolver)

    result = fetcher.fetch_page(f"http://localhost:{checked.port}/")

    assert result.outcome == "ok" and "the checked server" in result.text
    assert other.requests == []
    assert checked.requests == ["/robots.txt", "/"]
    assert checked.hosts == [f"localhost:{checked.port}"] * 2  # the server still sees the name
    assert resolver.calls == [("localhost", checked.port)] * 2  # one lookup per hop (page, robots.txt), no more


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("2130706433", "not a dotted-quad"),
        ("0x7f.1", "not a dotted-quad"),
        ("0177.0.0.1", "not a valid URL"),
        ("[::ffff:127.0.0.1]", "outside ALLOWED_DOMAINS"),
    ],
)
def test_disguised_numeric_hosts_are_refused(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher], host: str, says: str
) -> None:
    site = make_site()
    # 127.0.0.1 itself is allowed, and even listing the disguised forms does not make them fetchable.
    fetcher = make_fetcher([site.netloc, f"2130706433:{site.port}", f"0x7f.1:{site.port}"])

    result = fetcher.fetch_page(f"http://{host}:{site.port}/")

    assert result.withdrawn and result.status == 0
    assert result.skip_reason is not None and says in result.skip_reason
    assert site.requests == []


def test_a_bare_host_allows_only_the_default_port(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site()
    result = make_fetcher(["127.0.0.1"]).fetch_page(site.url + "/")
    assert result.withdrawn and result.skip_reason is not None
    assert f"uses port {site.port}" in result.skip_reason and f"add 127.0.0.1:{site.port}" in result.skip_reason
    assert site.requests == []


def test_a_host_port_entry_allows_no_other_port(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    listed, unlisted = make_site(), make_site()
    fetcher = make_fetcher([listed.netloc])
    result = fetcher.fetch_page(unlisted.url + "/")
    assert result.withdrawn and result.skip_reason is not None and f"uses port {unlisted.port}" in result.skip_reason
    assert unlisted.requests == []
    assert fetcher.fetch_page(listed.url + "/").outcome == "ok"


# --- redirects -----------------------------------------------------------------------------------------------


def test_a_redirect_off_allowed_domains_is_withdrawn_and_not_followed(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    elsewhere = make_site({"*": Reply()}, host="127.0.0.2")
    site = make_site({"/moved": Reply(301, b"", {"Location": elsewhere.url + "/landing"})})

    result = make_fetcher([site.netloc]).fetch_page(site.url + "/moved")

    assert result.withdrawn and result.status == 301 and result.text == ""
    assert result.final_url == elsewhere.url + "/landing"
    assert result.skip_reason is not None
    assert result.skip_reason.startswith(f"redirected from {site.url}/moved to {elsewhere.url}/landing")
    assert "outside ALLOWED_DOMAINS" in result.skip_reason
    assert elsewhere.requests == []


def test_a_redirect_into_a_disallowed_path_is_withdrawn_and_not_fetched(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site(
        {
            "/robots.txt": Reply(body=b"User-agent: *\nDisallow: /internal/\n", headers={"Content-Type": "text/plain"}),
            "/moved": Reply(301, b"", {"Location": "/internal/x"}),
            "/internal/x": Reply(body=b"<p>staff only</p>"),
        }
    )

    result = make_fetcher([site.netloc]).fetch_page(site.url + "/moved")

    assert result.withdrawn and result.text == "" and result.final_url == site.url + "/internal/x"
    assert result.skip_reason == f"redirected from {site.url}/moved to {site.url}/internal/x, which robots.txt " + (
        "disallows; not fetched"
    )
    assert site.requests == ["/robots.txt", "/moved"]


def test_a_redirect_within_the_site_lands_and_reports_where(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/old": Reply(308, b"", {"Location": "/new#top"}), "/new": Reply()})
    result = make_fetcher([site.netloc]).fetch_page(site.url + "/old")
    assert result.outcome == "ok" and result.url == site.url + "/old" and result.final_url == site.url + "/new"
    assert "Hello from the site" in result.text


# --- deadline, retries, Retry-After ---------------------------------------------------------------------------


def test_a_slow_drip_body_is_cut_off_at_the_deadline(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/": Reply(body=b"<p>" + b"x" * 100 + b"</p>", drip=0.2)})  # 20 s if read to the end
    fetcher = make_fetcher([site.netloc], deadline=1.0)

    start = time.monotonic()
    result = fetcher.fetch_page(site.url + "/")
    took = time.monotonic() - start

    assert result.transient and result.text == ""
    assert result.skip_reason is not None and "longer than the 1 s deadline" in result.skip_reason
    assert 0.9 < took < 2.5
    assert site.count("/") == 1  # a page too slow once is not asked again at once


def test_slow_headers_hit_the_deadline_too(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/": Reply(delay=3.0)})
    start = time.monotonic()
    result = make_fetcher([site.netloc], deadline=0.5).fetch_page(site.url + "/")
    assert result.transient and result.skip_reason is not None and "deadline" in result.skip_reason
    assert time.monotonic() - start < 2.0


def test_a_503_then_200_is_retried_and_succeeds(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/": lambda n: Reply(503, b"busy") if n == 0 else Reply()})
    result = make_fetcher([site.netloc]).fetch_page(site.url + "/")
    assert result.outcome == "ok" and "Hello from the site" in result.text
    assert site.count("/") == 2


def test_retry_after_is_waited_for(make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]) -> None:
    site = make_site({"/": lambda n: Reply(503, b"busy", {"Retry-After": "1"}) if n == 0 else Reply()})
    result = make_fetcher([site.netloc]).fetch_page(site.url + "/")
    assert result.outcome == "ok"
    first, second = [t for path, t in site.started if path == "/"]
    assert second - first >= 0.95


def test_a_retry_after_beyond_the_cap_is_not_waited_for_and_pauses_the_host(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/robots.txt": Reply(404, b""), "*": Reply(429, b"slow down", {"Retry-After": "3600"})})
    fetcher = make_fetcher([site.netloc], max_retry_after=2.0)

    start = time.monotonic()
    result = fetcher.fetch_page(site.url + "/a")
    assert time.monotonic() - start < 1.0
    assert result.transient and result.status == 429
    assert result.skip_reason is not None and "Retry-After 3600 s, longer than the 2 s" in result.skip_reason
    later = fetcher.fetch_page(site.url + "/b")
    assert later.transient and later.skip_reason is not None and "asked crawlers to wait" in later.skip_reason
    assert site.requests == ["/robots.txt", "/a"]


# --- robots.txt ----------------------------------------------------------------------------------------------


def test_a_robots_txt_500_disallows_everything_for_now(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/robots.txt": Reply(500, b"oops"), "/": Reply()})
    fetcher = make_fetcher([site.netloc])

    result = fetcher.fetch_page(site.url + "/")

    assert result.transient and not result.withdrawn  # the page keeps its content while robots.txt is down
    assert result.skip_reason is not None and "robots.txt" in result.skip_reason and "RFC 9309" in result.skip_reason
    assert site.count("/") == 0
    assert site.count("/robots.txt") == 3  # retried like any 5xx, then cached
    assert not fetcher.robots_allows(site.url + "/") and site.count("/robots.txt") == 3


def test_a_robots_txt_404_allows_everything(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/": Reply(), "/other": Reply()})
    fetcher = make_fetcher([site.netloc])
    assert fetcher.fetch_page(site.url + "/").outcome == "ok"
    assert fetcher.fetch_page(site.url + "/other").outcome == "ok"
    assert site.requests == ["/robots.txt", "/", "/other"]  # read once, then cached


def test_robots_disallowed_page_is_withdrawn_and_not_fetched(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/robots.txt": Reply(body=b"User-agent: TestBot\nDisallow: /private\n"), "*": Reply()})
    result = make_fetcher([site.netloc]).fetch_page(site.url + "/private/a")
    assert result.withdrawn and result.skip_reason == "disallowed by robots.txt"
    assert site.requests == ["/robots.txt"]


def test_crawl_delay_spaces_requests_to_a_host(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/robots.txt": Reply(body=b"User-agent: *\nCrawl-delay: 0.6\n"), "*": Reply()})
    fetcher = make_fetcher([site.netloc])
    assert fetcher.fetch_page(site.url + "/a").outcome == "ok"
    assert fetcher.fetch_page(site.url + "/b").outcome == "ok"
    starts = dict(site.started)
    assert starts["/b"] - starts["/a"] >= 0.55


def test_crawl_delay_is_capped(make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]) -> None:
    site = make_site({"/robots.txt": Reply(body=b"User-agent: *\nCrawl-delay: 100\n"), "*": Reply()})
    fetcher = make_fetcher([site.netloc], max_crawl_delay=0.3)
    start = time.monotonic()
    for path in ("/a", "/b", "/c"):
        assert fetcher.fetch_page(site.url + path).outcome == "ok"
    assert time.monotonic() - start < 3.0
    starts = dict(site.started)
    assert starts["/c"] - starts["/a"] >= 0.55


# --- classification ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_gone_or_private_pages_are_withdrawn(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher], status: int
) -> None:
    site = make_site({"/": Reply(status, b"no")})
    result = make_fetcher([site.netloc]).fetch_page(site.url + "/")
    assert result.withdrawn and not result.transient and result.status == status
    assert result.skip_reason is not None and result.skip_reason.startswith(f"HTTP {status}: ")
    assert site.count("/") == 1  # not retried


def test_a_page_that_is_not_html_or_pdf_is_withdrawn(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/logo": Reply(body=b"\x89PNG....", headers={"Content-Type": "image/png"})})
    result = make_fetcher([site.netloc]).fetch_page(site.url + "/logo")
    assert result.withdrawn and result.status == 200 and result.content_type == "image/png"
    assert result.skip_reason == "content type image/png is not HTML or PDF"
    assert result.content == b"" and result.text == ""


def test_a_pdf_page_comes_back_as_bytes(make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]) -> None:
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"
    site = make_site({"/form.pdf": Reply(body=pdf, headers={"Content-Type": "application/pdf"})})
    result = make_fetcher([site.netloc]).fetch_page(site.url + "/form.pdf")
    assert result.outcome == "ok" and result.skip_reason is None
    assert result.content == pdf and result.text == "" and result.content_type == "application/pdf"


def test_a_noindex_header_withdraws_the_page(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site(
        {
            "/hidden": Reply(headers={**HTML, "X-Robots-Tag": "noarchive, noindex"}),
            "/other-bot": Reply(headers={**HTML, "X-Robots-Tag": "googlebot: noindex"}),
        }
    )
    fetcher = make_fetcher([site.netloc])
    hidden = fetcher.fetch_page(site.url + "/hidden")
    assert hidden.noindex and hidden.withdrawn and hidden.skip_reason is not None and "noindex" in hidden.skip_reason
    other = fetcher.fetch_page(site.url + "/other-bot")
    assert not other.noindex and other.outcome == "ok"


def test_a_500_is_transient_after_retries(make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]) -> None:
    site = make_site({"/": Reply(500, b"oops")})
    result = make_fetcher([site.netloc]).fetch_page(site.url + "/")
    assert result.transient and result.status == 500
    assert result.skip_reason == "HTTP 500: the server failed; try again later (after 3 attempts)"
    assert site.count("/") == 3


def test_unreachable_and_unresolvable_hosts_are_transient(make_fetcher: Callable[..., Fetcher]) -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fetcher = make_fetcher([f"127.0.0.1:{port}", "nowhere.test"], resolver=MapResolver({}))
    refused = fetcher.fetch_page(f"http://127.0.0.1:{port}/")
    assert refused.transient and refused.skip_reason is not None and "ConnectError" in refused.skip_reason
    unresolved = fetcher.fetch_page("http://nowhere.test/")
    assert unresolved.transient and unresolved.skip_reason is not None
    assert unresolved.skip_reason.startswith("could not resolve nowhere.test")


# --- concurrency ---------------------------------------------------------------------------------------------


def test_sixteen_threads_never_exceed_the_per_host_limit(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]
) -> None:
    site = make_site({"/robots.txt": Reply(404, b""), "*": Reply(delay=0.3)})
    fetcher = make_fetcher([site.netloc])

    with ThreadPoolExecutor(16) as pool:
        results: list[FetchResult] = list(pool.map(fetcher.fetch_page, [f"{site.url}/p{i}" for i in range(16)]))

    assert [r.outcome for r in results] == ["ok"] * 16
    assert 2 <= site.peak <= 4  # measured by the server; concurrency did happen, and the limit held it
    assert site.count("/robots.txt") == 1  # sixteen threads, one robots.txt


# --- files, sitemaps, TLS ------------------------------------------------------------------------------------


def test_fetch_file_and_robots_sitemaps(make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher]) -> None:
    sitemap = b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>'
    robots = b"User-agent: *\nDisallow: /private/\nSitemap: http://a.test/one.xml\nSitemap: http://a.test/two.xml\n"
    site = make_site(
        {
            "/robots.txt": Reply(body=robots, headers={"Content-Type": "text/plain"}),
            "/sitemap.xml": Reply(body=sitemap, headers={"Content-Type": "application/xml"}),
            "/private/sitemap.xml": Reply(body=sitemap, headers={"Content-Type": "application/xml"}),
        }
    )
    fetcher = make_fetcher([site.netloc])

    assert fetcher.robots_sitemaps(site.url + "/anything") == ["http://a.test/one.xml", "http://a.test/two.xml"]
    file = fetcher.fetch_file(site.url + "/sitemap.xml")
    assert file.outcome == "ok" and file.content == sitemap and file.content_type == "application/xml"
    assert fetcher.fetch_file(site.url + "/private/sitemap.xml").withdrawn
    assert fetcher.fetch_file(site.url + "/robots.txt").content == robots
    assert site.count("/private/sitemap.xml") == 0 and site.count("/robots.txt") == 2


def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    command += ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}"]
    command += ["-addext", f"subjectAltName=DNS:{name}"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_connects_to_the_checked_address_and_verifies_the_name(
    make_site: Callable[..., Site], make_fetcher: Callable[..., Fetcher], tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path, "agency.test")
    names: list[str | None] = []

    def record_sni(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        names.append(name)

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server_context.sni_callback = record_sni
    site = make_site(tls=server_context)
    fetcher = make_fetcher(
        [f"agency.test:{site.port}", site.netloc],
        resolver=MapResolver({"agency.test": ["127.0.0.1"]}),
        ssl_context=ssl.create_default_context(cafile=str(cert)),
    )

    result = fetcher.fetch_page(f"https://agency.test:{site.port}/")

    assert result.outcome == "ok", result.skip_reason
    assert "Hello from the site" in result.text
    assert set(names) == {"agency.test"}  # TLS named the host, so the certificate was checked against it
    assert site.hosts == [f"agency.test:{site.port}"] * 2
