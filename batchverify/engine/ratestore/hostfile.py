"""The host window's file: its format (send times, the senders' pids, the hold, all tied to this
boot, since the times are CLOCK_MONOTONIC's) and the small pure steps on its state."""

from __future__ import annotations

import array
import bisect
import math
import os
import struct
import sys
import uuid
from pathlib import Path

__all__ = [
    "BOOT_ID_PATH",
    "READ_SIZE",
    "SHARE_SECONDS",
    "State",
    "alive",
    "boot_id",
    "decode",
    "encode",
    "trim",
]

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
# A process that sent within this many seconds counts as sharing the account.
SHARE_SECONDS = 5.0


def boot_id() -> bytes:
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
READ_SIZE = _HEADER.size + _MAX_TIMES * _TIME.size + _MAX_PIDS * _PID.size


class State:
    """The decoded file."""

    def __init__(self, hold_until: float = -math.inf) -> None:
        self.hold_until = hold_until
        self.times: list[float] = []
        self.pids: dict[int, float] = {}


def decode(data: bytes, boot: bytes, now: float) -> State:
    if len(data) < _HEADER.size:
        return State()
    magic, file_boot, hold_until, n_times, n_pids = _HEADER.unpack_from(data)
    size = _HEADER.size + n_times * _TIME.size + n_pids * _PID.size
    if magic != _MAGIC or file_boot != boot or len(data) != size:
        return State()  # garbage, truncated, or written before this boot: start afresh
    state = State(hold_until if math.isfinite(hold_until) and hold_until <= now + 60 else -math.inf)
    # array, not struct per value: at a high --rate the log holds hundreds of times, read every send.
    packed = array.array("d")
    packed.frombytes(data[_HEADER.size : _HEADER.size + n_times * _TIME.size])
    if sys.byteorder != "little":  # pragma: no cover - the file is little-endian
        packed.byteswap()
    times = packed.tolist()
    # Times from the future cannot come from this boot's monotonic clock: distrust the whole log.
    # Sorted and the last one not ahead covers every time (a NaN breaks the order, an inf the last).
    if times != sorted(times) or (times and not times[-1] <= now + 1.0):
        return State()
    state.times = times
    for pid, last in _PID.iter_unpack(data[_HEADER.size + n_times * _TIME.size : size]):
        if math.isfinite(last) and last <= now + 1.0:
            state.pids[pid] = last
    return state


def encode(state: State, boot: bytes) -> bytes:
    times = state.times[-_MAX_TIMES:]
    pids = sorted(state.pids.items(), key=lambda item: item[1])[-_MAX_PIDS:]
    hold = state.hold_until if math.isfinite(state.hold_until) else 0.0
    packed = array.array("d", times)
    if sys.byteorder != "little":  # pragma: no cover
        packed.byteswap()
    parts = [_HEADER.pack(_MAGIC, boot, hold, len(times), len(pids)), packed.tobytes()]
    parts += [_PID.pack(pid, last) for pid, last in pids]
    return b"".join(parts)


def trim(state: State, now: float, keep: float) -> None:
    del state.times[: bisect.bisect_right(state.times, now - keep)]
    for pid in [p for p, last in state.pids.items() if last < now - SHARE_SECONDS]:
        del state.pids[pid]


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (the pids in the file are this host's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
