"""Who a request comes from. Behind a reverse proxy every request arrives from the proxy: with
``--trusted-proxy ADDR`` the client is the last address ``X-Forwarded-For`` names before that proxy
(never the header's word from anyone else, who could forge it), so the login brake and the limits
per address apply to each person, not to everyone at once."""

from __future__ import annotations

import ipaddress

from aiohttp import web

__all__ = ["TRUSTED", "client_of", "parse_proxies"]

TRUSTED = web.AppKey("trusted_proxies", frozenset)


def parse_proxies(values: tuple[str, ...] | list[str]) -> frozenset[str]:
    """Addresses given to ``--trusted-proxy`` (IPv4 or IPv6, comma-separated or repeated)."""
    found: set[str] = set()
    for value in values:
        for part in value.split(","):
            text = part.strip()
            if text:
                found.add(str(ipaddress.ip_address(text)))  # ValueError: not an address
    return frozenset(found)


def client_of(request: web.BaseRequest) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the nearest address
    ``X-Forwarded-For`` names that is not itself a trusted proxy."""
    peer = request.remote or ""
    try:
        trusted: frozenset[str] = request.app.get(TRUSTED, frozenset())  # type: ignore[attr-defined]
    except (AttributeError, AssertionError):  # never routed (aiohttp could not parse it): no app
        trusted = frozenset()
    if not trusted or _normal(peer) not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _normal(hop)
        if address and address not in trusted:
            return address
    return peer


def _normal(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""
