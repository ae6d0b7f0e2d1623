"""The sending stage: a pool of workers calling the API under the rate limiter, with retries.

Every answer is written to the checkpoint before the next call of that worker starts. The stage
stops early (``StopReason``) on a fatal API error, an exhausted daily quota, a network that stays
down, or a stop request (Ctrl-C / SIGTERM); rows it did not finish stay pending for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from batchverify.core.classify import CallKind, RetryPolicy, classify, error_result, result_from_reply
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.gate import SlidingWindowLimiter
from batchverify.engine.store import Checkpoint
from batchverify.errors import FatalApiError
from batchverify.models import BusinessReply, ErrorReply, Reply, RowResult, Status


class Verifier(Protocol):
    """What the sender needs from a client: one call for one number."""

    async def query(self, mobile: str) -> Reply: ...


class StopReason(enum.StrEnum):
    """Why the sending stage ended before every number had an answer."""

    INTERRUPTED = "interrupted"
    FATAL = "fatal"
    DAILY_LIMIT = "daily_limit"
    NETWORK = "network"


@dataclass
class SendStats:
    """Counters of the sending stage; flat names, printed in the summary and the JSON."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    uncertain: int = 0
    billable: int = 0
    answered: int = 0
    abandoned_in_flight: int = 0
    first_send: float | None = None
    last_send: float | None = None
    by_status: dict[str, int] = field(default_factory=dict)

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
    throttle_pause: float = 1.0
    seed: int | None = None


class Sender:
    """Runs the sending stage for one job. ``stop()`` may be called from a signal handler."""

    def __init__(
        self,
        verifier: Verifier,
        store: Checkpoint,
        config: SendConfig,
        *,
        on_answer: Callable[[RowResult], None] = lambda _r: None,
    ) -> None:
        self._verifier = verifier
        self._store = store
        self._config = config
        self._on_answer = on_answer
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
        limiter = SlidingWindowLimiter(self._config.rate)
        workers = [
            asyncio.create_task(self._worker(numbers, limiter), name=f"worker-{i}")
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

    async def _worker(self, numbers: Iterator[int], limiter: SlidingWindowLimiter) -> None:
        for number in numbers:
            if self._stop.is_set():
                return
            await self._verify(number, limiter)

    async def _verify(self, number: int, limiter: SlidingWindowLimiter) -> None:
        policy = self._config.policy
        tries: dict[CallKind, int] = {}
        mobile = str(number)
        while True:
            await limiter.acquire()
            if self._stop.is_set():
                return
            self._store.mark_inflight(number, utc_now_iso())
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
                limiter.pause(self._config.throttle_pause)
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
                if await self._sleep(policy.delay(used + 1, self._rng)):
                    return
                continue
            self._finish(number, reply, kind)
            return

    def _finish(self, number: int, reply: Reply, kind: CallKind) -> None:
        now = utc_now_iso()
        if isinstance(reply, BusinessReply):
            result = result_from_reply(reply, now)
        else:
            result = error_result(reply, kind, now)
        self._store.record(number, result)
        self.stats.answered += 1
        self.stats.billable += int(result.billable)
        self.stats.by_status[result.status.value] = self.stats.by_status.get(result.status.value, 0) + 1
        self._on_answer(result)
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
