"""The engine's three steps for callers on an event loop: ``plan``, then ``Job(plan, ...).run()``
(or ``execute``), which sends, checkpoints and writes, and returns a ``Summary``.

The job knows nothing of terminals, signals, progress bars or exit codes: it reports through an
event sink and stops when ``stop()`` is called (from any thread). Everything that blocks (reading the
input, SQLite commits, writing the output) runs in worker threads, so the caller's loop keeps
serving other work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field

import aiohttp

from batchverify.core.labels import api_language
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.annotate import WriteResult
from batchverify.engine.asyncstore import AsyncStore
from batchverify.engine.events import (
    Event,
    EventSink,
    JobStarted,
    OutputWritten,
    PlanReady,
    SendingEnded,
    Sharing,
    Stopped,
    StopReason,
    emit,
    ignore,
)
from batchverify.engine.gate import FairShare, RateGate, shared_gate
from batchverify.engine.joblist import JOB_LIST_KEY, list_of
from batchverify.engine.jobsteps import adopt_answers, resolve_host, share_answers
from batchverify.engine.outcome import finish_summary
from batchverify.engine.output import write_output
from batchverify.engine.plan import Plan, RunRequest, build_plan
from batchverify.engine.sender import SendConfig, Sender, Verifier
from batchverify.engine.store import Checkpoint, JobInfo, Store
from batchverify.engine.summary import Summary, apply_write, summary_from_plan
from batchverify.errors import PLAIN_NAMES, BatchVerifyError, CheckpointError, CredentialError
from batchverify.files.tables import Table
from batchverify.tencent.client import Encrypts, Endpoint, MobileStatusClient, make_session
from batchverify.tencent.credentials import Credentials

__all__ = ["Job", "Target", "Writer", "execute", "plan"]

log = logging.getLogger("batchverify")

# Writes the results somewhere (a file, a DataFrame) from the store; runs in the store's thread.
Writer = Callable[[Plan, Store, int], WriteResult]


@dataclass(frozen=True)
class Target:
    """Where and how requests go. ``identity`` is what a checkpoint is tied to (default: the host)."""

    endpoint: Endpoint
    credentials: Credentials | None  # None: a plan only (a dry run); running it sends nothing
    identity: str = ""
    send: SendConfig = field(default_factory=SendConfig)
    encryptor: Encrypts | None = None
    read_timeout: float = 30.0
    rate_store: str | None = None  # where the account's send log lives: "host", "memory", redis://...

    @property
    def endpoint_identity(self) -> str:
        return self.identity or self.endpoint.host


async def plan(
    request: RunRequest,
    *,
    endpoint_identity: str,
    table: Table | None = None,
    events: EventSink = ignore,
) -> Plan:
    """Read the input and decide what would be sent (in a worker thread). Creates no file."""
    made = await asyncio.to_thread(build_plan, request, endpoint_identity=endpoint_identity, table=table)
    events(PlanReady(made))
    return made


def _file_writer(made: Plan, store: Store, job_id: int) -> WriteResult:
    return write_output(made, store, job_id)


class Job:
    """One run of a plan: send what it says, record every answer, write the output.

    ``gate`` defaults to the process-wide gate of the target's account and endpoint; ``session``
    to a fresh keep-alive aiohttp session; ``verifier`` (what answers one number) to the
    MobileStatus client on that session; ``writer`` to the annotated output file; ``store`` (a
    function that opens a ``Store``, called in the store's thread) to the SQLite checkpoint of the
    plan's request.
    """

    def __init__(
        self,
        made: Plan,
        target: Target,
        *,
        gate: RateGate | None = None,
        session: aiohttp.ClientSession | None = None,
        verifier: Verifier | None = None,
        writer: Writer | None = None,
        store: Callable[[], Store] | None = None,
        events: EventSink = ignore,
    ) -> None:
        self.plan = made
        self._store_opener = store
        self.target = target
        self.gate = gate
        self._session = session
        self._verifier = verifier
        self._writer = writer or _file_writer
        self._events = events
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sender: Sender | None = None
        self._stop_reason: StopReason | None = None
        self._retried: set[int] = set()  # numbers this job asked before without a final answer

    def stop(self, reason: StopReason = StopReason.INTERRUPTED) -> None:
        """Stop sending: calls in flight get a moment to land, then the output is written.

        Safe from any thread, and before or after ``run`` started.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            self._stop_reason = self._stop_reason or reason
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._stop_now(reason)
        else:
            loop.call_soon_threadsafe(self._stop_now, reason)

    def _asked_to_stop(self) -> StopReason | None:
        return self._stop_reason

    def _stop_now(self, reason: StopReason) -> None:
        self._stop_reason = self._stop_reason or reason
        if self._sender is not None:
            self._sender.stop(reason)

    async def run(self) -> Summary:
        """Run the job to its end; returns what it did. Raises ``batchverify.errors`` exceptions
        for what stops it before sending (lock held, checkpoint of another endpoint, unwritable
        output)."""
        self._loop = asyncio.get_running_loop()
        started = time.monotonic()
        started_at = utc_now_iso()
        made, target = self.plan, self.target
        if made.to_send and target.credentials is None and self._verifier is None:
            raise CredentialError("no credentials were given for this job; it can only be planned")
        if made.to_send and self._verifier is None and self._stop_reason is None:
            # Before the job is opened: opening it takes over the in-flight marks of a dead run.
            await resolve_host(target.endpoint)
        gate: RateGate | None = self.gate
        if made.to_send and gate is None:
            # Before the job is opened: an unreachable rate store is a usage error, nothing sent.
            # In a thread: opening a host file or reaching Redis must not hold the event loop.
            gate = await asyncio.to_thread(
                shared_gate,
                target.credentials.secret_id if target.credentials else "",
                target.endpoint_identity,
                target.send.rate,
                target.rate_store,
            )
        store = AsyncStore(self._opener())
        try:
            await store.open()
            info = await self._open_job(store)
            await store.run(store.store.set_meta, JOB_LIST_KEY, list_of(made, info.job_id))
            if made.shared:
                await store.run(adopt_answers, store.store, made.shared)
            to_send = await store.run(self._remaining, store.store, info)
            summary = summary_from_plan(made, written=True)
            summary.uncertain_from_previous_run = info.orphaned_inflight
            summary.job_id, summary.run_id, summary.resumed = info.job_id, info.run_id, info.resumed
            summary.job_started_at = info.started_at
            summary.started_at = started_at
            where = str(getattr(gate, "where", "")) if to_send else ""
            sharing = getattr(gate, "sharing", None)
            others = await asyncio.to_thread(sharing) if to_send and sharing is not None else 0
            summary.rate_window = where
            self._emit(JobStarted(info.job_id, info.resumed, len(to_send), where, int(others)))
            sender = None
            if to_send and self._stop_reason is None:
                async with self._client() as verifier, self._watch_sharing(gate, summary):
                    assert gate is not None
                    share = FairShare(gate, target.send.rate)
                    sender = self._sender = Sender(
                        verifier,
                        store,
                        target.send,
                        share,
                        total=len(to_send),
                        budget=made.max_billable,
                        cap=made.request.max_billable,
                        events=self._events,
                        retried=frozenset(self._retried),
                    )
                    asked = self._asked_to_stop()  # perhaps while the host name was resolved
                    if asked is not None:
                        sender.stop(asked)
                    try:
                        await sender.run(iter(to_send))
                    finally:
                        share.close()
            asked = sender.stop_reason if sender is not None else self._stop_reason
            self._emit(SendingEnded(asked, sender.stats.requests if sender is not None else 0))
            # Every final answer not shared yet, not only this run's: a run killed before its end
            # shared nothing, and what it paid for must still reach other lists.
            await store.run(share_answers, made, store.store, info.run_id)
            written: WriteResult | None = None
            try:
                written = await store.run(self._writer, made, store.store, info.job_id)
            except BatchVerifyError as exc:
                if sender is None or sender.stats.requests == 0:
                    raise  # nothing was sent: the error is the whole story
                # Calls were made and their answers are in the checkpoint: say so, do not fail
                # as if nothing had happened.
                summary.output = None
                summary.output_error = exc.render(PLAIN_NAMES)
                summary.output_error_code = exc.code
            counts = Counter(written.counts if written is not None else {})
            summary.by_status = dict(sorted(counts.items()))
            if written is not None:
                apply_write(summary, written)
            if made.request.output is not None and written is not None and not written.kept_output:
                self._emit(OutputWritten(made.request.output, sum(counts.values()), summary.by_status))
            finish_summary(summary, sender, counts, started)
            if sender is None and self._stop_reason is not None:
                summary.outcome, summary.stop_reason = "interrupted", self._stop_reason.value
            if summary.stop_reason is not None:
                self._emit(Stopped(StopReason(summary.stop_reason), summary.error or ""))
            # The job is done when every row is final, or when what is left got no final answer in
            # enough runs: then the next run checks the whole list again instead of resuming.
            done = written is not None and (summary.outcome == "complete" or written.holding == 0)
            summary.job_closed = done
            stats = sender.stats if sender is not None else None
            with contextlib.suppress(CheckpointError):  # a full disk: the summary says it already
                await store.run(
                    store.store.end_run,
                    state=summary.outcome,
                    now=utc_now_iso(),
                    close_job=done,
                    numbers=made.distinct.ascending() if done else (),  # not copied: a million numbers
                    requests=stats.requests if stats else 0,
                    billable=stats.billable if stats else 0,
                )
                runs, requests, billable = await store.run(store.store.job_totals, info.job_id)
                summary.job_runs, summary.job_requests, summary.job_billable = runs, requests, billable
            summary.finished_at = utc_now_iso()
        finally:
            await store.close()
        return summary

    def _emit(self, event: Event) -> None:
        emit(self._events, event)

    @contextlib.asynccontextmanager
    async def _watch_sharing(self, gate: RateGate | None, summary: Summary) -> AsyncIterator[None]:
        """Say when other processes share the account's rate (and keep the most seen at once)."""
        sharing = getattr(gate, "sharing", None)

        async def watch() -> None:
            while True:
                others = sharing() if sharing is not None else 0
                if others > summary.shared_with:
                    summary.shared_with = others
                    self._emit(Sharing(others))
                await asyncio.sleep(1.0)

        task = asyncio.get_running_loop().create_task(watch())
        try:
            yield
        finally:
            task.cancel()
            problem = getattr(gate, "problem", None)
            if isinstance(problem, str):
                summary.rate_store_problem = problem

    def _opener(self) -> Callable[[], Store]:
        if self._store_opener is not None:
            return self._store_opener
        path = self.plan.request.store_path
        if path is None:
            return Checkpoint.memory
        return lambda: Checkpoint.open(path)

    async def _open_job(self, store: AsyncStore) -> JobInfo:
        made = self.plan
        await store.run(store.store.bind_endpoint, made.endpoint_identity)
        expire = made.reuse_since if made.expiring_job is not None else None
        info = await store.run(
            store.store.open_job, now=utc_now_iso(), restart=made.request.restart, expire_before=expire
        )
        if made.resumed_job is not None and info.job_id != made.resumed_job:
            # Another run finished the job the plan counted on; its answers no longer count as
            # this job's, so the plan's figures are wrong.
            raise CheckpointError("the checkpoint changed since the plan was made; plan again")
        return info

    def _remaining(self, store: Store, info: JobInfo) -> Collection[int]:
        """The plan's numbers that still need a call: another run may have answered some since."""
        made = self.plan
        if not made.to_send or store.answer_count() == 0:
            return made.to_send
        stored = store.lookup(made.to_send)
        freshness = made.freshness
        remaining: list[int] = []
        retried: list[int] = []
        for number in made.to_send:
            answer = stored.get(number)
            usable = answer is not None and (
                freshness.fresh(
                    answer.result.status.value, answer.result.checked_at, own=answer.job_id == info.job_id
                )
                if freshness is not None
                else answer.job_id == info.job_id
            )
            if not (usable and answer is not None and answer.final):
                # Numbers this job asked before without a final answer go last: new numbers first.
                tried = answer is not None and (
                    (answer.job_id == info.job_id and not answer.final)
                    or (answer.attempt is not None and answer.attempt.job_id == info.job_id)
                )
                (retried if tried else remaining).append(number)
        self._retried = set(retried)
        return remaining + retried

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Verifier]:
        if self._verifier is not None:
            yield self._verifier
            return
        target = self.target
        assert target.credentials is not None  # checked before the job was opened
        session = self._session
        own = session is None
        if session is None:
            session = make_session(connections=target.send.concurrency + 4, read_timeout=target.read_timeout)
        try:
            yield MobileStatusClient(
                session,
                target.endpoint,
                target.credentials,
                encryptor=target.encryptor,
                language=api_language(self.plan.request.language),
            )
        finally:
            if own:
                await session.close()


async def execute(made: Plan, target: Target, **options: object) -> Summary:
    """``Job(made, target, **options).run()``: for callers that never need to stop the job."""
    return await Job(made, target, **options).run()  # type: ignore[arg-type]
