"""The client address: the direct peer, or, only when that peer is one of TRUSTED_PROXIES, the rightmost
address in X-Forwarded-For that is not a trusted proxy itself.

`ClientAddress` puts that address in the ASGI scope's `client`, so every later reader (`request.client.host`:
the rate limits, the staff lockout and audit log, continuation codes) sees the same address. uvicorn's own
proxy-header handling is switched off in the Procfile (`--no-proxy-headers`): by default it believes any
X-Forwarded-For sent from 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.types import ASGIApp, Receive, Scope, Send

from channels.settings import get_settings

Network = IPv4Network | IPv6Network


def _parse(value: str) -> IPv4Address | IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 203.0.113.7:51234
        value = value.split(":", 1)[0]
    try:
        address = ip_address(value)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: str, proxies: Sequence[Network]) -> bool:
    """Whether `address` is one of the trusted proxies (False for anything that is not an IP address)."""
    parsed = _parse(address)
    return parsed is not None and any(parsed.version == net.version and parsed in net for net in proxies)


def resolve_client(peer: str, forwarded_for: Iterable[str], proxies: Sequence[Network]) -> str:
    """The client address for a request from `peer` carrying these X-Forwarded-For header values.

    Unless `peer` is a trusted proxy, it is the client, whatever the header says. Otherwise the hops are read
    right to left (each proxy appends the address it was connected from) and the first one that is not a
    trusted proxy is the client. A hop that is not an IP address stops the walk there: nothing left of it can
    be believed, so the last trusted hop is taken instead.
    """
    if not proxies or not is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:
            break
        client = str(parsed)
        if not is_trusted(client, proxies):
            break
    return client


class ClientAddress:
    """ASGI middleware: replace `scope["client"]` by `resolve_client`'s address; the direct peer stays in
    `scope["state"]["peer"]`. Without TRUSTED_PROXIES it changes nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("client"):
            app = scope.get("app")
            overrides = getattr(app, "dependency_overrides", {})
            proxies = overrides.get(get_settings, get_settings)().trusted_proxies
            if proxies:
                peer, port = scope["client"]
                forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
                client = resolve_client(peer, forwarded, proxies)
                scope.setdefault("state", {})["peer"] = peer
                if client != peer:
                    scope["client"] = (client, 0)
        await self.app(scope, receive, send)
