"""Connections held open on purpose cost the server nothing. A connection must bring a new
request's headers every ``HEADER_SECONDS`` unless a request is being handled on it (the first one,
or the next on a keep-alive connection), and one address may hold at most ``PER_CLIENT``
connections at once. aiohttp has neither (a client sending a header byte every few seconds holds
its connection for ever); a reverse proxy in front should bound them too."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

__all__ = ["HEADER_SECONDS", "PER_CLIENT", "guard_connections"]

log = logging.getLogger("batchverify")

HEADER_SECONDS = 20.0
PER_CLIENT = 32


def guard_connections(
    server: web.Server,
    *,
    header_seconds: float = HEADER_SECONDS,
    per_client: int = PER_CLIENT,
    trusted: frozenset[str] = frozenset(),
) -> None:
    """Wrap ``server``'s connection bookkeeping with both bounds (call after ``runner.setup()``)."""
    made, lost = server.connection_made, server.connection_lost
    open_by: dict[str, int] = {}
    peers: dict[Any, str] = {}  # handler -> its address (aiohttp's handlers have __slots__)

    def peer_of(transport: Any) -> str:
        peer = transport.get_extra_info("peername") if transport is not None else None
        return str(peer[0]) if isinstance(peer, tuple) and peer else ""

    def connection_made(handler: Any, transport: asyncio.Transport) -> None:
        made(handler, transport)
        peer = peer_of(transport)
        peers[handler] = peer
        open_by[peer] = open_by.get(peer, 0) + 1
        loop = asyncio.get_running_loop()
        if open_by[peer] > per_client and peer not in trusted:  # a proxy speaks for many clients
            log.warning("refused a connection from %s: %d open already", peer, per_client)
            loop.call_soon(_close, handler, transport)  # once aiohttp has set the connection up
            return
        watch(handler, transport, -1)

    def watch(handler: Any, transport: asyncio.Transport, seen: int) -> None:
        # Every ``header_seconds``: a connection that has neither received a new request's headers
        # nor is working on one (an idle keep-alive, a trickled header, a second request never
        # finished) is closed. A request being handled (an upload, an event stream) is not.
        def check() -> None:
            if transport.is_closing() or handler not in peers:
                return
            count = getattr(handler, "_request_count", 0)
            busy = getattr(handler, "_request_in_progress", False)
            if count == seen and not busy:
                _close(handler, transport)
                return
            watch(handler, transport, count)

        asyncio.get_running_loop().call_later(header_seconds, check)

    def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
        lost(handler, exc)
        peer = peers.pop(handler, None)
        if peer is not None and peer in open_by:
            open_by[peer] -= 1
            if open_by[peer] <= 0:
                del open_by[peer]

    server.connection_made = connection_made  # type: ignore[method-assign]
    server.connection_lost = connection_lost  # type: ignore[method-assign]


def _close(handler: Any, transport: asyncio.Transport) -> None:
    if not transport.is_closing():
        handler.force_close()
        transport.close()
