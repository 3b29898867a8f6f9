"""Fetch pages politely and safely: allowed hosts and ports only, checked addresses pinned, robots.txt on every hop."""

from __future__ import annotations

import codecs
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urldefrag, urljoin

import httpx
from protego import Protego

from content_sync.errors import AddressRefused, FetchRefused
from content_sync.guard import DomainPolicy, IPAddress, Resolver, Target, checked_addresses, system_resolver
from content_sync.transport import Deadline, PinnedTransport, deadline_scope, no_cookies

__all__ = ["DomainPolicy", "FetchResult", "Fetcher"]

MAX_REDIRECTS = 5
MAX_BYTES = 5_000_000
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
HTML_TYPES = ("text/html", "application/xhtml+xml")
PDF_TYPE = "application/pdf"
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,application/pdf;q=0.8,*/*;q=0.1"
ROBOTS_TTL = 24 * 3600.0  # RFC 9309: a robots.txt is cached for at most 24 hours
ROBOTS_ERROR_TTL = 300.0  # an unreachable one is asked again after 5 minutes (nothing is fetched meanwhile)
# X-Robots-Tag directives that themselves contain a colon, so "name: value" is not a user-agent scope.
COLON_DIRECTIVES = ("unavailable_after", "max-snippet", "max-image-preview", "max-video-preview")

Outcome = Literal["ok", "not_modified", "withdrawn", "transient"]
Kind = Literal["page", "file", "robots"]


@dataclass
class FetchResult:
    """What one fetch gave, classified so the synchroniser can decide what to do with the page:

    - "ok": HTTP 200 with a body to use (`text` for HTML; `content` always, and only it for PDFs and files);
    - "not_modified": HTTP 304 to a conditional GET;
    - "withdrawn": remove the page from the index (404/410, 401/403, disallowed by robots.txt, not HTML or PDF,
      redirected off ALLOWED_DOMAINS or into a path robots.txt disallows, X-Robots-Tag noindex);
    - "transient": keep its last good content (5xx after retries, 429, timeouts and the deadline, DNS and
      connection errors, robots.txt unreachable, an address that may not be connected to).

    `status` is the last HTTP status received (0 when none was). Every outcome but "ok" has a `skip_reason`.
    """

    url: str
    status: int = 0
    text: str = ""
    etag: str | None = None
    last_modified: str | None = None
    skip_reason: str | None = None
    final_url: str = ""
    content: bytes = b""
    content_type: str = ""
    noindex: bool = False
    outcome: Outcome = "ok"

    def __post_init__(self) -> None:
        if not self.final_url:
            self.final_url = self.url

    @property
    def gone(self) -> bool:
        """HTTP 404 or 410."""
        return self.status in (404, 410)

    @property
    def not_modified(self) -> bool:
        """HTTP 304: the copy from the last sync is current."""
        return self.status == 304

    @property
    def withdrawn(self) -> bool:
        """The page must be removed from the index."""
        return self.outcome == "withdrawn"

    @property
    def transient(self) -> bool:
        """The fetch failed for now; the page keeps its last good content."""
        return self.outcome == "transient"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _x_robots_noindex(values: Iterable[str], user_agent: str) -> bool:
    """True when an X-Robots-Tag header says noindex (or none) to every crawler or to this one by name."""
    token = user_agent.split("/", 1)[0].split()[0].lower() if user_agent.strip() else ""
    for value in values:
        scope: str | None = None
        for part in (p.strip().lower() for p in value.split(",")):
            name, colon, rest = part.partition(":")
            if colon and name.strip() not in COLON_DIRECTIVES:
                scope, part = name.strip(), rest.strip()
            if part in ("noindex", "none") and scope in (None, "*", token):
                return True
    return False


def _media_type(headers: httpx.Headers) -> str:
    return str(headers.get("content-type", "")).split(";")[0].strip().lower()


def _decode(body: bytes, charset: str | None) -> str:
    try:
        codec = str(codecs.lookup(charset or "utf-8").name)
    except LookupError:
        codec = "utf-8"
    return body.decode(codec, errors="replace")


@dataclass
class _Reply:
    """The final (non-redirect) response of one hop: its status and headers, and its body when it was read."""

    status: int
    headers: httpx.Headers
    charset: str | None = None
    body: bytes = b""
    refusal: str | None = None  # why the body was not read (too large, or not a type pages may have)


@dataclass
class _HostState:
    """Politeness towards one host: a limit on requests in flight, and when the next may start."""

    slots: threading.BoundedSemaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_start: float = 0.0
    paused_until: float = 0.0
    paused_reason: str = ""


@dataclass
class _Robots:
    """One origin's robots.txt as last read: its rules, none (a 4xx allows everything), or why it is unreachable."""

    fetched_at: float
    rules: Protego | None = None
    unreachable: str | None = None

    def expired(self) -> bool:
        ttl = ROBOTS_ERROR_TTL if self.unreachable else ROBOTS_TTL
        return time.monotonic() - self.fetched_at > ttl

    def allows(self, url: str, user_agent: str) -> bool:
        if self.unreachable:
            return False
        return self.rules is None or bool(self.rules.can_fetch(url, user_agent))

    def delay(self, user_agent: str, cap: float) -> float:
        if self.rules is None:
            return 0.0
        delay = self.rules.crawl_delay(user_agent)
        return min(max(float(delay), 0.0), cap) if delay is not None else 0.0


Attempt = tuple[FetchResult, bool, float | None]
"""A result, whether another attempt may help, and the Retry-After the server asked for (seconds)."""


@dataclass
class Fetcher:
    """An HTTP client that fetches only what ALLOWED_DOMAINS, the address checks and robots.txt allow.

    Every hop (the URL and each redirect) is checked against the domain policy (host and port), its host is
    resolved once with `resolver` and every address checked, the connection goes to a checked address (never
    to the name, so DNS rebinding cannot redirect it), and robots.txt of that hop's origin must allow it.
    Each attempt has a total `deadline` (seconds) for connect, headers and body across redirects; 5xx,
    timeouts and connection errors are retried `retries` times, `retry_backoff` * 2**n seconds apart, or after
    the server's Retry-After when it is at most `max_retry_after`. At most `per_host_limit` requests are in
    flight to one host, started at least its robots.txt Crawl-delay apart (capped at `max_crawl_delay`).
    Safe to call from many threads at once.
    """

    policy: DomainPolicy
    user_agent: str
    _: KW_ONLY
    resolver: Resolver = system_resolver
    deadline: float = 30.0
    retries: int = 2
    retry_backoff: float = 0.5
    max_retry_after: float = 30.0
    max_crawl_delay: float = 10.0
    per_host_limit: int = 4
    max_bytes: int = MAX_BYTES
    ssl_context: ssl.SSLContext | None = None
    _ssl: ssl.SSLContext = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _clients: dict[str, httpx.Client] = field(default_factory=dict, init=False, repr=False)
    _hosts: dict[str, _HostState] = field(default_factory=dict, init=False, repr=False)
    _robots: dict[str, _Robots] = field(default_factory=dict, init=False, repr=False)
    _robots_locks: dict[str, threading.Lock] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.per_host_limit < 1 or self.retries < 0 or self.deadline <= 0:
            raise ValueError("per_host_limit must be at least 1, retries at least 0 and deadline positive")
        self._ssl = self.ssl_context or httpx.create_ssl_context(trust_env=False)

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch_page(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """Fetch one HTML or PDF page; a conditional GET when a validator from the last sync is known."""
        headers = {"Accept": PAGE_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return self._fetch(url, headers, "page")

    def fetch_file(self, url: str) -> FetchResult:
        """Fetch a sitemap or other document: the same safety and robots.txt rules (robots.txt itself excepted),
        any content type, the body in `content`, never a conditional GET."""
        return self._fetch(url, {}, "file")

    def robots_allows(self, url: str) -> bool:
        """RFC 9309: a 4xx robots.txt allows everything; a 5xx or unreachable one allows nothing."""
        try:
            target, _ = self.policy.target(url)
        except FetchRefused:
            return False
        return self._robots_for(target.origin).allows(url, self.user_agent)

    def robots_sitemaps(self, url: str) -> list[str]:
        """The `Sitemap:` URLs in robots.txt of `url`'s origin (none when it has no robots.txt or it is
        unreachable). Raises FetchRefused when the origin is outside ALLOWED_DOMAINS."""
        target, _ = self.policy.target(url)
        robots = self._robots_for(target.origin)
        return [str(s) for s in robots.rules.sitemaps] if robots.rules is not None else []

    def _client(self, host: str) -> httpx.Client:
        """One client per host name, so a TLS connection made for one name never serves another on that IP."""
        with self._lock:
            client = self._clients.get(host)
            if client is None:
                client = httpx.Client(
                    transport=PinnedTransport(self._ssl),
                    timeout=TIMEOUT,
                    follow_redirects=False,
                    headers={"User-Agent": self.user_agent},
                    cookies=no_cookies(),
                    trust_env=False,
                )
                self._clients[host] = client
            return client

    def _host(self, host: str) -> _HostState:
        with self._lock:
            state = self._hosts.get(host)
            if state is None:
                state = self._hosts[host] = _HostState(threading.BoundedSemaphore(self.per_host_limit))
            return state

    def _robots_for(self, origin: str) -> _Robots:
        """The origin's robots.txt, read at most once per TTL however many threads ask at once."""
        with self._lock:
            lock = self._robots_locks.setdefault(origin, threading.Lock())
        with lock:
            with self._lock:
                cached = self._robots.get(origin)
            if cached is not None and not cached.expired():
                return cached
            url = origin + "/robots.txt"
            result = self._fetch(url, {}, "robots")
            robots = _Robots(time.monotonic())
            if result.outcome == "ok":
                robots.rules = Protego.parse(_decode(result.content, "utf-8"))
            elif 400 <= result.status < 500 and result.status != 429:
                pass  # "unavailable": no rules, everything allowed
            else:
                robots.unreachable = (
                    f"robots.txt at {url} could not be read ({result.skip_reason}); RFC 9309 says to fetch "
                    f"nothing from {origin} until it can, so its pages keep their last good content"
                )
            with self._lock:
                self._robots[origin] = robots
            return robots

    def _fetch(self, url: str, headers: dict[str, str], kind: Kind) -> FetchResult:
        """Attempt the fetch, and again after a retryable failure, with backoff or the server's Retry-After."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            result, retryable, retry_after = self._attempt(url, headers, kind)
            if not retryable:
                return result
            if attempt + 1 == attempts:
                if attempts > 1:
                    result.skip_reason = f"{result.skip_reason} (after {attempts} attempts)"
                return result
            time.sleep(max(retry_after or 0.0, self.retry_backoff * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, url: str, headers: dict[str, str], kind: Kind) -> Attempt:
        """One attempt: follow redirects by hand, each hop checked, connected to its checked address."""
        deadline = Deadline(self.deadline)
        current, status = url, 0

        def done(outcome: Outcome, reason: str | None, retry: bool = False, after: float | None = None) -> Attempt:
            return FetchResult(url, status, skip_reason=reason, final_url=current, outcome=outcome), retry, after

        def hop_reason(reason: str, redirected_prefix: str) -> str:
            return reason if current == url and status == 0 else f"{redirected_prefix}: {reason}"

        with deadline_scope(deadline):
            for _ in range(MAX_REDIRECTS + 1):
                redirected = f"redirected from {url} to {current}"
                try:
                    target, _entry = self.policy.target(current)
                except FetchRefused as exc:
                    return done("withdrawn", hop_reason(str(exc), f"{redirected}, which may not be fetched"))
                state = self._host(target.host)
                with state.lock:
                    paused = state.paused_reason if state.paused_until > time.monotonic() else ""
                if paused:
                    return done("transient", paused)
                try:
                    addresses = checked_addresses(target, self.policy, self.resolver)
                except AddressRefused as exc:
                    return done("transient", hop_reason(str(exc), f"{redirected}, which is refused"))
                except (OSError, UnicodeError) as exc:
                    reason = f"could not resolve {target.host} ({exc}); check the host name and DNS"
                    return done("transient", hop_reason(reason, redirected), retry=True)
                delay = 0.0
                if kind != "robots" and httpx.URL(target.url).path != "/robots.txt":
                    with deadline.paused():
                        robots = self._robots_for(target.origin)
                    if robots.unreachable:
                        return done("transient", hop_reason(robots.unreachable, redirected))
                    if not robots.allows(current, self.user_agent):
                        if current == url and status == 0:
                            return done("withdrawn", "disallowed by robots.txt")
                        return done("withdrawn", f"{redirected}, which robots.txt disallows; not fetched")
                    delay = robots.delay(self.user_agent, self.max_crawl_delay)
                try:
                    with self._slot(state, delay, deadline):
                        reply = self._exchange(target, addresses, headers, kind)
                except httpx.TimeoutException as exc:
                    if deadline.remaining() <= 0:
                        reason = (
                            f"took longer than the {self.deadline:g} s deadline for connecting, headers and body "
                            f"together ({type(exc).__name__}); the server is too slow, try again later"
                        )
                        return done("transient", hop_reason(reason, redirected))
                    reason = f"timed out ({type(exc).__name__}: {exc or 'no answer'})"
                    return done("transient", hop_reason(reason, redirected), retry=True)
                except httpx.HTTPError as exc:
                    reason = f"fetch failed: {type(exc).__name__}: {exc}"
                    return done("transient", hop_reason(reason, redirected), retry=True)
                if isinstance(reply, tuple):
                    status, location = reply
                    current, _ = urldefrag(urljoin(current, location))
                    continue
                status = reply.status
                return self._classify(url, current, reply, kind, state)
            return done("transient", f"{url} redirects more than {MAX_REDIRECTS} times; fix the redirect chain")

    @contextmanager
    def _slot(self, state: _HostState, delay: float, deadline: Deadline) -> Iterator[None]:
        """Wait for a free request slot on the host and for its crawl delay (not counted against the deadline)."""
        with deadline.paused():
            state.slots.acquire()
            try:
                with state.lock:
                    start = max(time.monotonic(), state.next_start)
                    state.next_start = start + delay
                wait = start - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            except BaseException:
                state.slots.release()
                raise
        try:
            yield
        finally:
            state.slots.release()

    def _exchange(
        self, target: Target, addresses: list[IPAddress], headers: dict[str, str], kind: Kind
    ) -> _Reply | tuple[int, str]:
        """One request to a checked address: (status, Location) for a redirect, else the reply with its body."""
        response = self._open(target, addresses, headers)
        try:
            if response.has_redirect_location:
                return response.status_code, response.headers["location"]
            reply = _Reply(response.status_code, response.headers, response.charset_encoding)
            if response.status_code != 200:
                return reply
            media = _media_type(response.headers)
            if kind == "page" and media not in (*HTML_TYPES, PDF_TYPE):
                reply.refusal = f"content type {media or 'missing'} is not HTML or PDF"
                return reply
            too_large = f"{target.url} is larger than {self.max_bytes} bytes, the most a page may have"
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                reply.refusal = too_large
                return reply
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > self.max_bytes:
                    reply.refusal = too_large
                    return reply
            reply.body = bytes(body)
            return reply
        finally:
            response.close()

    def _open(self, target: Target, addresses: list[IPAddress], headers: dict[str, str]) -> httpx.Response:
        """Send the request to the first checked address that accepts a connection, naming the host in
        `Host:` (and in TLS SNI, where the certificate is verified against the name)."""
        client = self._client(target.host)
        url = httpx.URL(target.url)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" and target.literal is None else {}
        error: httpx.ConnectError | None = None
        for address in addresses:
            request = client.build_request(
                "GET",
                url.copy_with(host=str(address)),
                headers={**headers, "Host": target.host_header},
                extensions=extensions,
            )
            try:
                return client.send(request, stream=True)
            except httpx.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    def _classify(self, url: str, final_url: str, reply: _Reply, kind: Kind, state: _HostState) -> Attempt:
        """Turn the final response into an outcome the synchroniser can act on."""
        status, headers = reply.status, reply.headers
        result = FetchResult(
            url,
            status,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            final_url=final_url,
            content_type=_media_type(headers),
            noindex=_x_robots_noindex(headers.get_list("x-robots-tag"), self.user_agent),
        )

        def out(outcome: Outcome, reason: str | None, retry: bool = False, after: float | None = None) -> Attempt:
            result.outcome, result.skip_reason = outcome, reason
            return result, retry, after

        if status == 200:
            if reply.refusal:
                return out("withdrawn", reply.refusal)
            result.content = reply.body
            if kind != "page":
                return out("ok", None)
            if result.content_type in HTML_TYPES:
                result.text = _decode(reply.body, reply.charset)
            if result.noindex:
                return out("withdrawn", "X-Robots-Tag says noindex: the site asks that this page not be indexed")
            return out("ok", None)
        if status == 304:
            return out("not_modified", "not modified since the last sync (HTTP 304)")
        if status in (404, 410):
            return out("withdrawn", f"HTTP {status}: the page is gone")
        if status in (401, 403):
            return out("withdrawn", f"HTTP {status}: the page is no longer public")
        after = _retry_after(headers.get("retry-after")) if status in (429, 503) else None
        if after is not None:
            now = time.monotonic()
            if after > self.max_retry_after:
                reason = (
                    f"HTTP {status} with Retry-After {after:g} s, longer than the {self.max_retry_after:g} s "
                    f"this crawler waits; {final_url} is left alone until then, try again later"
                )
                with state.lock:
                    state.paused_until = max(state.paused_until, now + after)
                    state.paused_reason = f"not fetched: the host asked crawlers to wait ({reason})"
                return out("transient", reason)
            with state.lock:  # the other threads hold off too
                state.next_start = max(state.next_start, now + after)
            return out("transient", f"HTTP {status} (Retry-After {after:g} s)", retry=True, after=after)
        if status >= 500 or status in (408, 425, 429):
            return out("transient", f"HTTP {status}: the server failed; try again later", retry=True)
        if 400 <= status < 500:
            return out("withdrawn", f"HTTP {status}")
        return out("transient", f"unexpected HTTP {status}")
