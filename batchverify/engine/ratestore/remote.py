"""A window shared across hosts: a Redis sorted set of send times, timed by the Redis server.

One Lua script does the whole decision atomically on the server: it reads ``TIME`` (so the hosts'
clocks never matter), trims the send times older than the longest span anyone uses, and either
adds this send or returns how long to wait. The shared hold and the registry of recent senders
live beside it; every key has a TTL, so an idle account leaves nothing behind.

Redis unreachable when the window is made is a :class:`~batchverify.errors.UsageError` (one line,
the URL without its password). Unreachable later, the window fails safe: it says so once and goes
on with the local window it was given (which has seen every send this process made), at the same
rate, for the rest of the process: switching back and forth would lose the other hosts' sends at
each switch.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import itertools
import logging
import os
import secrets
import socket
import time
import weakref
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import NoScriptError, RedisError

from batchverify.engine.ratestore.hostfile import SHARE_SECONDS
from batchverify.engine.ratestore.local import KEEP_SECONDS, HostWindow, MemoryWindow
from batchverify.errors import UsageError

log = logging.getLogger("batchverify")

# KEYS: send log (zset), hold-until (string), senders (zset).
# ARGV: cap, span us, keep us, hold us, member, sender token, ttl ms, take ("1") or hold only ("0"),
#       share us.
# Returns {wait us (0 = sent), other senders in the last share us}. Numbers go to redis.call
# formatted with %.0f: Lua's default number format keeps 14 digits, too few for epoch microseconds.
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cap, span, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local hold, ttl, share = tonumber(ARGV[4]), tonumber(ARGV[7]), tonumber(ARGV[9])
local function s(x) return string.format('%.0f', x) end
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if hold > 0 and now + hold > held then
  held = now + hold
  redis.call('SET', KEYS[2], s(held), 'PX', s(math.floor(hold / 1000) + 1000))
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. s(now - share))
local others = redis.call('ZCARD', KEYS[3])
if redis.call('ZSCORE', KEYS[3], ARGV[6]) then others = others - 1 end
if ARGV[8] ~= '1' then return {0, others} end
local ready = held
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. s(now - math.max(span, keep)))
local nth = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', '(' .. s(now - span),
                       'WITHSCORES', 'LIMIT', cap - 1, 1)
if #nth > 0 then ready = math.max(ready, tonumber(nth[2]) + span) end
if now >= ready then
  redis.call('ZADD', KEYS[1], s(now), ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[3], s(now), ARGV[6])
  redis.call('PEXPIRE', KEYS[3], ttl)
  return {0, others}
end
return {math.ceil(ready - now), others}
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()
TTL_MS = 60_000
CONNECT_TIMEOUT = 2.0
RETRY_SECONDS = 5.0  # a store that stopped answering is asked again this often
MAX_EXTRA = 0.05

_Local = MemoryWindow | HostWindow


def redact_url(url: str) -> str:
    """``url`` without its password (and without a query, where redis-py also takes one)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc}"
    elif parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def _closer(client: redis.asyncio.Redis) -> AsyncGenerator[None, None]:
    """Closes ``client`` when its loop shuts down.

    ``asyncio.run`` (and ``loop.shutdown_asyncgens``) closes unfinished async generators while
    the loop still runs: a parked generator is how a connection pool that belongs to one loop
    gets closed on that loop, whoever owns the loop, without a leftover task or a
    ResourceWarning.
    """
    try:
        yield
    finally:
        await client.aclose()


class RedisWindow:
    """The log shared by every process on every host that uses ``url`` for (SecretId, endpoint).

    ``key`` names the account (:func:`~batchverify.engine.ratestore.window_key`); ``local`` is the
    window this process falls back to (and keeps informed while Redis answers).
    """

    def __init__(self, url: str, key: str, local: _Local, *, keep: float = KEEP_SECONDS) -> None:
        self.url = redact_url(url)
        self._url = url
        self._keys = [f"batchverify:rate:{{{key}}}:{part}" for part in ("log", "hold", "who")]
        self._local = local
        self._keep = keep
        self._token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._serial = itertools.count()
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[redis.asyncio.Redis, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()
        self._holds: set[asyncio.Task[None]] = set()
        self._others = 0
        self._round_trips: collections.deque[float] = collections.deque(maxlen=32)
        self._problem: str | None = None  # what went wrong (kept for the summary once it happened)
        self._down = False  # the store does not answer now: local window, this process's share
        self._share = 2
        self._most_others = 0  # the most other processes ever seen sharing the account at once
        self._retry_at = 0.0
        self._check()

    def _check(self) -> None:
        """Reach the server once, synchronously (once per process and store, at the start)."""
        try:
            client = redis.Redis.from_url(
                self._url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=CONNECT_TIMEOUT,
                retry=redis.retry.Retry(NoBackoff(), 0),
            )
            try:
                client.script_load(SCRIPT)
            finally:
                client.close()
        except (RedisError, OSError, ValueError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(f"cannot use the rate store {self.url}: {reason}") from None

    async def _client(self) -> redis.asyncio.Redis:
        # A redis.asyncio client belongs to the loop it connected on: one per loop.
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            client = redis.asyncio.Redis.from_url(
                self._url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=CONNECT_TIMEOUT,
                retry=redis.asyncio.retry.Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
            )
            keeper = _closer(client)
            await anext(keeper)
            entry = self._clients[loop] = (client, keeper)
        return entry[0]

    async def _run(self, cap: int, span: float, hold: float, take: bool, member: str = "") -> int:
        """The script's answer (wait in microseconds); raises what the connection raises."""
        client = await self._client()
        # The server decides at some instant within the round trip, and the request leaves after
        # it: the gap between decision and arrival at the API varies by up to a round trip, so
        # the span grows by the slowest recent one (bounded: a stalled call must not stop sending).
        span += min(MAX_EXTRA, max(self._round_trips, default=0.0))
        args: list[Any] = [
            cap,
            round(span * 1e6),
            round(max(span, self._keep) * 1e6),
            round(hold * 1e6),
            member or f"{self._token}:{next(self._serial)}",
            self._token,
            TTL_MS,
            "1" if take else "0",
            round(SHARE_SECONDS * 1e6),
        ]
        started = time.monotonic()
        try:
            reply = await client.evalsha(SCRIPT_SHA, len(self._keys), *self._keys, *args)
        except NoScriptError:  # the server restarted or flushed its scripts since
            reply = await client.eval(SCRIPT, len(self._keys), *self._keys, *args)
        self._round_trips.append(time.monotonic() - started)
        wait, others = (int(x) for x in reply)
        self._others = max(0, others)
        self._most_others = max(self._most_others, self._others)
        return wait

    def _fail(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._retry_at = now + RETRY_SECONDS
        if self._down:
            return
        # The others who shared the account a moment ago go on at their own rate on their hosts:
        # this process keeps to its share of the cap until the store answers again.
        self._down = True
        # Who happened to send in the last seconds is not who shares the account: a host idle when
        # the store died (a server between jobs) starts again at full rate beside this one. So at
        # least two, and as many as were ever seen at once.
        self._share = max(2, 1 + self._most_others)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        self._problem = (
            f"the rate store {self.url} stopped answering ({reason}); this run keeps to its share "
            f"(1/{self._share} of the cap: {self._others} other {_process(self._others)} shared it) "
            f"and asks the store again every {RETRY_SECONDS:g} s"
        )
        log.warning("%s", self._problem)

    async def take(self, cap: int, span: float) -> float:
        return (await self.take_stamped(cap, span))[0]

    async def take_stamped(self, cap: int, span: float) -> tuple[float, object]:
        if self._down and time.monotonic() >= self._retry_at:
            self._retry_at = time.monotonic() + RETRY_SECONDS
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await self._run(1, 1.0, 0.0, False)  # a ping through the script: the store is back
                self._down = False
                log.warning("the rate store %s answers again: the account's window is shared again", self.url)
        if self._down:
            return await self._local.take_stamped(max(1, cap // self._share), span)
        member = f"{self._token}:{next(self._serial)}"
        try:
            wait = await self._run(cap, span, 0.0, True, member)
        except (RedisError, OSError, TimeoutError) as exc:
            self._fail(exc)
            return await self._local.take_stamped(max(1, cap // self._share), span)
        if wait > 0:
            return wait / 1e6, None
        self._local.record()
        return 0.0, member

    async def moved(self, stamp: object, delay: float) -> None:
        """The send ``stamp`` left ``delay`` seconds after the server logged it: its score moves
        by that much (``XX``: a send trimmed already is not logged again)."""
        if not isinstance(stamp, str):
            await self._local.moved(stamp, delay)  # admitted while the store was down
            return
        if self._down:
            return
        try:
            client = await self._client()
            await client.zadd(self._keys[0], {stamp: round(delay * 1e6)}, xx=True, incr=True)
        except (RedisError, OSError, TimeoutError) as exc:
            self._fail(exc)

    def hold(self, seconds: float) -> None:
        self._local.hold(seconds)
        if self._down:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop to send it on: this process holds; the others learn by their replies
        task = loop.create_task(self._send_hold(seconds))
        self._holds.add(task)  # a task nobody references may be collected before it runs
        task.add_done_callback(self._holds.discard)

    async def _send_hold(self, seconds: float) -> None:
        try:
            await self._run(1, 1.0, seconds, False)
        except (RedisError, OSError, TimeoutError) as exc:
            self._fail(exc)

    @property
    def where(self) -> str:
        return f"every batchverify process on every host using Redis {self.url}"

    def sharing(self) -> int:
        """Other processes (any host) that sent in the last few seconds, as of the last send."""
        return 0 if self._down else self._others

    @property
    def problem(self) -> str | None:
        return self._problem

    @property
    def down(self) -> bool:
        """The store did not answer when last asked (the process keeps to its share meanwhile)."""
        return self._down

    async def probe(self) -> bool:
        """Ask the store now (a readiness check): True when it answers; sharing resumes at once."""
        try:
            await self._run(1, 1.0, 0.0, False)
        except (RedisError, OSError, TimeoutError) as exc:
            self._fail(exc)
            return False
        if self._down:
            self._down = False
            log.warning("the rate store %s answers again: the account's window is shared again", self.url)
        return True

    async def aclose(self) -> None:
        entry = self._clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()  # runs _closer's finally: the client closes


def _process(n: int) -> str:
    return "process" if n == 1 else "processes"
