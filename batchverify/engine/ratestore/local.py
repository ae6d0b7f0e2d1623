"""Windows of one process (:class:`MemoryWindow`) and of one host (:class:`HostWindow`).

The host window is a small binary file in a per-user private directory, read and rewritten under
``fcntl.flock`` for a few microseconds per send (never across an await). It holds the recent send
times on ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process of the host, restarted
at boot, so the file carries the boot id and a log from another boot is discarded), the shared
hold-until, and the pids that sent lately (so a run can tell that it shares the account).
"""

from __future__ import annotations

import array
import asyncio
import bisect
import logging
import math
import os
import stat
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from batchverify.errors import UsageError

if sys.platform != "win32":
    import fcntl

log = logging.getLogger("batchverify")

# Sends older than this are dropped from a log whatever the caller's span: a sharer whose margin
# was widened (up to 0.25 s) still sees every send that can matter to it.
KEEP_SECONDS = 2.0
# A process that sent within this many seconds counts as sharing the account.
SHARE_SECONDS = 5.0
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


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
        with self._lock:
            now = self._clock()
            del self._times[: bisect.bisect_right(self._times, now - max(span, self._keep))]
            return _decide(self._times, now, cap, span, self._hold_until)

    async def take(self, cap: int, span: float) -> float:
        return self.take_now(cap, span)

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


def _boot_id() -> bytes:
    """16 bytes naming this boot (zeros where the kernel does not say: the clock is then trusted)."""
    try:
        return uuid.UUID(Path(BOOT_ID_PATH).read_text().strip()).bytes
    except (OSError, ValueError):
        return bytes(16)


# The file: header (magic, boot id, hold-until, number of send times, number of pids), the send
# times (ascending), then (pid, last send) pairs. Little-endian, fixed sizes: a short or garbled
# file is recognised by its length and magic and replaced by an empty log.
_MAGIC = b"BVW1"
_HEADER = struct.Struct("<4s16sdHH")
_TIME = struct.Struct("<d")
_PID = struct.Struct("<id")
_MAX_TIMES = 4096
_MAX_PIDS = 256
_READ_SIZE = _HEADER.size + _MAX_TIMES * _TIME.size + _MAX_PIDS * _PID.size


class _Busy(Exception):
    """Another process holds the host window's lock right now."""


_TRIES = 50  # non-blocking attempts on the loop before waiting for the lock at last


class _State:
    """The decoded file."""

    def __init__(self, hold_until: float = -math.inf) -> None:
        self.hold_until = hold_until
        self.times: list[float] = []
        self.pids: dict[int, float] = {}


def _decode(data: bytes, boot: bytes, now: float) -> _State:
    if len(data) < _HEADER.size:
        return _State()
    magic, file_boot, hold_until, n_times, n_pids = _HEADER.unpack_from(data)
    size = _HEADER.size + n_times * _TIME.size + n_pids * _PID.size
    if magic != _MAGIC or file_boot != boot or len(data) != size:
        return _State()  # garbage, truncated, or written before this boot: start afresh
    state = _State(hold_until if math.isfinite(hold_until) and hold_until <= now + 60 else -math.inf)
    # array, not struct per value: at a high --rate the log holds hundreds of times, read every send.
    packed = array.array("d")
    packed.frombytes(data[_HEADER.size : _HEADER.size + n_times * _TIME.size])
    if sys.byteorder != "little":  # pragma: no cover - the file is little-endian
        packed.byteswap()
    times = packed.tolist()
    # Times from the future cannot come from this boot's monotonic clock: distrust the whole log.
    # Sorted and the last one not ahead covers every time (a NaN breaks the order, an inf the last).
    if times != sorted(times) or (times and not times[-1] <= now + 1.0):
        return _State()
    state.times = times
    for pid, last in _PID.iter_unpack(data[_HEADER.size + n_times * _TIME.size : size]):
        if math.isfinite(last) and last <= now + 1.0:
            state.pids[pid] = last
    return state


def _encode(state: _State, boot: bytes) -> bytes:
    times = state.times[-_MAX_TIMES:]
    pids = sorted(state.pids.items(), key=lambda item: item[1])[-_MAX_PIDS:]
    hold = state.hold_until if math.isfinite(state.hold_until) else 0.0
    packed = array.array("d", times)
    if sys.byteorder != "little":  # pragma: no cover
        packed.byteswap()
    parts = [_HEADER.pack(_MAGIC, boot, hold, len(times), len(pids)), packed.tobytes()]
    parts += [_PID.pack(pid, last) for pid, last in pids]
    return b"".join(parts)


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
        self._boot = _boot_id()
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

    def _update(self, change: Callable[[_State, float], float], *, block: bool = True) -> float:
        """Run ``change(state, now)`` on the file's state under the lock and write it back
        (``block=False``: ``BlockingIOError`` when another process holds the lock)."""
        with self._lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                now = time.monotonic()  # read under the lock: the file's times stay in order
                state = _decode(os.pread(fd, _READ_SIZE + 1, 0), self._boot, now)
                result = change(state, now)
                data = _encode(state, self._boot)
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
            return self._fallback.take_now(cap, span), time.monotonic()
        pid = os.getpid()
        decided = 0.0

        def change(state: _State, now: float) -> float:
            nonlocal decided
            decided = now
            _trim(state, now, max(span, self._keep))
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
            return self._fail(exc).take_now(cap, span), time.monotonic()

    async def take(self, cap: int, span: float) -> float:
        # Never waits for the file's lock on the event loop: another process holding it (for
        # microseconds, unless the machine deschedules it) is waited for a millisecond at a time.
        for _ in range(_TRIES):
            try:
                return self.take_at(cap, span, block=False)[0]
            except _Busy:
                await asyncio.sleep(0.001)
        return self.take_now(cap, span)

    def record(self) -> None:
        """Log a send that another window (Redis) admitted."""
        if self._fallback is not None:
            self._fallback.record()
            return
        pid = os.getpid()

        def change(state: _State, now: float) -> float:
            _trim(state, now, self._keep)
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

        def change(state: _State, now: float) -> float:
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
                    state = _decode(os.pread(fd, _READ_SIZE + 1, 0), self._boot, now)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            return 0
        recent = [p for p, last in state.pids.items() if p != pid and last >= now - SHARE_SECONDS]
        return sum(1 for p in recent if _alive(p))  # a run that just ended shares nothing

    @property
    def problem(self) -> str | None:
        return self._problem

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


def _trim(state: _State, now: float, keep: float) -> None:
    del state.times[: bisect.bisect_right(state.times, now - keep)]
    for pid in [p for p, last in state.pids.items() if last < now - SHARE_SECONDS]:
        del state.pids[pid]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (the pids in the file are this host's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
