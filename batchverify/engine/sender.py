"""The sending stage: a pool of workers calling the API through the rate gate, with retries.

Every answer is written to the checkpoint before the next call of that worker starts. The stage
stops early (``StopReason``) on a fatal API error, an exhausted daily quota, a network that stays
down, or a stop request (``stop()``); rows it did not finish stay pending for the next run.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Protocol

from batchverify.core.classify import (
    CallKind,
    classify,
    error_result,
    fatal_error,
    result_from_reply,
)
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.asyncstore import AsyncStore
from batchverify.engine.events import (
    AnswerRecorded,
    Event,
    EventSink,
    Retrying,
    StopReason,
    Throttled,
    emit,
    ignore,
)
from batchverify.engine.gate import RateGate
from batchverify.engine.sendconfig import JOB_WIDE_ERRORS, SendConfig, SendStats
from batchverify.errors import CheckpointError, FatalApiError
from batchverify.models import BadReply, BusinessReply, ErrorReply, Reply, RowResult, Status
from batchverify.tencent.client import on_request_leaving

__all__ = ["SendConfig", "SendStats", "Sender", "Verifier", "fatal_error"]

log = logging.getLogger("batchverify")


class Verifier(Protocol):
    """What the sender needs from a client: one call for one number."""

    async def query(self, mobile: str) -> Reply: ...


class Sender:
    """Runs the sending stage for one job. ``stop()`` must be called on the sender's loop.

    ``budget`` is the plan's bound on billable answers: a call whose answer was lost (it may have
    been billed) is asked again only while, counting every such call as billed, the run can still
    finish every other number within the bound.
    """

    def __init__(
        self,
        verifier: Verifier,
        store: AsyncStore,
        config: SendConfig,
        gate: RateGate,
        *,
        total: int = 0,
        budget: int | None = None,
        cap: int | None = None,
        events: EventSink = ignore,
        retried: frozenset[int] = frozenset(),
    ) -> None:
        self._verifier = verifier
        self._retried = retried  # numbers that failed in an earlier run of the job
        self._store = store
        self._config = config
        self._gate = gate
        self._total = total
        self._budget = total if budget is None else budget
        self._cap = cap  # --max-billable: no call starts that could take the billable count past it
        self._in_flight = 0
        self._events = events
        self._rng = random.Random(config.seed)
        self.stats = SendStats()
        self.stop_reason: StopReason | None = None
        self.fatal: FatalApiError | None = None
        self.storage_error: CheckpointError | None = None
        self._stop = asyncio.Event()
        self._daily_streak = 0
        self._network_streak = 0
        self._no_answer_streak = 0
        self._bad_reply_streak = 0
        self._same_error: tuple[str, int] = ("", 0)  # the last row error's code, and how many in a row
        self._throttled_since: float | None = None  # the first throttle since the last other reply
        self._finished = 0

    @property
    def throttle_bound(self) -> float:
        return self._config.throttle_bound

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
        try:
            while pending and not self._stop.is_set():
                _done, pending = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(stopper)
            if pending:
                # Calls already on the wire get a moment to land, so their answers are recorded.
                _done, pending = await asyncio.wait(pending, timeout=self._config.grace)
        finally:
            # Also when the job itself is cancelled: no worker may outlive the sending stage.
            for task in [*workers, stopper]:
                task.cancel()
            await asyncio.gather(*workers, stopper, return_exceptions=True)
        return self.stop_reason

    async def _worker(self, numbers: Iterator[int]) -> None:
        for number in numbers:
            if self._stop.is_set():
                return
            try:
                await self._verify(number)
            except CheckpointError as exc:
                self._storage_failed(exc)
                return
            except Exception as exc:
                await self._record_failure(number, exc)

    def _storage_failed(self, exc: CheckpointError) -> None:
        if self.storage_error is None:
            self.storage_error = exc
        self.stop(StopReason.STORAGE)

    async def _record_failure(self, number: int, exc: Exception) -> None:
        detail = " ".join(str(exc).split())[:200]
        result = RowResult(
            status=Status.ERROR,
            checked_at=utc_now_iso(),
            error=f"internal: {type(exc).__name__}: {detail}"
            if detail
            else f"internal: {type(exc).__name__}",
        )
        try:
            await self._store.write(self._store.store.record, number, result)
        except CheckpointError as failure:
            self._storage_failed(failure)
            return
        self._count_finished(number, result)

    def _over_cap(self) -> bool:
        """Whether one more call could take the run past ``--max-billable``: every billed answer,
        every call that may have been billed, and every call still in flight counted as billed."""
        if self._cap is None:
            return False
        stats = self.stats
        return stats.billable + stats.maybe_billed + self._in_flight + 1 > self._cap

    def _may_retry_uncertain(self) -> bool:
        # Worst case if every call without an answer was billed: what is spent, plus one call
        # for every number not finished yet (this one included).
        worst = self.stats.billable + self.stats.maybe_billed + (self._total - self._finished)
        return worst <= self._budget

    async def _verify(self, number: int) -> None:
        policy = self._config.policy
        tries: dict[CallKind, int] = {}
        mobile = str(number)
        store = self._store
        while True:
            # Marked before the gate, so nothing stands between the gate's slot and the send.
            await store.write(store.store.mark_inflight, number, utc_now_iso())
            try:
                slot = await self._gate.acquire()
            except asyncio.CancelledError:
                # Stopped while waiting for a slot: never sent, so never "may have been billed".
                await asyncio.shield(store.write(store.store.clear_inflight, number))
                raise
            if self._stop.is_set():
                await store.write(store.store.clear_inflight, number)
                return
            if self._over_cap():
                await store.write(store.store.clear_inflight, number)
                self.stop(StopReason.BUDGET)
                return
            self._count_send()
            self._in_flight += 1
            left = getattr(self._gate, "left", None)
            leaving = on_request_leaving.set(None if left is None else functools.partial(left, slot))
            try:
                reply = await self._verifier.query(mobile)
            except asyncio.CancelledError:
                self.stats.abandoned_in_flight += 1
                raise
            except FatalApiError as exc:
                await store.write(store.store.clear_inflight, number)
                self.fatal = exc
                self.stop(StopReason.FATAL)
                return
            finally:
                on_request_leaving.reset(leaving)
                self._in_flight -= 1
            kind = classify(reply)
            self._watch(reply, kind)
            self._watch_throttling(kind)
            # A gateway error page or a broken body may come after the backend answered (and billed).
            lost = kind is CallKind.UNCERTAIN or isinstance(reply, BadReply)
            if isinstance(reply, BadReply):
                self.stats.bad_replies += 1
            if not lost and kind is not CallKind.ANSWER:
                # Certainly not billed: no false "may have been billed" if the run stops now.
                await store.write(store.store.clear_inflight, number)
            if kind is CallKind.THROTTLED:
                self.stats.throttled += 1
                self._gate.throttled()
                self._emit(Throttled(number))
                # Each further refusal of this number waits longer before it queues for a slot again.
                throttles = tries.get(kind, 0) + 1
                tries[kind] = throttles
                if self._stop.is_set() or await self._sleep(policy.delay(throttles, self._rng)):
                    return
                continue
            if kind is CallKind.FATAL:
                assert isinstance(reply, ErrorReply)
                self.fatal = fatal_error(reply, time.time())
                self.stop(StopReason.FATAL)
                return
            allowed = policy.retries_for(kind)
            used = tries.get(kind, 0)
            retry = bool(allowed) and used < (allowed or 0)
            bounded = retry and lost and not self._may_retry_uncertain()
            retry = retry and not bounded
            if retry and not self._stop.is_set():
                tries[kind] = used + 1
                self.stats.retries += 1
                delay = policy.delay(used + 1, self._rng)
                self._emit(Retrying(number, kind.value, used + 1, delay))
                if await self._sleep(delay):
                    return
                continue
            if lost and self._stop.is_set():
                return  # its in-flight mark stays: the next run counts it as maybe billed
            await self._finish(number, reply, kind, bounded=bounded)
            return

    def _watch(self, reply: Reply, kind: CallKind) -> None:
        """Early stops: an endpoint that never answers, or answers something that is not the API."""
        if kind is CallKind.UNCERTAIN:
            self.stats.uncertain += 1
        answered = isinstance(reply, BusinessReply | ErrorReply)
        self._no_answer_streak = 0 if answered or kind is CallKind.NOT_SENT else self._no_answer_streak + 1
        bad = isinstance(reply, BadReply)
        self._bad_reply_streak = self._bad_reply_streak + 1 if bad else 0
        if kind is CallKind.UNCERTAIN and self._no_answer_streak >= self._config.no_answer_streak:
            self.stop(StopReason.NO_ANSWER)
        elif bad and self._bad_reply_streak >= self._config.bad_reply_streak:
            self.stop(StopReason.BAD_REPLIES)

    def _watch_throttling(self, kind: CallKind) -> None:
        if kind is not CallKind.THROTTLED:
            self._throttled_since = None
            return
        now = time.monotonic()
        if self._throttled_since is None:
            self._throttled_since = now
        elif now - self._throttled_since >= self._config.throttle_bound:
            self.stop(StopReason.THROTTLED)

    async def _finish(self, number: int, reply: Reply, kind: CallKind, *, bounded: bool = False) -> None:
        now = utc_now_iso()
        if isinstance(reply, BusinessReply):
            result = result_from_reply(reply, now)
        else:
            result = error_result(reply, kind, now)
            if bounded:
                result = replace(
                    result, error=result.error + " (not asked again: the run's bound on billing)"
                )
        store = self._store
        try:
            await store.write(store.store.record, number, result)
        except CheckpointError:
            self.stats.billable += int(result.billable)
            self.stats.not_stored += 1
            raise
        self._count_finished(number, result)
        self._daily_streak = self._daily_streak + 1 if result.status is Status.DAILY_LIMIT else 0
        if self._daily_streak >= self._config.daily_limit_streak:
            self.stop(StopReason.DAILY_LIMIT)
        network_failure = kind is CallKind.NOT_SENT
        self._network_streak = self._network_streak + 1 if network_failure else 0
        if self._network_streak >= self._config.network_down_streak:
            self.stop(StopReason.NETWORK)
        self._watch_same_error(number, reply, kind)

    def _watch_same_error(self, number: int, reply: Reply, kind: CallKind) -> None:
        """The same API error for every number is the job's: stop as the API's refusal would.

        Any other ending resets the count, and a number that already failed in an earlier run (sent
        last) is no evidence: the streak is made of numbers asked for the first time."""
        if number in self._retried:
            return
        if not (kind is CallKind.ROW_ERROR and isinstance(reply, ErrorReply)):
            self._same_error = ("", 0)
            return
        code, seen = self._same_error
        seen = seen + 1 if reply.code == code else 1
        self._same_error = (reply.code, seen)
        job_wide = reply.code.startswith(JOB_WIDE_ERRORS)
        limit = self._config.same_error_streak if job_wide else self._config.same_row_error_streak
        if seen >= limit and self.fatal is None:
            message = (
                f"{reply.message} (the last {seen} numbers in a row got this error: it is the job's, "
                "not the numbers'; fix it, then run again)"
            )
            self.fatal = FatalApiError(reply.code, message, reply.request_id)
            self.stop(StopReason.FATAL)

    def _count_finished(self, number: int, result: RowResult) -> None:
        stats = self.stats
        self._finished += 1
        stats.billable += int(result.billable)
        stats.counts[result.status.value] += 1
        event = AnswerRecorded(
            number, result, stats.counts.total(), self._total, stats.billable, dict(stats.counts)
        )
        self._emit(event)

    def _emit(self, event: Event) -> None:
        emit(self._events, event)

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
