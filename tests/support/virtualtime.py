"""An event loop whose clock jumps to the next timer when nothing is ready: rate tests run in no time.

The loop's ``time()`` is virtual; ``asyncio.sleep`` and aiolimiter (which both use ``loop.time()``)
see it. Pass ``loop.time`` as the clock of whatever is under test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 1000.0) -> None:
        super().__init__()
        self._now = start

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock as a late wake-up would (the process slept too long)."""
        self._now += seconds

    def _run_once(self) -> None:
        ready = getattr(self, "_ready")  # noqa: B009 - asyncio internals, tests only
        scheduled = [h for h in getattr(self, "_scheduled") if not h.cancelled()]  # noqa: B009
        if not ready and scheduled:
            # At least a microsecond: a timer due "now" by float rounding (aiolimiter computes
            # such wake-ups) must not keep the clock standing still.
            self._now = max(self._now + 1e-6, min(h.when() for h in scheduled))
        super()._run_once()  # type: ignore[misc]


def run_virtual(coro: Coroutine[Any, Any, _T], start: float = 1000.0) -> _T:
    """Run ``coro`` to completion on a fresh ``VirtualClockLoop``."""
    loop = VirtualClockLoop(start)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
