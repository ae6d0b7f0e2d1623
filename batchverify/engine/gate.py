"""Rate gates: what every request passes before it is sent, so the API's per-second cap holds.

``StrictGate`` is the default. aiolimiter paces the sends (``AsyncLimiter(k, k/rate)``: a small
bucket, so one late wake-up is made up by the next send instead of being lost), and a strict guard
behind it keeps a log of the last ``rate`` send times, so no sliding window of ``window + margin``
seconds ever holds more than ``rate`` sends, whatever the pacer, the event loop or a burst of jobs
does. A ``RequestLimitExceeded`` reply (``throttled()``) widens the margin (the network put sends
closer together at the server than they left us) and holds sends briefly; a quiet minute narrows
it again.

``shared_gate`` hands every job in a process that uses the same account and endpoint the same
gate, so concurrent jobs together stay within the cap. The guard's state is loop-agnostic (a thread
lock, the monotonic clock), so jobs on different event loops (a notebook's worker thread) share it
too; each loop gets its own pacer, because an aiolimiter instance belongs to one loop.

The strict log is a pluggable :class:`~batchverify.engine.ratestore.Window`: in memory (one
process), a file under ``flock`` (every process of the user on this host: the default of
``shared_gate``) or Redis (every host, timed by the Redis server's clock). The pacer stays per
process and loop; only the log is shared, so two runs on one key together keep the cap, and
``throttled()`` in one holds them all.

``SlidingWindowLimiter`` is the first release's limiter (an absolute send schedule plus the same
log, with a fixed 15 ms margin), kept for the side-by-side benchmark.
"""

from __future__ import annotations

import asyncio
import collections
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol

from aiolimiter import AsyncLimiter

from batchverify.engine.firstlimiter import SlidingWindowLimiter
from batchverify.engine.ratestore import HostWindow, MemoryWindow, Window, host_window_path, window_key
from batchverify.errors import UsageError

__all__ = [
    "RATE_STORE_ENV",
    "FairShare",
    "RateGate",
    "SlidingWindowLimiter",
    "Slot",
    "StrictGate",
    "make_window",
    "shared_gate",
    "shared_gates",
]

RATE_STORE_ENV = "BATCHVERIFY_RATE_STORE"
LEAVE_SLACK = 0.001  # a request that leaves within this of its slot stays where the log put it


class Slot(NamedTuple):
    """A send the window logged: its stamp there, and when (the gate's clock)."""

    stamp: object
    at: float


class RateGate(Protocol):
    """What the sender needs from a rate gate."""

    @property
    def rate(self) -> float:
        """Sends per second at most."""
        ...

    async def acquire(self) -> object:
        """Return when one request may be sent (every attempt, retries included, acquires once),
        with a slot to give to ``left`` when the request's bytes have left (gates that keep a log)."""
        ...

    def throttled(self) -> None:
        """The server answered ``RequestLimitExceeded``: be more careful from now on."""
        ...


class StrictGate:
    """At most ``rate * window`` sends in any ``window + margin`` seconds, paced by aiolimiter.

    ``margin`` starts at ``base_margin`` and grows (up to ``max_margin``) with every ``throttled()``;
    after ``relax_after`` seconds without one it halves back toward ``base_margin``. For
    ``cold_for`` seconds after the gate was idle, the margin is at least ``cold_margin``: the first
    sends open new connections (a TCP or TLS handshake), so they reach the server later than the
    sends that follow on warm connections, and a window counted from their release would let the
    server see one send too many in its first seconds. ``clock`` must
    be the clock of the event loops that use the gate (``time.monotonic`` is asyncio's default).

    ``store`` is the send log shared by everyone who must keep the cap together (default: a
    :class:`MemoryWindow` on ``clock``, this process only). Host and Redis windows keep their
    own clocks (``time.monotonic``, the Redis server's ``TIME``).
    """

    def __init__(
        self,
        rate: float,
        *,
        window: float = 1.0,
        base_margin: float = 0.005,
        max_margin: float = 0.25,
        burst: int = 2,
        hold: float = 0.25,
        max_hold: float = 5.0,
        relax_after: float = 60.0,
        cold_margin: float = 0.1,
        cold_for: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        store: Window | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.window = window
        self.base_margin = base_margin
        self.max_margin = max_margin
        self.margin = base_margin
        self._burst = max(1, burst)
        self._hold = hold
        self._max_hold = max_hold
        self._recent_throttles: collections.deque[float] = collections.deque()
        self._lags: collections.deque[tuple[float, float]] = collections.deque(maxlen=400)
        self.lag_margin = 0.0
        self._base_rate = rate
        self._leases: dict[object, float] = {}
        self._relax_after = relax_after
        self.cold_margin = cold_margin
        self._cold_for = cold_for
        self._last_send = -float("inf")
        self._cold_until = -float("inf")
        self._clock = clock
        self._lock = threading.Lock()
        self._pacers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncLimiter] = (
            weakref.WeakKeyDictionary()
        )
        self.store: Window = store if store is not None else MemoryWindow(clock)
        self._last_throttle = clock()
        self.sends = 0
        self.throttles = 0
        self._moving: set[asyncio.Task[None]] = set()
        self._set_rate(rate)

    @property
    def rate(self) -> float:
        return self._rate

    def _set_rate(self, rate: float) -> None:
        self._rate = rate
        self._cap = max(1, int(rate * self.window))
        self._pacers.clear()

    def limit_to(self, rate: float) -> None:
        """Lower the rate for good (every job of this gate from now on); never raises it."""
        with self._lock:
            self._base_rate = min(self._base_rate, rate)
            self._apply_rate()

    def lease(self, rate: float) -> object:
        """A job's own rate while it runs: the gate keeps the lowest rate any running job asked for,
        and goes back up when that job ends (``release``)."""
        token = object()
        with self._lock:
            self._leases[token] = rate
            self._apply_rate()
        return token

    def release(self, token: object) -> None:
        with self._lock:
            self._leases.pop(token, None)
            self._apply_rate()

    def allow(self, rate: float) -> None:
        """A job of the account may go this fast (the shared gate's rate is the highest any job
        asked for, held down to the lowest of those running)."""
        with self._lock:
            self._base_rate = max(self._base_rate, rate)
            self._apply_rate()

    def _apply_rate(self) -> None:
        rate = min([self._base_rate, *self._leases.values()])
        if rate != self._rate:
            self._set_rate(rate)  # the log keeps its times; the next take counts them at the new cap

    def _pacer(self) -> AsyncLimiter:
        loop = asyncio.get_running_loop()
        pacer = self._pacers.get(loop)
        if pacer is None:
            burst = min(self._burst, self._cap)
            pacer = self._pacers[loop] = AsyncLimiter(burst, burst / self._rate)
        return pacer

    async def acquire(self) -> Slot:
        await self._pacer().acquire()
        while True:
            with self._lock:
                now = self._clock()
                if now - self._last_send > self.window + self._cold_for:
                    self._cold_until = now + self._cold_for  # idle: the next sends start cold
                margin = max(self.margin, self.lag_margin)
                if now < self._cold_until:
                    margin = max(margin, self.cold_margin)
                cap, span = self._cap, self.window + margin
            # The window decides under its own lock (a thread lock, flock, or an atomic Redis
            # script) and never holds it across this await or the sleep below.
            wait, stamp = await self.store.take_stamped(cap, span)
            if wait <= 0:
                with self._lock:
                    self.sends += 1
                    self._last_send = sent = self._clock()
                    self._relax(sent)
                return Slot(stamp, sent)
            # Several waiters (of this process or others) may wake for one free slot; the window
            # lets one through and the others are told their new wait.
            asleep = self._clock()
            await asyncio.sleep(wait)
            self._note_lag(self._clock() - asleep - wait)

    def left(self, slot: object) -> None:
        """The request of ``slot`` has left (its bytes are written): when that was later than the
        window logged it (a descheduled process, a new connection's handshake), the log moves it to
        when it left, so the server's window and ours count it from the same moment."""
        if not isinstance(slot, Slot) or slot.stamp is None:
            return
        delay = self._clock() - slot.at
        if delay < LEAVE_SLACK:
            return
        task = asyncio.get_running_loop().create_task(self.store.moved(slot.stamp, delay))
        self._moving.add(task)  # held until done (a task nobody holds may be collected)
        task.add_done_callback(self._moving.discard)

    def _note_lag(self, lag: float) -> None:
        """How late the loop woke us: a send leaves that much after its slot, so the margin keeps
        twice the worst lag of the last 10 s (a loaded machine widens it, a quiet one narrows it)."""
        with self._lock:
            now = self._clock()
            lags = self._lags
            lags.append((now, max(0.0, lag)))
            while lags and now - lags[0][0] > 10.0:
                lags.popleft()
            self.lag_margin = min(self.max_margin, 2 * max(late for _, late in lags))

    def _relax(self, now: float) -> None:
        if self.margin > self.base_margin and now - self._last_throttle >= self._relax_after:
            self.margin = max(self.base_margin, self.margin / 2)
            self._last_throttle = now

    def throttled(self) -> None:
        with self._lock:
            now = self._clock()
            self.throttles += 1
            self.margin = min(self.max_margin, max(2 * self.margin, self.margin + 0.01))
            self._last_throttle = now
            # Throttling that does not clear holds longer each time: 0.25 s, doubling with every
            # further refusal in the last 10 s, up to max_hold.
            recent = self._recent_throttles
            recent.append(now)
            while recent and now - recent[0] > 10.0:
                recent.popleft()
            hold = min(self._max_hold, self._hold * 2 ** min(len(recent) - 1, 16))
        # The margin is this process's lesson; the hold is everyone's: the server counts the
        # account's requests, whichever process sent them.
        self.store.hold(hold)

    def sharing(self) -> int:
        """How many other processes sent through this gate's window in the last ~5 s (0: alone)."""
        return self.store.sharing()

    @property
    def where(self) -> str:
        """Who shares this gate's window, in words."""
        return self.store.where

    @property
    def problem(self) -> str | None:
        """A one-line note once the shared window failed and the gate went on locally, else None."""
        return self.store.problem

    async def aclose(self) -> None:
        """Release this event loop's connection to a shared store (the gate stays usable)."""
        await self.store.aclose()


class FairShare:
    """One job's way through a gate that several jobs share: one of its workers waits at a time.

    The pacer serves its waiters in arrival order, and a job starts by putting all of its workers
    in the queue at once, so without this the first job to start would take every slot until its
    workers came round again. With one waiter per job in the queue, jobs take turns. Create it on
    the job's loop.
    """

    def __init__(self, gate: RateGate, rate: float | None = None) -> None:
        self.gate = gate
        self._turn = asyncio.Lock()
        # The job's --rate holds while it runs (a shared gate's own lease), and no longer.
        lease = getattr(gate, "lease", None)
        self._lease = lease(rate) if lease is not None and rate is not None else None

    def close(self) -> None:
        """The job is done: its rate no longer holds the gate down."""
        if self._lease is not None:
            release = getattr(self.gate, "release", None)
            if release is not None:
                release(self._lease)
            self._lease = None

    @property
    def rate(self) -> float:
        return self.gate.rate

    async def acquire(self) -> object:
        async with self._turn:
            return await self.gate.acquire()

    def left(self, slot: object) -> None:
        left = getattr(self.gate, "left", None)
        if left is not None:
            left(slot)

    def throttled(self) -> None:
        self.gate.throttled()


_SHARED: dict[tuple[str, str, str], StrictGate] = {}
_SHARED_LOCK = threading.Lock()


def make_window(account: str, endpoint: str, store: str) -> Window:
    """The window ``store`` names for (SecretId, endpoint): "memory", "host" or a Redis URL."""
    if store == "memory":
        return MemoryWindow()
    if store == "host" or store.startswith(("/", "~")):
        if os.name != "posix":  # no flock: the gate keeps the rate for this process only
            return MemoryWindow()
        if store == "host":
            return HostWindow(host_window_path(account, endpoint))
        return HostWindow(host_window_path(account, endpoint, Path(store)), group=True)
    if store.startswith(("redis://", "rediss://", "unix://")):
        # Imported here: redis-py is only loaded by runs that use it, and only installed with the
        # redis extra.
        try:
            from batchverify.engine.ratestore.remote import RedisWindow
        except ImportError as exc:
            if exc.name is None or not exc.name.startswith("redis"):
                raise
            raise UsageError(
                "a redis:// rate store needs the redis client: pip install 'batchverify[redis]'",
                code="redis_not_installed",
                option="rate_store",
            ) from None

        local = make_window(account, endpoint, "host")
        assert isinstance(local, MemoryWindow | HostWindow)
        return RedisWindow(store, window_key(account, endpoint), local)
    raise UsageError(f"the rate store must be host, memory, a folder or a redis:// URL, not {store[:40]!r}")


def shared_gates() -> list[tuple[str, StrictGate]]:
    """The process's shared gates, each with the endpoint it paces (for a server's metrics)."""
    with _SHARED_LOCK:
        return [(endpoint, gate) for (_account, endpoint, _store), gate in _SHARED.items()]


def shared_gate(account: str, endpoint: str, rate: float, store: str | None = None) -> StrictGate:
    """The process-wide gate of one account (SecretId) at one endpoint.

    Jobs asking for different rates share the lowest one while they run together (each job leases
    its rate through ``FairShare``): the cap belongs to the account, not to a job. ``store`` says
    who else shares it: "host" (every batchverify process of this user on this host; the
    default), a folder's path (everyone naming that folder), "memory" (this process only) or a
    ``redis://``/``rediss://`` URL (every host using that Redis). None reads
    ``BATCHVERIFY_RATE_STORE``, then defaults to "host". Raises ``UsageError`` for an unknown
    store, an unusable folder or an unreachable Redis.
    """
    if store is None:
        store = os.environ.get(RATE_STORE_ENV, "").strip() or "host"
    with _SHARED_LOCK:
        gate = _SHARED.get((account, endpoint, store))
        if gate is None:
            window = make_window(account, endpoint, store)
            gate = _SHARED[(account, endpoint, store)] = StrictGate(rate, store=window)
        else:
            gate.allow(rate)
        return gate
