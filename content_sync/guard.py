"""Which URLs, ports and addresses the crawler may reach: ALLOWED_DOMAINS entries and the addresses names resolve to."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from content_sync.errors import AddressRefused, FetchRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""Given (host, port), the addresses the host resolves to, as strings; raises OSError when it does not resolve."""

DEFAULT_PORTS = {"http": 80, "https": 443}
METADATA = {
    ipaddress.ip_address("169.254.169.254"): "the cloud instance-metadata address",
    ipaddress.ip_address("169.254.170.2"): "the cloud container-metadata address",
    ipaddress.ip_address("100.100.100.200"): "the cloud instance-metadata address",
    ipaddress.ip_address("fd00:ec2::254"): "the cloud instance-metadata address",
}
CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# A last label that is a number: inet_aton-style parsers (and browsers) read such a host as an IPv4 address.
NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (socket.getaddrinfo), in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """One URL's scheme, host and port, parsed once (with httpx's parser, the one that sends the request)."""

    url: str
    scheme: str
    host: str  # lower-case ASCII (IDNA), no brackets, no trailing dot
    port: int
    literal: IPAddress | None  # the host, when the URL names an IP address

    @property
    def host_header(self) -> str:
        """The `Host:` header for this URL: the name, with the port when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """scheme://host[:port], where robots.txt lives."""
        return f"{self.scheme}://{self.host_header}"


def parse_target(url: str) -> Target:
    """Parse an http(s) URL; raise FetchRefused for anything else, or a host written as a non-canonical number."""
    try:
        parsed = httpx.URL(url)
        raw_host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise FetchRefused(f"{url!r} is not a valid URL ({exc}); fix the link or the sitemap entry") from exc
    if parsed.scheme not in DEFAULT_PORTS or not raw_host:
        raise FetchRefused(f"{url!r} is not an http(s) URL with a host; only http and https pages are fetched")
    host = raw_host.lower().rstrip(".")
    port = parsed.port or DEFAULT_PORTS[parsed.scheme]
    if not 0 < port < 65536:
        raise FetchRefused(f"{url!r} has port {port}, which does not exist; fix the URL")
    if "%" in host:
        raise FetchRefused(f"{url!r} names an IPv6 zone ({host}); link-local addresses are never fetched")
    literal: IPAddress | None = None
    if ":" in host:
        try:
            literal = ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise FetchRefused(f"{url!r} has an invalid IPv6 host {host!r}; fix the URL") from exc
    elif NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        try:
            literal = ipaddress.IPv4Address(host)
        except ValueError:
            literal = None
        if literal is None or str(literal) != host:
            raise FetchRefused(
                f"{url!r} writes its host {host!r} as a number that is not a dotted-quad IPv4 address "
                "(forms like 2130706433, 0x7f.1 or 0177.0.0.1 hide where they lead); it is never fetched, "
                "write the address as a.b.c.d and list it in ALLOWED_DOMAINS if it really is wanted"
            )
    return Target(url, parsed.scheme, host, port, literal)


def _parse_entry(entry: str) -> tuple[str, int | None]:
    """An ALLOWED_DOMAINS entry as (host, port); port None for a bare host (its scheme's default port)."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        host, port = entry, ""
    return host.rstrip("."), int(port) if port.isdigit() else None


def address_refusal(address: IPAddress) -> str | None:
    """Why the crawler must not connect to `address` unless ALLOWED_DOMAINS names it, or None for a public one."""
    if address in METADATA:
        return METADATA[address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_refusal(embedded)
            if inner:
                return f"{inner} ({embedded}) written as IPv6"
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address in CARRIER_GRADE_NAT, "a carrier-grade NAT address (100.64.0.0/10)"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


@dataclass
class DomainPolicy:
    """Which hosts may be fetched. An entry is `host` (the scheme's default port only: 80 for http, 443 for
    https) or `host:port` (exactly that port). An IPv6 address is written in brackets, as in URLs: `[::1]:8080`."""

    entries: list[str]

    def target(self, url: str) -> tuple[Target, str]:
        """The URL parsed, and the ALLOWED_DOMAINS entry that allows it; raise FetchRefused when none does."""
        target = parse_target(url)
        for entry in self.entries:
            host, port = _parse_entry(entry)
            if host == target.host and (port or DEFAULT_PORTS[target.scheme]) == target.port:
                return target, entry
        listed = [e for e in self.entries if _parse_entry(e)[0] == target.host]
        if listed:
            raise FetchRefused(
                f"{url} uses port {target.port}, but ALLOWED_DOMAINS allows {target.host} only as "
                f"{', '.join(listed)} (a bare host means port 80 for http and 443 for https); "
                f"add {target.host_header} to fetch it"
            )
        raise FetchRefused(f"{url} is outside ALLOWED_DOMAINS ({', '.join(self.entries)}); add its host to fetch it")

    def check(self, url: str) -> str:
        """Raise FetchRefused unless ALLOWED_DOMAINS names the URL's host and port; return the entry that does."""
        return self.target(url)[1]

    def allows(self, url: str) -> bool:
        """True when `check` would pass."""
        try:
            self.check(url)
        except FetchRefused:
            return False
        return True

    def names_address(self, address: IPAddress, target: Target) -> bool:
        """True when an entry is this very IP address (with the target's port): naming it explicitly allows it."""
        for entry in self.entries:
            host, port = _parse_entry(entry)
            try:
                listed = ipaddress.ip_address(host)
            except ValueError:
                continue
            if listed == address and (port or DEFAULT_PORTS[target.scheme]) == target.port:
                return True
        return False


def checked_addresses(target: Target, policy: DomainPolicy, resolver: Resolver) -> list[IPAddress]:
    """Resolve the target's host once and check every address; raise AddressRefused if any may not be reached.

    An IP-literal host that ALLOWED_DOMAINS lists is not resolved and is allowed whatever its range. A name's
    addresses must all be public, or each be listed in ALLOWED_DOMAINS itself (as `127.0.0.1:8080` is).
    Raises OSError when the name does not resolve."""
    if target.literal is not None:
        return [target.literal]
    addresses: list[IPAddress] = []
    for raw in resolver(target.host, target.port):
        try:
            addresses.append(ipaddress.ip_address(raw))
        except ValueError as exc:
            raise AddressRefused(f"{target.host} resolved to {raw!r}, which is not an IP address") from exc
    if not addresses:
        raise OSError(f"{target.host} resolved to no addresses")
    for address in addresses:
        refusal = address_refusal(address)
        if refusal and not policy.names_address(address, target):
            raise AddressRefused(
                f"{target.host} resolves to {address}, {refusal}; the crawler does not connect there for a name. "
                f"If that really is the agency's server, list {_literal_entry(address, target.port)} in "
                "ALLOWED_DOMAINS; otherwise check the site's DNS"
            )
    return addresses


def _literal_entry(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
