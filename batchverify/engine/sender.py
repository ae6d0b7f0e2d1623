"""The sending stage: a pool of workers calling the API through the rate gate, with retries.

Every answer is written to the checkpoint before the next call of that worker starts. The stage
stops early (``StopReason``) on a fatal API error, an exhausted daily quota, a network that stays
down, or a stop request (``stop()``); rows it did not finish stay pending for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from batchverify.core.classify import CallKind, RetryPolicy, classify, error_result, result_from_reply
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.asyncstore import AsyncStore
from batchverify.engine.events import AnswerRecorded, EventSink, Retrying, StopReason, Throttled, ignore
from batchverify.engine.gate import RateGate
from batchverify.errors import FatalApiError
from batchverify.models import BusinessReply, ErrorReply, Reply, Status


class Verifier(Protocol):
    """What the sender needs from a client: one call for one number."""

    async def query(self, mobile: str) -> Reply: ...


@dataclass
class SendStats:
    """Counters of the sending stage; flat names, printed in the summary and the JSON."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    uncertain: int = 0
    billable: int = 0
    abandoned_in_flight: int = 0
    first_send: float | None = None
    last_send: float | None = None
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def achieved_rate(self) -> float:
        """Requests per second from the first to the last request sent."""
        if self.first_send is None or self.last_send is None or self.requests < 2:
            return 0.0
        span = self.last_send - self.first_send
        return (self.requests - 1) / span if span > 0 else 0.0


@dataclass
class SendConfig:
    """Knobs of the sending stage."""

    rate: float = 20.0
    concurrency: int = 50
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    daily_limit_streak: int = 20  # this many -4 answers in a row mean the account's quota is gone
    network_down_streak: int = 3  # this many numbers failing on connection errors in a row
    grace: float = 2.0  # how long calls in flight may finish after a stop
    seed: int | None = None


class Sender:
    """Runs the sending stage for one job. ``stop()`` must be called on the sender's loop."""

    def __init__(
        self,
        verifier: Verifier,
        store: AsyncStore,
        config: SendConfig,
        gate: RateGate,
        *,
        total: int = 0,
        events: EventSink = ignore,
    ) -> None:
        self._verifier = verifier
        self._store = store
        self._config = config
        self._gate = gate
        self._total = total
        self._events = events
        self._rng = random.Random(config.seed)
        self.stats = SendStats()
        self.stop_reason: StopReason | None = None
        self.fatal: FatalApiError | None = None
        self._stop = asyncio.Event()
        self._daily_streak = 0
        self._network_streak = 0

    def stop(self, reason: StopReason) -> None:
        """Stop starting new calls; the first reason given is kept."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    async def run(self, numbers: Iterator[int]) -> StopReason | None:
        """Send every number (in order), until done or stopped. Returns why it stopped early."""
        workers = [
            asyncio.create_task(self._worker(numbers), name=f"worker-{i}")
            for i in range(max(1, self._config.concurrency))
        ]
        stopper = asyncio.create_task(self._stop.wait())
        pending: set[asyncio.Task[object]] = set(workers)
        while pending and not self._stop.is_set():
            _done, pending = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stopper)
        if pending:
            # Calls already on the wire get a moment to land, so their answers are recorded.
            _done, pending = await asyncio.wait(pending, timeout=self._config.grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopper
        for task in workers:
            if task.done() and not task.cancelled() and (exc := task.exception()) is not None:
                raise exc
        return self.stop_reason

    async def _worker(self, numbers: Iterator[int]) -> None:
        for number in numbers:
            if self._stop.is_set():
                return
            await self._verify(number)

    async def _verify(self, number: int) -> None:
        policy = self._config.policy
        tries: dict[CallKind, int] = {}
        mobile = str(number)
        store = self._store
        while True:
            await self._gate.acquire()
            if self._stop.is_set():
                return
            await store.run(store.store.mark_inflight, number, utc_now_iso())
            self._count_send()
            try:
                reply = await self._verifier.query(mobile)
            except asyncio.CancelledError:
                self.stats.abandoned_in_flight += 1
                raise
            except FatalApiError as exc:
                self.fatal = exc
                self.stop(StopReason.FATAL)
                return
            kind = classify(reply)
            if kind is CallKind.UNCERTAIN:
                self.stats.uncertain += 1
            if kind is CallKind.THROTTLED:
                self.stats.throttled += 1
                self._gate.throttled()
                self._events(Throttled(number))
                continue
            if kind is CallKind.FATAL:
                assert isinstance(reply, ErrorReply)
                self.fatal = FatalApiError(reply.code, reply.message, reply.request_id)
                self.stop(StopReason.FATAL)
                return
            allowed = policy.retries_for(kind)
            used = tries.get(kind, 0)
            if allowed and used < allowed:
                tries[kind] = used + 1
                self.stats.retries += 1
                delay = policy.delay(used + 1, self._rng)
                self._events(Retrying(number, kind.value, used + 1, delay))
                if await self._sleep(delay):
                    return
                continue
            await self._finish(number, reply, kind)
            return

    async def _finish(self, number: int, reply: Reply, kind: CallKind) -> None:
        now = utc_now_iso()
        if isinstance(reply, BusinessReply):
            result = result_from_reply(reply, now)
        else:
            result = error_result(reply, kind, now)
        store = self._store
        await store.run(store.store.record, number, result)
        stats = self.stats
        stats.billable += int(result.billable)
        stats.counts[result.status.value] += 1
        done = stats.counts.total()
        self._events(AnswerRecorded(number, result, done, self._total, stats.billable, dict(stats.counts)))
        self._daily_streak = self._daily_streak + 1 if result.status is Status.DAILY_LIMIT else 0
        if self._daily_streak >= self._config.daily_limit_streak:
            self.stop(StopReason.DAILY_LIMIT)
        network_failure = kind is CallKind.NOT_SENT
        self._network_streak = self._network_streak + 1 if network_failure else 0
        if self._network_streak >= self._config.network_down_streak:
            self.stop(StopReason.NETWORK)

    def _count_send(self) -> None:
        now = time.monotonic()
        if self.stats.first_send is None:
            self.stats.first_send = now
        self.stats.last_send = now
        self.stats.requests += 1

    async def _sleep(self, seconds: float) -> bool:
        """Back off for ``seconds``; True if a stop came first."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True
