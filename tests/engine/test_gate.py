"""Rate gates never let more than ``rate`` sends start in any sliding window, and keep the pace.

Every test but the last runs on a virtual clock (``virtualtime``): no real sleeping.
"""

from __future__ import annotations

import asyncio
import bisect
import threading
import time

import pytest

from batchverify.engine.gate import FairShare, SlidingWindowLimiter, StrictGate, shared_gate
from batchverify.engine.ratestore import HostWindow, MemoryWindow
from tests.support.virtualtime import VirtualClockLoop, run_virtual


def busiest_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


def rate_of(times: list[float]) -> float:
    return (len(times) - 1) / (max(times) - min(times))


async def _sends(gate: StrictGate | SlidingWindowLimiter, count: int, workers: int = 50) -> list[float]:
    loop = asyncio.get_running_loop()
    sent: list[float] = []
    todo = iter(range(count))

    async def worker() -> None:
        for _ in todo:
            await gate.acquire()
            sent.append(loop.time())

    await asyncio.gather(*(worker() for _ in range(workers)))
    return sent


def test_strict_gate_holds_the_cap_and_reaches_99_percent_of_it() -> None:
    async def main() -> list[float]:
        gate = StrictGate(20, clock=asyncio.get_running_loop().time)
        return await _sends(gate, 2000)

    sent = run_virtual(main())
    assert busiest_window(sent, 1.0) <= 20
    assert busiest_window(sent, 1.0 + 0.005) <= 20  # the margin holds too
    assert rate_of(sent) >= 0.99 * 20


def test_no_burst_at_start_or_after_idle() -> None:
    async def main() -> list[float]:
        gate = StrictGate(20, clock=asyncio.get_running_loop().time)
        first = await _sends(gate, 30)
        await asyncio.sleep(5)  # idle: a plain token bucket would refill here and burst
        return first + await _sends(gate, 30)

    sent = run_virtual(main())
    assert len(sent) == 60
    assert busiest_window(sent, 1.0) <= 20
    # The pacer spaces sends: at most its small bucket (2) leaves at the same instant.
    assert max(sent.count(t) for t in sent) <= 2


def test_a_late_wake_up_is_made_up_by_the_next_send() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualClockLoop)
        gate = StrictGate(20, clock=loop.time, cold_margin=0.0)  # the pacer alone
        await _sends(gate, 20, workers=1)
        start = loop.time()
        loop.advance(0.1)  # the process slept 100 ms too long (two slots)
        sent = await _sends(gate, 40, workers=1)
        return start, max(sent)

    start, last = run_virtual(main())
    # 40 sends at 20/s take 1.95 s after the first; the lost 0.1 s is made up, not added.
    assert last - start <= 2.0 + 0.05


def test_a_gate_starting_cold_leaves_room_for_the_first_handshakes() -> None:
    async def main() -> tuple[list[float], list[float], list[float]]:
        loop = asyncio.get_running_loop()
        gate = StrictGate(20, clock=loop.time)
        cold = await _sends(gate, 80, workers=4)
        await asyncio.sleep(10)  # idle: the connections may be gone
        again = await _sends(gate, 30, workers=4)
        return sorted(cold), sorted(again), [gate.margin, gate.cold_margin]

    cold, again, (margin, cold_margin) = run_virtual(main())
    gaps = [cold[i + 20] - cold[i] for i in range(len(cold) - 20)]
    # The first window's sends may reach the server up to cold_margin late: the 21st waits for it.
    assert gaps[0] >= 1.0 + cold_margin - 1e-9
    # Warm (2 s later), sends are counted with the base margin again: the full rate comes back.
    assert min(gaps[45:]) < 1.0 + cold_margin / 2 and margin < cold_margin
    assert again[20] - again[0] >= 1.0 + cold_margin - 1e-9


def test_throttled_widens_the_margin_holds_sends_and_relaxes_later() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate = StrictGate(20, clock=loop.time, hold=0.25, relax_after=60)
        await gate.acquire()
        before = gate.margin
        gate.throttled()
        assert gate.margin > before
        start = loop.time()
        await gate.acquire()
        assert loop.time() - start >= 0.25
        widened = gate.margin
        gate.throttled()
        assert gate.margin > widened
        assert gate.margin <= gate.max_margin
        await asyncio.sleep(61)
        await gate.acquire()
        assert gate.margin < 2 * widened

    run_virtual(main())


def test_after_throttling_the_cap_holds_with_the_wider_margin() -> None:
    async def main() -> tuple[list[float], float]:
        gate = StrictGate(20, clock=asyncio.get_running_loop().time)
        for _ in range(3):
            gate.throttled()
        return await _sends(gate, 400), gate.margin

    sent, margin = run_virtual(main())
    assert busiest_window(sent, 1.0 + margin) <= 20


def test_shared_gate_is_one_per_account_and_endpoint_and_the_lowest_running_rate_wins() -> None:
    a = shared_gate("AKID-test-shared-1", "host-a", 20)
    assert shared_gate("AKID-test-shared-1", "host-a", 20) is a
    assert shared_gate("AKID-test-shared-1", "host-a", 20) is not shared_gate(
        "AKID-test-shared-1", "host-b", 20
    )
    assert shared_gate("AKID-test-shared-2", "host-a", 20) is not a
    assert shared_gate("AKID-test-shared-1", "host-a", 10) is a

    async def jobs() -> list[float]:
        seen = [a.rate]
        slow = FairShare(a, 10)  # a job with --rate 10 joins: both run at 10
        seen.append(a.rate)
        fast = FairShare(a, 50)
        seen.append(a.rate)
        slow.close()  # it ends: the gate goes back up (never past what jobs of the gate asked)
        seen.append(a.rate)
        fast.close()
        seen.append(a.rate)
        return seen

    assert asyncio.run(jobs()) == [20, 10, 10, 20, 20]
    assert shared_gate("AKID-test-shared-1", "host-a", 30).rate == 30  # a job may go as fast as it asked


def test_rejects_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError):
        StrictGate(0)


def test_first_release_limiter_keeps_its_schedule() -> None:
    async def main() -> list[float]:
        limiter = SlidingWindowLimiter(20, clock=asyncio.get_running_loop().time)
        return await _sends(limiter, 200)

    sent = run_virtual(main())
    assert busiest_window(sent, 1.0 + 0.015) <= 20
    assert 19.5 <= rate_of(sent) <= 20


def test_one_gate_shared_by_two_event_loops_in_two_threads_holds_the_cap() -> None:
    # Real time (a second of it): two threads, each with its own loop, as a notebook's
    # synchronous call and an application's own loop would be.
    gate = StrictGate(100)
    sent: list[float] = []
    lock = threading.Lock()

    def thread() -> None:
        async def main() -> None:
            for _ in range(60):
                await gate.acquire()
                with lock:
                    sent.append(time.monotonic())

        asyncio.run(main())

    threads = [threading.Thread(target=thread) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(sent) == 120
    assert busiest_window(sent, 1.0) <= 100


def test_jobs_sharing_a_gate_take_turns() -> None:
    # Three jobs of 50 workers each join one gate a little apart; while all three run, each gets
    # about a third of the sends (without FairShare the first job's 50 queued workers go first).
    async def main() -> list[list[float]]:
        loop = asyncio.get_running_loop()
        gate = StrictGate(20, clock=loop.time)
        times: list[list[float]] = [[], [], []]

        async def job(i: int) -> None:
            await asyncio.sleep(i * 0.3)
            share = FairShare(gate)
            todo = iter(range(200))

            async def worker() -> None:
                for _ in todo:
                    await share.acquire()
                    times[i].append(loop.time())
                    await asyncio.sleep(0.15)  # the call itself

            await asyncio.gather(*(worker() for _ in range(50)))

        await asyncio.gather(*(job(i) for i in range(3)))
        return times

    times = run_virtual(main())
    start = max(t[0] for t in times)
    end = min(t[-1] for t in times)
    counts = [sum(start <= x <= end for x in t) for t in times]
    assert all(abs(c / sum(counts) - 1 / 3) * 3 <= 0.2 for c in counts), counts
    assert busiest_window(sorted(x for t in times for x in t), 1.0) <= 20


def test_lowering_the_rate_keeps_the_sends_already_logged() -> None:
    async def main() -> list[float]:
        gate = StrictGate(20, clock=asyncio.get_running_loop().time)
        first = await _sends(gate, 20)
        gate.limit_to(10)
        return first + await _sends(gate, 30)

    sent = run_virtual(main())
    assert busiest_window(sent[20:], 1.0) <= 10
    # The 20 sent at the old rate still count: no window after the change holds 10 new ones on top.
    assert all(busiest_window([t for t in sent if t >= s], 1.0) <= 20 for s in sent)


def test_two_gates_on_one_memory_window_keep_one_cap_and_share_the_hold() -> None:
    async def main() -> tuple[list[float], float]:
        loop = asyncio.get_running_loop()
        window = MemoryWindow(loop.time)
        one, two = (
            StrictGate(20, clock=loop.time, store=window),
            StrictGate(20, clock=loop.time, store=window),
        )
        sent = await asyncio.gather(_sends(one, 200), _sends(two, 200))
        one.throttled()
        start = loop.time()
        await two.acquire()
        return sent[0] + sent[1], loop.time() - start

    sent, held = run_virtual(main())
    assert busiest_window(sent, 1.005) <= 20
    assert rate_of(sent) >= 0.99 * 20
    assert held >= 0.25


def test_shared_gate_defaults_to_the_host_window_and_memory_is_one_process_only() -> None:
    gate = shared_gate("AKID-test-store", "host-a", 20)
    assert isinstance(gate.store, HostWindow)
    assert gate.sharing() == 0
    assert gate.problem is None
    assert isinstance(shared_gate("AKID-test-store", "host-a", 20, store="memory").store, MemoryWindow)
