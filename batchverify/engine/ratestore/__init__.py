"""Send-time windows: the log of recent sends that everyone who shares a rate cap must consult.

A :class:`Window` answers one question for the gate: "may one more request start now, given that
at most ``cap`` may start in any ``span`` seconds?" It records the send when the answer is yes and
says how long to wait when it is no. Where the log lives decides who shares the cap:

- :class:`MemoryWindow`: one process (every job and event loop in it);
- :class:`HostWindow`: every process of one user on this host (a small file under ``flock`` in
  the user's ``~/.local/state/batchverify/rate``, whatever the environment), or of everyone who
  names the same folder;
- :class:`~batchverify.engine.ratestore.remote.RedisWindow` (imported on demand, as it loads
  redis-py): every host (a Redis sorted set, timed by the Redis server's clock).

The pacer (aiolimiter) stays in the gate, per process and loop; the window is only the strict
guard behind it.
"""

from __future__ import annotations

from typing import Protocol

from batchverify.engine.ratestore.folder import (
    STATE_DIR_ENV,
    host_window_path,
    state_dir,
    window_dir,
    window_key,
)
from batchverify.engine.ratestore.local import HostWindow, MemoryWindow

__all__ = [
    "STATE_DIR_ENV",
    "HostWindow",
    "MemoryWindow",
    "Window",
    "host_window_path",
    "state_dir",
    "window_dir",
    "window_key",
]


class Window(Protocol):
    """The shared log of send times behind a gate."""

    async def take(self, cap: int, span: float) -> float:
        """Record one send and return 0.0 if fewer than ``cap`` sends started in the last ``span``
        seconds and no hold is in force; otherwise record nothing and return the seconds to wait
        before asking again."""
        ...

    async def take_stamped(self, cap: int, span: float) -> tuple[float, object]:
        """:meth:`take`, and the logged send's stamp (None when it waits): what :meth:`moved` is
        given once the request's bytes have left."""
        ...

    async def moved(self, stamp: object, delay: float) -> None:
        """The send logged as ``stamp`` left ``delay`` seconds after it was logged (a loaded
        machine, a new connection's handshake): from now on it counts from when it left."""
        ...

    def hold(self, seconds: float) -> None:
        """Hold every sharer's sends for ``seconds`` (the server said ``RequestLimitExceeded``)."""
        ...

    def sharing(self) -> int:
        """How many other processes sent through this window in the last few seconds (cheap)."""
        ...

    @property
    def where(self) -> str:
        """Who shares this window, in words (the file or the Redis it lives in)."""
        ...

    @property
    def problem(self) -> str | None:
        """A one-line note when the window lost its shared store and fell back to a local one."""
        ...

    async def aclose(self) -> None:
        """Release what this event loop holds (connections); the window stays usable."""
        ...
