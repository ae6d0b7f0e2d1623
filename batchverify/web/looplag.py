"""How late the server's event loop runs: every job's paced sends, every page and every event
stream share one loop, so a loop that wakes late sends late and answers late. A timer that asks to
wake every 50 ms measures how far past that it woke."""

from __future__ import annotations

import asyncio
import collections
import logging
import time

__all__ = ["LoopLag"]

log = logging.getLogger("batchverify")

TICK = 0.05
SLOW = 0.02  # the target: a paced send leaves at most this late
WARN = 0.25  # late enough to say so in the log (at most once a minute)


class LoopLag:
    def __init__(self) -> None:
        self._recent: collections.deque[tuple[float, float]] = collections.deque()
        self.samples = 0
        self.slow = 0  # samples later than SLOW
        self.worst = 0.0
        self._warned = -float("inf")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def note(self, lag: float, now: float) -> None:
        lag = max(0.0, lag)
        self.samples += 1
        self.slow += lag > SLOW
        self.worst = max(self.worst, lag)
        recent = self._recent
        recent.append((now, lag))
        while recent and now - recent[0][0] > 60.0:
            recent.popleft()
        if lag > WARN and now - self._warned >= 60.0:
            self._warned = now
            log.warning(
                "the server's event loop woke %.0f ms late (sends and pages wait that long)", lag * 1000
            )

    def last_minute(self) -> float:
        return max((lag for _, lag in self._recent), default=0.0)

    def last(self, seconds: float) -> float:
        if not self._recent:
            return 0.0
        since = self._recent[-1][0] - seconds
        return max((lag for at, lag in self._recent if at >= since), default=0.0)

    def view(self) -> dict[str, float | int]:
        return {
            "last_10s_worst_ms": round(self.last(10.0) * 1000, 1),
            "last_minute_worst_ms": round(self.last_minute() * 1000, 1),
            "worst_ms": round(self.worst * 1000, 1),
            "samples": self.samples,
            "over_20ms": self.slow,
        }

    async def _watch(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(TICK)
            now = time.monotonic()
            self.note(now - asked - TICK, now)
