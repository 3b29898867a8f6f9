"""The crawler's network layer: connections only to addresses already checked, and a deadline on every wait.

httpx resolves names itself, which would let a second DNS answer (rebinding) send a connection somewhere the
address checks never saw. Here the Fetcher puts the checked IP address in the URL, and this backend refuses to
connect to anything that is not an IP address; every connect, TLS handshake, read and write is cut to what is
left of the attempt's deadline, so a slow-drip server cannot hold a sync.
"""

from __future__ import annotations

import http.cookiejar
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

__all__ = ["Deadline", "PinnedTransport", "deadline_scope", "no_cookies"]


class Deadline:
    """The time one attempt may take on the network: connect, headers and body, across redirects."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent waiting for politeness or reading robots.txt is not the page's network time."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.at += time.monotonic() - start


_local = threading.local()  # the deadline of the attempt this thread is running, read by the network backend


@contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[None]:
    previous = getattr(_local, "deadline", None)
    _local.deadline = deadline
    try:
        yield
    finally:
        _local.deadline = previous


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """`timeout`, shortened to what is left of this thread's deadline; raise `error` when nothing is left."""
    deadline: Deadline | None = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    remaining = deadline.remaining()
    if remaining <= 0:
        raise error(f"the {deadline.seconds:g} s fetch deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to IP addresses (the Fetcher puts the address it checked in the URL), never to a name,
    so no second DNS lookup can send the connection elsewhere; every wait is bounded by the deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            message = f"refusing to resolve {host!r} again: only checked addresses are connected to"
            raise httpcore.ConnectError(message) from None
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("the crawler does not connect to Unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport on the pinned, deadline-bounded backend."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx has no parameter for the network backend, so its connection pool is replaced by one that has it.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, max_connections=100, max_keepalive_connections=20, network_backend=_PinnedBackend()
        )


def no_cookies() -> http.cookiejar.CookieJar:
    """A jar that keeps nothing: the crawler is stateless, and connections to one IP must not share cookies."""
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
