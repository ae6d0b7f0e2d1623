"""Windows of one process (:class:`MemoryWindow`) and of one host (:class:`HostWindow`).

The host window is a small binary file in a per-user private directory, read and rewritten under
``fcntl.flock`` for a few microseconds per send (never across an await). It holds the recent send
times on ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process of the host, restarted
at boot, so the file carries the boot id and a log from another boot is discarded), the shared
hold-until, and the pids that sent lately (so a run can tell that it shares the account).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import os
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from batchverify.engine.ratestore.hostfile import (
    READ_SIZE,
    SHARE_SECONDS,
    State,
    alive,
    boot_id,
    decode,
    encode,
    trim,
)
from batchverify.errors import UsageError

if sys.platform != "win32":
    import fcntl

log = logging.getLogger("batchverify")

# Sends older than this are dropped from a log whatever the caller's span: a sharer whose margin
# was widened (up to 0.25 s) still sees every send that can matter to it.
KEEP_SECONDS = 2.0


class MemoryWindow:
    """The log of one process: a sorted list of send times under a thread lock.

    ``clock`` is the gate's clock (a virtual one in tests); the lock makes it safe for gates used
    by several event loops in several threads.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, keep: float = KEEP_SECONDS) -> None:
        self._clock = clock
        self._keep = keep
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._hold_until = -math.inf

    def take_now(self, cap: int, span: float) -> float:
        """:meth:`take` without the coroutine (the host window falls back to it)."""
        return self._take(cap, span)[0]

    def _take(self, cap: int, span: float) -> tuple[float, float | None]:
        with self._lock:
            now = self._clock()
            del self._times[: bisect.bisect_right(self._times, now - max(span, self._keep))]
            wait = _decide(self._times, now, cap, span, self._hold_until)
            return wait, now if wait == 0.0 else None

    async def take(self, cap: int, span: float) -> float:
        return self._take(cap, span)[0]

    async def take_stamped(self, cap: int, span: float) -> tuple[float, object]:
        return self._take(cap, span)

    async def moved(self, stamp: object, delay: float) -> None:
        if isinstance(stamp, float):
            with self._lock:
                _move(self._times, stamp, delay)

    def record(self) -> None:
        """Log a send that another window admitted (so a later fallback starts from the truth)."""
        with self._lock:
            now = self._clock()
            del self._times[: bisect.bisect_right(self._times, now - self._keep)]
            self._times.append(now)

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def sharing(self) -> int:
        return 0

    @property
    def where(self) -> str:
        return "this process only"

    @property
    def problem(self) -> str | None:
        return None

    async def aclose(self) -> None:
        return None


def _decide(times: list[float], now: float, cap: int, span: float, hold_until: float) -> float:
    """Append ``now`` to the sorted ``times`` and return 0.0, or return the wait (``times`` as is).

    At most ``cap`` sends in any ``span``: with ``cap`` sends after ``now - span`` already, the
    next may start when the oldest of the last ``cap`` leaves the span.
    """
    ready = hold_until
    recent = len(times) - bisect.bisect_right(times, now - span)
    if recent >= cap:
        ready = max(ready, times[-cap] + span)
    if now >= ready:
        times.append(now)
        return 0.0
    return ready - now


def _move(times: list[float], stamp: float, delay: float) -> None:
    """The send logged at ``stamp`` left ``delay`` seconds later: from now on it counts from then."""
    at = bisect.bisect_left(times, stamp)
    if at < len(times) and times[at] == stamp:
        del times[at]
    bisect.insort(times, stamp + delay)


class _Busy(Exception):
    """Another process holds the host window's lock right now."""


_TRIES = 50  # non-blocking attempts on the loop before waiting for the lock at last


class HostWindow:
    """The log shared by every process of this user on this host, in the file ``path``.

    Any failure of the file (a full disk, a directory removed under us) switches this process to
    an in-memory log at the same cap and says so once (:attr:`problem`); it never raises from
    :meth:`take`.
    """

    def __init__(self, path: Path, keep: float = KEEP_SECONDS, *, group: bool = False) -> None:
        self.path = path
        self._group = group  # in a named folder its group shares: the file may be another member's
        self._keep = keep
        self._boot = boot_id()
        self._lock = threading.Lock()  # flock does not exclude threads sharing one descriptor
        self._fd = -1
        self._fd_pid = -1
        self._fallback: MemoryWindow | None = None
        self._problem: str | None = None
        try:
            self._open()
        except OSError as exc:
            raise UsageError(f"cannot use {path} for the shared rate window: {exc.strerror or exc}") from None

    def _open(self) -> None:
        # O_NOFOLLOW: a symlink planted in place of the file is refused, not followed.
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags, 0o660 if self._group else 0o600)
        try:
            info = os.fstat(fd)
            mine = info.st_uid == os.getuid()
            if not stat.S_ISREG(info.st_mode) or not (mine or self._group):
                raise UsageError(f"{self.path} is not this user's regular file; refusing to use it")
            wanted = 0o660 if self._group else 0o600  # the umask may have taken the group's write
            if mine and stat.S_IMODE(info.st_mode) != wanted:
                os.fchmod(fd, wanted)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._fd_pid = fd, os.getpid()

    def _descriptor(self) -> int:
        # A forked child shares the parent's open file description, and flock on a shared
        # description excludes nobody: the child opens its own.
        if self._fd_pid != os.getpid():
            self._open()
        return self._fd

    def _update(self, change: Callable[[State, float], float], *, block: bool = True) -> float:
        """Run ``change(state, now)`` on the file's state under the lock and write it back
        (``block=False``: ``BlockingIOError`` when another process holds the lock)."""
        with self._lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                now = time.monotonic()  # read under the lock: the file's times stay in order
                state = decode(os.pread(fd, READ_SIZE + 1, 0), self._boot, now)
                result = change(state, now)
                data = encode(state, self._boot)
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
                return result
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _fail(self, exc: OSError) -> MemoryWindow:
        if self._fallback is None:
            self._fallback = MemoryWindow(keep=self._keep)
            self._problem = (
                f"the shared rate window {self.path} failed ({exc.strerror or exc}); "
                "this run now keeps the rate on its own"
            )
            log.warning("%s", self._problem)
        return self._fallback

    def take_now(self, cap: int, span: float) -> float:
        """:meth:`take` without the coroutine."""
        return self.take_at(cap, span)[0]

    def take_at(self, cap: int, span: float, *, block: bool = True) -> tuple[float, float]:
        """:meth:`take_now` and the ``time.monotonic()`` of the decision (the time logged when it
        admits): what a test needs to check the log exactly."""
        if self._fallback is not None:
            return _stamped(self._fallback, cap, span)
        pid = os.getpid()
        decided = 0.0

        def change(state: State, now: float) -> float:
            nonlocal decided
            decided = now
            trim(state, now, max(span, self._keep))
            wait = _decide(state.times, now, cap, span, state.hold_until)
            if wait == 0.0:
                state.pids[pid] = now
            return wait

        try:
            return self._update(change, block=block), decided
        except BlockingIOError:
            if block:
                raise
            raise _Busy from None
        except OSError as exc:
            return _stamped(self._fail(exc), cap, span)

    async def take(self, cap: int, span: float) -> float:
        return (await self.take_stamped(cap, span))[0]

    async def take_stamped(self, cap: int, span: float) -> tuple[float, object]:
        # Never waits for the file's lock on the event loop: another process holding it (for
        # microseconds, unless the machine deschedules it) is waited for a millisecond at a time.
        for _ in range(_TRIES):
            try:
                wait, at = self.take_at(cap, span, block=False)
                return wait, at if wait == 0.0 else None
            except _Busy:
                await asyncio.sleep(0.001)
        wait, at = self.take_at(cap, span)
        return wait, at if wait == 0.0 else None

    async def moved(self, stamp: object, delay: float) -> None:
        if self._fallback is not None:
            await self._fallback.moved(stamp, delay)
            return
        if not isinstance(stamp, float):
            return

        def change(state: State, now: float) -> float:
            _move(state.times, stamp, delay)
            return 0.0

        try:
            for _ in range(_TRIES):
                with contextlib.suppress(BlockingIOError):
                    self._update(change, block=False)
                    return
                await asyncio.sleep(0.001)
            self._update(change)
        except OSError as exc:
            self._fail(exc)

    def record(self) -> None:
        """Log a send that another window (Redis) admitted."""
        if self._fallback is not None:
            self._fallback.record()
            return
        pid = os.getpid()

        def change(state: State, now: float) -> float:
            trim(state, now, self._keep)
            state.times.append(now)
            state.pids[pid] = now
            return 0.0

        try:
            self._update(change)
        except OSError as exc:
            self._fail(exc).record()

    def hold(self, seconds: float) -> None:
        if self._fallback is not None:
            self._fallback.hold(seconds)
            return

        def change(state: State, now: float) -> float:
            state.hold_until = max(state.hold_until, now + seconds)
            return 0.0

        try:
            self._update(change)
        except OSError as exc:
            self._fail(exc).hold(seconds)

    @property
    def where(self) -> str:
        if self._fallback is not None:
            return "this process only (the host's file failed)"
        return f"every batchverify process of this host, through {self.path}"

    def sharing(self) -> int:
        if self._fallback is not None:
            return 0
        pid = os.getpid()
        try:
            with self._lock:
                fd = self._descriptor()
                fcntl.flock(fd, fcntl.LOCK_SH)
                try:
                    now = time.monotonic()
                    state = decode(os.pread(fd, READ_SIZE + 1, 0), self._boot, now)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            return 0
        recent = [p for p, last in state.pids.items() if p != pid and last >= now - SHARE_SECONDS]
        return sum(1 for p in recent if alive(p))  # a run that just ended shares nothing

    @property
    def problem(self) -> str | None:
        return self._problem

    @property
    def down(self) -> bool:
        """The host's file failed: this process keeps the rate on its own."""
        return self._fallback is not None

    async def aclose(self) -> None:
        return None

    def close(self) -> None:
        """Close the file (tests; a gate keeps its window for the life of the process)."""
        with self._lock:
            if self._fd >= 0 and self._fd_pid == os.getpid():
                os.close(self._fd)
            self._fd, self._fd_pid = -1, -1  # reopened on the next use

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing to report
            pass


def _stamped(window: MemoryWindow, cap: int, span: float) -> tuple[float, float]:
    """A fallback's decision and the time it logged (so that a later move finds that entry)."""
    wait, stamp = window._take(cap, span)
    return wait, stamp if stamp is not None else time.monotonic()
