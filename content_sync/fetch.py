"""Fetch pages politely and safely: allowed domains only, robots.txt respected, redirects re-checked."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit

import httpx
from bs4 import BeautifulSoup, Tag
from protego import Protego

from content_sync.errors import FetchRefused

MAX_REDIRECTS = 5
MAX_BYTES = 5_000_000
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
HTML_TYPES = ("text/html", "application/xhtml+xml")
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@dataclass
class FetchResult:
    """What one GET of a page gave: a body to parse, a 304, a gone page, or a skip with its reason."""

    url: str
    status: int = 0
    text: str = ""
    etag: str | None = None
    last_modified: str | None = None
    skip_reason: str | None = None

    @property
    def gone(self) -> bool:
        return self.status in (404, 410)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def normalise_url(url: str) -> str:
    """Drop the fragment, lower-case scheme and host, and give an empty path a slash."""
    url, _ = urldefrag(url.strip())
    parts = urlsplit(url)
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused(f"{url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname.lower().rstrip("."), port


@dataclass
class DomainPolicy:
    """Which hosts may be fetched. An entry is `host` (any port) or `host:port`."""

    entries: list[str]

    def check(self, url: str) -> None:
        """Raise FetchRefused unless the URL's host (with its port, or any port) is named in ALLOWED_DOMAINS."""
        host, port = _host_port(url)
        names = {host, f"{host}:{port}"}
        if ":" in host:  # an IPv6 address is written in brackets in ALLOWED_DOMAINS, as in URLs
            names |= {f"[{host}]", f"[{host}]:{port}"}
        named = any(entry in names for entry in self.entries)
        if not named:
            raise FetchRefused(
                f"{url} is outside ALLOWED_DOMAINS ({', '.join(self.entries)}); add its host to fetch it"
            )
        # Only named hosts are ever fetched, so a host on a loopback or private address is fetched only
        # when ALLOWED_DOMAINS names it (the sample site and the tests' sites live on 127.0.0.1).

    def allows(self, url: str) -> bool:
        try:
            self.check(url)
        except FetchRefused:
            return False
        return True


@dataclass
class Discovery:
    """The pages a crawl found. `complete` is False when a sitemap or page could not be read, so a page
    missing from `urls` may still exist and must not be deleted for its absence."""

    urls: dict[str, None] = field(default_factory=dict)
    skips: list[tuple[str, str]] = field(default_factory=list)
    complete: bool = True
    fetched: dict[str, FetchResult] = field(default_factory=dict)  # pages read while following links

    def fail(self, url: str, reason: str) -> None:
        self.skips.append((url, reason))
        self.complete = False


@dataclass
class Fetcher:
    """An HTTP client that only fetches what the domain policy and robots.txt allow."""

    policy: DomainPolicy
    user_agent: str
    client: httpx.Client = field(init=False)
    _robots: dict[str, tuple[float, Protego | None]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            timeout=TIMEOUT, follow_redirects=False, headers={"User-Agent": self.user_agent}, trust_env=False
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def robots_allows(self, url: str) -> bool:
        """RFC 9309: a 4xx robots.txt allows everything; a 5xx or unreachable one allows nothing."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        cached = self._robots.get(origin)
        if cached is None or time.monotonic() - cached[0] > 24 * 3600:
            rules: Protego | None
            try:
                response = self._get(origin + "/robots.txt", {})
                if response.status_code >= 500:
                    rules = Protego.parse("User-agent: *\nDisallow: /")
                elif response.status_code >= 400:
                    rules = None
                else:
                    rules = Protego.parse(response.text)
            except (httpx.HTTPError, FetchRefused):
                rules = Protego.parse("User-agent: *\nDisallow: /")
            cached = (time.monotonic(), rules)
            self._robots[origin] = cached
        rules = cached[1]
        return rules is None or bool(rules.can_fetch(url, self.user_agent))

    def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        """GET with redirects followed by hand, each hop checked against the domain policy."""
        for _ in range(MAX_REDIRECTS + 1):
            self.policy.check(url)
            with self.client.stream("GET", url, headers=headers) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_BYTES:
                        raise FetchRefused(f"{url} is larger than {MAX_BYTES} bytes")
                # The body is already decoded, so the new response must not claim an encoding or a length.
                kept = [
                    (k, v)
                    for k, v in response.headers.multi_items()
                    if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
                ]
                return httpx.Response(response.status_code, headers=kept, content=bytes(body), request=response.request)
        raise FetchRefused(f"{url} redirects more than {MAX_REDIRECTS} times")

    def fetch_page(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """Fetch one HTML page; a conditional GET when a validator from the last sync is known."""
        try:
            self.policy.check(url)
        except FetchRefused as exc:
            return FetchResult(url, skip_reason=str(exc))
        if not self.robots_allows(url):
            return FetchResult(url, skip_reason="disallowed by robots.txt")
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            response = self._get(url, headers)
        except FetchRefused as exc:
            return FetchResult(url, skip_reason=str(exc))
        except httpx.HTTPError as exc:
            return FetchResult(url, skip_reason=f"fetch failed: {type(exc).__name__}: {exc}")
        result = FetchResult(
            url,
            response.status_code,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )
        if response.status_code in (304, 404, 410):
            return result
        if response.status_code != 200:
            result.skip_reason = f"HTTP {response.status_code}"
            return result
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in HTML_TYPES:
            result.skip_reason = f"content type {content_type or 'missing'} is not HTML"
            return result
        result.text = response.text
        return result

    def discover(self, sources: Iterable[str], max_pages: int) -> Discovery:
        """List page URLs from sitemaps, or by following links from start pages."""
        found = Discovery()
        for source in sources:
            if source.endswith(".xml") or "sitemap" in source.rsplit("/", 1)[-1]:
                self._walk_sitemap(source, found, max_pages, depth=0)
            else:
                self._follow_links(source, found, max_pages)
        return found

    def _walk_sitemap(self, url: str, found: Discovery, max_pages: int, depth: int) -> None:
        try:
            response = self._get(url, {})
        except (FetchRefused, httpx.HTTPError) as exc:
            found.fail(url, f"sitemap not fetched: {exc}")
            return
        if response.status_code != 200:
            found.fail(url, f"sitemap returned HTTP {response.status_code}")
            return
        soup = BeautifulSoup(response.content, "xml")
        if soup.find("sitemapindex") is not None and depth < 3:
            for loc in soup.select("sitemap > loc"):
                self._walk_sitemap(loc.get_text(strip=True), found, max_pages, depth + 1)
            return
        locs = soup.select("url > loc")
        if not locs:
            found.fail(url, "sitemap has no <url><loc> entries")
        for loc in locs:
            page = normalise_url(loc.get_text(strip=True))
            if not self.policy.allows(page):
                found.skips.append((page, "outside ALLOWED_DOMAINS"))
            elif len(found.urls) < max_pages:
                found.urls[page] = None

    def _follow_links(self, start: str, found: Discovery, max_pages: int) -> None:
        queue = [normalise_url(start)]
        seen = set(queue)
        while queue and len(found.urls) < max_pages:
            url = queue.pop(0)
            result = self.fetch_page(url)
            if result.skip_reason or not result.text:
                reason = result.skip_reason or f"HTTP {result.status}"
                if result.gone or reason.startswith(("disallowed", "content type")):
                    found.skips.append((url, reason))
                else:  # an error: the links on that page are unknown, so absence proves nothing
                    found.fail(url, reason)
                continue
            found.urls[url] = None
            found.fetched[url] = result
            for anchor in BeautifulSoup(result.text, "lxml").find_all("a", href=True):
                if not isinstance(anchor, Tag):
                    continue
                link = normalise_url(urljoin(url, str(anchor["href"])))
                if link not in seen and self.policy.allows(link):
                    seen.add(link)
                    queue.append(link)
