"""The limiter never lets more than ``rate`` sends start in any sliding window, and keeps the pace."""

from __future__ import annotations

import asyncio
import bisect

from batchverify.engine.gate import SlidingWindowLimiter


def busiest_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


async def test_no_burst_at_start_or_after_idle() -> None:
    loop = asyncio.get_running_loop()
    limiter = SlidingWindowLimiter(50, window=0.2, margin=0.005)  # 10 per 0.2 s
    sent: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        sent.append(loop.time())

    await asyncio.gather(*(one() for _ in range(30)))
    await asyncio.sleep(0.3)  # idle: a token bucket would refill and burst here
    await asyncio.gather(*(one() for _ in range(30)))
    assert len(sent) == 60
    assert busiest_window(sent, 0.2) <= 10
    # Paced on an absolute schedule: send k never starts before k intervals after the first.
    first = sent[:30]
    assert all(t - first[0] >= k * 0.02 - 0.002 for k, t in enumerate(first))


async def test_pause_holds_sends() -> None:
    loop = asyncio.get_running_loop()
    limiter = SlidingWindowLimiter(100)
    await limiter.acquire()
    limiter.pause(0.3)
    start = loop.time()
    await limiter.acquire()
    assert loop.time() - start >= 0.29


def test_rejects_bad_rate() -> None:
    async def make() -> None:
        SlidingWindowLimiter(0)

    try:
        asyncio.run(make())
    except ValueError:
        return
    raise AssertionError("rate 0 accepted")


async def test_late_wake_ups_are_made_up() -> None:
    now = [100.0]
    limiter = SlidingWindowLimiter(20, clock=lambda: now[0])
    await limiter.acquire()
    now[0] += 0.5  # the process slept 0.5 s too long: ten slots have passed
    # Those ten slots are used at once instead of being lost (no sleeping needed) ...
    await asyncio.wait_for(asyncio.gather(*(limiter.acquire() for _ in range(10))), timeout=1.0)
    # ... and the next one waits for its own slot again.
    blocked = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0.05)
    assert not blocked.done()
    now[0] += 0.05
    await asyncio.wait_for(blocked, timeout=1.0)
