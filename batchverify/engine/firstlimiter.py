"""The first release's limiter, kept for the benchmark's comparison with ``StrictGate``."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

__all__ = ["SlidingWindowLimiter"]


class SlidingWindowLimiter:
    """The first release's limiter: ``rate`` per second on an absolute schedule, at most
    ``rate * window`` in any ``window + margin`` seconds. Kept for the benchmark's comparison.

    ``clock`` defaults to the running loop's clock; create the limiter inside the running loop.
    """

    def __init__(
        self,
        rate: float,
        *,
        window: float = 1.0,
        margin: float = 0.015,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.window = window
        self.margin = margin
        self._interval = 1.0 / rate
        self._per_window = max(1, int(rate * window))
        self._clock = clock or asyncio.get_running_loop().time
        self._next_slot = self._clock()
        self._sent: collections.deque[float] = collections.deque(maxlen=self._per_window)
        self._lock = asyncio.Lock()
        self.pause_seconds = 1.0

    async def acquire(self) -> None:
        """Wait for the next send slot; returns when a request may start."""
        async with self._lock:
            now = self._clock()
            # A slot missed by a late wake-up is still used (the schedule stays absolute); after
            # an idle spell longer than the window the schedule starts again from now.
            slot = self._next_slot if self._next_slot >= now - self.window else now
            if len(self._sent) == self._per_window:
                slot = max(slot, self._sent[0] + self.window + self.margin)
            self._next_slot = slot + self._interval
            # Sleeps may wake early by the clock's resolution; loop until the slot has come.
            while (now := self._clock()) < slot:  # noqa: ASYNC110
                await asyncio.sleep(slot - now)
            self._sent.append(now)

    def pause(self, seconds: float) -> None:
        """Hold every further send for ``seconds``."""
        self._next_slot = max(self._next_slot, self._clock() + seconds)

    def throttled(self) -> None:
        self.pause(self.pause_seconds)
