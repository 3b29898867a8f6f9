"""Find the pages to sync: sitemaps first (ultimate-sitemap-parser), following links as the fallback.

A source is a sitemap (`.xml`, `.xml.gz`, a sitemap index or robots.txt) or a start page. For a start page,
the `Sitemap:` lines of its site's robots.txt are read first; only a site without them is crawled by its
links, breadth first, within ALLOWED_DOMAINS, to `max_depth` links from the start page.

Discovery that is cut short (an unreadable sitemap, a start page that fails, the page cap, the depth limit)
is marked incomplete with its reasons, so a page missing from it is never deleted for its absence.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import etree
from lxml import html as lxml_html
from usp.fetch_parse import SitemapFetcher
from usp.objects.sitemap import AbstractPagesSitemap, AbstractSitemap, InvalidSitemap
from usp.web_client.abstract_client import (
    AbstractWebClient,
    AbstractWebClientResponse,
    AbstractWebClientSuccessResponse,
    WebClientErrorResponse,
)
from w3lib.url import canonicalize_url

from content_sync.fetch import DomainPolicy, Fetcher, FetchResult

TRACKING = {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_ga", "_gl", "yclid", "igshid"}
SITEMAP_SUFFIXES = (".xml", ".xml.gz", "/robots.txt")
DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """One spelling per page: no fragment or tracking parameters, sorted query, lower-case host, no default
    port, and an empty path as "/".

    A trailing slash is kept: `/benefits/` and `/benefits` may be different resources, a server may answer only
    one of them, and relative links resolve against the slash. Two spellings of one page are told apart by
    its `<link rel=canonical>` instead (and a redirect's target is where links are resolved from)."""
    parts = urlsplit(url.strip())
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _tracking(k)], doseq=True
    )
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if parts.port and parts.port != DEFAULT_PORTS.get(parts.scheme.lower()):
        host += f":{parts.port}"
    path = parts.path or "/"
    rebuilt = urlunsplit((parts.scheme.lower(), host, path, query, ""))
    return canonicalize_url(rebuilt, keep_fragments=False)


def _tracking(key: str) -> bool:
    key = key.lower()
    return key.startswith("utm_") or key in TRACKING


def is_sitemap(url: str) -> bool:
    """True for a URL that names a sitemap (or robots.txt) rather than a start page."""
    path = urlsplit(url).path.lower()
    return path.endswith(SITEMAP_SUFFIXES) or "sitemap" in path.rsplit("/", 1)[-1]


@dataclass
class Discovery:
    """The pages found, each with its sitemap `lastmod` (or None), and why discovery was incomplete."""

    urls: dict[str, str | None] = field(default_factory=dict)
    skips: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    capped: bool = False  # stopped at the page cap: pages past it are unknown, not gone
    held: dict[str, str] = field(default_factory=dict)  # start pages that failed: kept as they were, and why
    fetched: dict[str, FetchResult] = field(default_factory=dict)  # pages read while following links

    @property
    def complete(self) -> bool:
        """Every source was read whole, so a known page that is not listed has really left the site."""
        return not self.problems

    def fail(self, url: str, reason: str) -> None:
        self.problems.append(f"{url}: {reason}")

    def add(self, url: str, lastmod: str | None, max_pages: int) -> bool:
        """Add a page unless the cap is reached (then it is skipped with its reason). False when capped."""
        if url in self.urls:
            return True
        if len(self.urls) >= max_pages:
            if not self.capped:
                self.problems.append(f"stopped at SYNC_MAX_PAGES={max_pages}; raise it to sync every page")
            self.capped = True
            self.skips.append((url, f"past SYNC_MAX_PAGES={max_pages}"))
            return False
        self.urls[url] = lastmod
        return True


class _Response(AbstractWebClientSuccessResponse):
    """A fetched sitemap, as ultimate-sitemap-parser reads it."""

    def __init__(self, result: FetchResult) -> None:
        self._result = result

    def status_code(self) -> int:
        return self._result.status

    def status_message(self) -> str:
        return "OK"

    def header(self, case_insensitive_name: str) -> str | None:
        if case_insensitive_name.lower() == "content-type":
            return self._result.content_type or None
        return None

    def raw_data(self) -> bytes:
        return self._result.content

    def url(self) -> str:
        return self._result.final_url or self._result.url


class SafeWebClient(AbstractWebClient):
    """ultimate-sitemap-parser's web client, fetching through our Fetcher: every hop checked and robots.txt
    applied, so a sitemap cannot lead the crawler anywhere ALLOWED_DOMAINS does not name."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher

    def set_max_response_data_length(self, max_response_data_length: int | None) -> None:
        pass  # the Fetcher's own size cap applies

    def get(self, url: str) -> AbstractWebClientResponse:
        result = self.fetcher.fetch_file(url)
        if result.status != 200 or result.skip_reason:
            return WebClientErrorResponse(result.skip_reason or f"HTTP {result.status}", retryable=False)
        broken = _not_well_formed(result.content)
        if broken:  # the parser would keep the pages before the break, and the rest would look deleted
            return WebClientErrorResponse(f"the sitemap is cut short or broken ({broken})", retryable=False)
        return _Response(result)


def _not_well_formed(content: bytes) -> str | None:
    """Why an XML sitemap (gzipped or not) is not well-formed, or None; plain-text sitemaps pass."""
    if content[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError) as exc:
            return f"gzip: {exc}"
    if content.lstrip()[:1] != b"<":
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        return str(exc)
    return None


def discover(
    fetcher: Fetcher,
    policy: DomainPolicy,
    sources: Iterable[str],
    max_pages: int,
    max_depth: int = 5,
    concurrency: int = 8,
) -> Discovery:
    """List the pages of every source, sitemaps first."""
    found = Discovery()
    for source in sources:
        if is_sitemap(source):
            read_sitemap(fetcher, policy, source, found, max_pages)
            continue
        listed = [s for s in fetcher.robots_sitemaps(source) if policy.allows(s)]
        if listed:
            for sitemap in listed:
                read_sitemap(fetcher, policy, sitemap, found, max_pages)
        else:
            follow_links(fetcher, policy, source, found, max_pages, max_depth, concurrency)
    return found


def read_sitemap(fetcher: Fetcher, policy: DomainPolicy, url: str, found: Discovery, max_pages: int) -> None:
    """Every page of a sitemap tree (index files, gzip, robots.txt), with its lastmod."""
    tree: AbstractSitemap = SitemapFetcher(url, recursion_level=0, web_client=SafeWebClient(fetcher)).sitemap()
    every = [tree, *tree.all_sitemaps()]
    invalid = [m for m in every if isinstance(m, InvalidSitemap)]
    for sitemap in invalid:
        found.fail(sitemap.url, f"sitemap not read ({sitemap.reason})")
    empty = [m for m in every if isinstance(m, AbstractPagesSitemap) and not m.pages]
    for blank in empty:  # an empty <urlset/> in an index is more likely a failed export than an empty site
        found.fail(blank.url, "the sitemap lists no pages")
    listed = 0
    for page in tree.all_pages():
        listed += 1
        link = canonical_url(page.url)
        if not policy.allows(link):
            found.skips.append((link, "outside ALLOWED_DOMAINS"))
            continue
        found.add(link, page.last_modified.isoformat() if page.last_modified else None, max_pages)
    if not listed and not invalid and not empty:
        found.fail(url, "the sitemap lists no pages")


def follow_links(
    fetcher: Fetcher,
    policy: DomainPolicy,
    start: str,
    found: Discovery,
    max_pages: int,
    max_depth: int,
    concurrency: int,
) -> None:
    """Breadth first from a start page, one level at a time, each level fetched concurrently."""
    level = [canonical_url(start)]
    seen = set(level)
    cut_by_depth = False
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="crawl") as pool:
        for depth in range(max_depth + 1):
            if not level or found.capped:
                break
            results = list(pool.map(fetcher.fetch_page, level))
            following: list[str] = []
            for url, result in zip(level, results, strict=True):
                links = _read_linked_page(url, result, found, max_pages, is_start=url == level[0] and depth == 0)
                for link in links:
                    if link not in seen and policy.allows(link):
                        seen.add(link)
                        following.append(link)
            if depth == max_depth and following:
                cut_by_depth = True
            level = following
    if cut_by_depth:
        found.fail(start, f"links deeper than SYNC_MAX_DEPTH={max_depth} were not followed")


def _read_linked_page(url: str, result: FetchResult, found: Discovery, max_pages: int, is_start: bool) -> list[str]:
    """Record one crawled page and return the links on it."""
    if result.skip_reason or result.status != 200:
        reason = result.skip_reason or f"HTTP {result.status}"
        if is_start:  # most likely an outage or a misconfiguration: the start page keeps its content too
            found.fail(url, f"the start page failed ({reason})")
            found.held[url] = f"the start page failed ({reason}); kept until it answers again"
        elif result.transient:  # the links on that page are unknown, so absence proves nothing
            found.fail(url, reason)
        else:
            found.skips.append((url, reason))
        return []
    if not found.add(url, None, max_pages):
        return []
    found.fetched[url] = result
    if not result.text:
        return []  # a PDF: indexed, but it links nowhere we follow
    return page_links(result.final_url or url, result.text)


def page_links(base: str, text: str) -> list[str]:
    """The canonical http(s) links of an HTML page, in page order, without duplicates."""
    try:
        tree = lxml_html.fromstring(text)
    except (ValueError, etree.ParserError):
        return []
    links: dict[str, None] = {}
    for href in tree.xpath("//a/@href"):
        absolute = urljoin(base, str(href).strip())
        if urlsplit(absolute).scheme in ("http", "https"):
            links[canonical_url(absolute)] = None
    return list(links)
