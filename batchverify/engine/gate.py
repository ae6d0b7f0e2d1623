"""A rate limiter that never lets more than ``rate`` requests start in any sliding window.

aiolimiter's ``AsyncLimiter(rate, 1)`` bursts up to twice the rate in a one-second window, and
``AsyncLimiter(1, 1/rate)`` never makes up a late wake-up, so both miss either the cap or the
throughput. This limiter hands out send slots on an absolute schedule (a late wake-up is made up by
the next slot, because sleeps round up to whole milliseconds) and checks every send against a log
of the last ``rate`` sends, so at most ``rate`` requests start in any ``window + margin`` seconds.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable


class SlidingWindowLimiter:
    """``rate`` acquisitions per second, at most ``rate * window`` in any ``window + margin`` seconds.

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

    async def acquire(self) -> None:
        """Wait for the next send slot; returns when a request may start."""
        async with self._lock:
            now = self._clock()
            # A slot missed by a late wake-up is still used (the schedule stays absolute); after
            # an idle spell longer than the window the schedule starts again from now. The log of
            # recent sends below keeps every window at the cap either way.
            slot = self._next_slot if self._next_slot >= now - self.window else now
            if len(self._sent) == self._per_window:
                slot = max(slot, self._sent[0] + self.window + self.margin)
            self._next_slot = slot + self._interval
            # Sleeps may wake early by the clock's resolution; loop until the slot has come.
            while (now := self._clock()) < slot:  # noqa: ASYNC110
                await asyncio.sleep(slot - now)
            self._sent.append(now)

    def pause(self, seconds: float) -> None:
        """Hold every further send for ``seconds`` (the server said we are over its limit)."""
        self._next_slot = max(self._next_slot, self._clock() + seconds)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        return None
