"""One ``batchverify run``: lock, plan, confirm, send, write, summarize. Returns the exit code.

The command line builds ``RunSettings`` and a ``Console``; everything with side effects on the
user's files happens here in a fixed order, so a failure before sending leaves earlier output as
it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from batchverify import errors
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.plan import (
    Plan,
    RunRequest,
    check_paths,
    plan_sends,
    scan_input,
    store_path_for,
    write_output,
)
from batchverify.engine.sender import SendConfig, Sender, StopReason
from batchverify.engine.store import Checkpoint
from batchverify.models import Status
from batchverify.progress import Progress
from batchverify.tencent.client import Endpoint, MobileStatusClient, make_session
from batchverify.tencent.credentials import Credentials

log = logging.getLogger("batchverify")


@dataclass
class RunSettings:
    """Everything a run needs besides the request: where and how to send."""

    endpoint: Endpoint
    credentials: Credentials | None  # None only for a dry run
    endpoint_identity: str = ""  # what the checkpoint is tied to; default: the endpoint's host
    send: SendConfig = field(default_factory=SendConfig)
    encryptor: object | None = None
    dry_run: bool = False
    progress: str = "log"
    summary_json: Path | None = None
    read_timeout: float = 30.0


@dataclass
class Console:
    """How the runner talks to the person (or cron job) that started it."""

    echo: Callable[[str], None]
    confirm: Callable[[str], bool] | None  # None: never ask (off a terminal, or --yes)


@dataclass
class Summary:
    """What a run did, printed at the end and written by ``--summary-json``."""

    input: str
    output: str | None
    checkpoint: str | None
    outcome: str = "complete"
    exit_code: int = 0
    rows: int = 0
    distinct_numbers: int = 0
    duplicates_saved: int = 0
    invalid: int = 0
    empty: int = 0
    already_answered: int = 0
    reused: int = 0
    to_send: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    billable_calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    uncertain_calls: int = 0
    uncertain_from_previous_run: int = 0
    abandoned_in_flight: int = 0
    elapsed_seconds: float = 0.0
    achieved_rate: float = 0.0
    error: str | None = None


def run_job(request: RunRequest, settings: RunSettings, console: Console) -> int:
    """Run one job end to end and return the process exit code."""
    started = time.monotonic()
    check_paths(request)
    store_path = store_path_for(request)
    plan = scan_input(request)
    if settings.dry_run:
        store = Checkpoint.open(store_path, lock=False) if store_path.exists() else None
        try:
            plan_sends(plan, request, store, dry_run=True)
        finally:
            if store is not None:
                store.close()
        console.echo(describe_plan(plan, settings.send.rate, resumed=False))
        console.echo("dry run: nothing was sent and nothing was written")
        summary = _summary_from_plan(plan, request, None)
        summary.outcome = "dry_run"
        _write_summary_json(settings.summary_json, summary)
        return errors.EXIT_OK
    with Checkpoint.open(store_path) as store:
        store.bind_endpoint(settings.endpoint_identity or settings.endpoint.host)
        plan_sends(plan, request, store)
        assert plan.job is not None
        console.echo(describe_plan(plan, settings.send.rate, resumed=plan.job.resumed))
        if plan.to_send and console.confirm is not None and not console.confirm("Send these numbers?"):
            store.end_run(state="declined", now=_now(), close_job=False)
            console.echo("nothing sent")
            return errors.EXIT_USAGE
        sender: Sender | None = None
        if plan.to_send:
            sender = _send(plan, settings, store)
        summary = _summary_from_plan(plan, request, store_path)
        summary.uncertain_from_previous_run = plan.job.orphaned_inflight
        counts = write_output(plan, request, store)
        summary.by_status = dict(sorted(counts.items()))
        _finish(summary, sender, counts, started)
        store.end_run(state=summary.outcome, now=_now(), close_job=summary.exit_code == errors.EXIT_OK)
    console.echo(describe_summary(summary))
    _write_summary_json(settings.summary_json, summary)
    return summary.exit_code


def _send(plan: Plan, settings: RunSettings, store: Checkpoint) -> Sender:
    assert settings.credentials is not None
    progress = Progress(len(plan.to_send), settings.progress)

    async def main() -> Sender:
        connections = settings.send.concurrency + 4
        async with make_session(connections=connections, read_timeout=settings.read_timeout) as session:
            client = MobileStatusClient(
                session,
                settings.endpoint,
                settings.credentials,  # type: ignore[arg-type]
                encryptor=settings.encryptor,  # type: ignore[arg-type]
            )
            sender = Sender(client, store, settings.send, on_answer=progress.update)
            with _signals(sender), _ticker(progress):
                await sender.run(iter(plan.to_send))
            return sender

    try:
        return asyncio.run(main())
    finally:
        progress.close()


@contextlib.contextmanager
def _signals(sender: Sender) -> Iterator[None]:
    """First Ctrl-C / SIGTERM: stop sending and finish cleanly. Second: leave at once.

    Leaving at once is safe: every answer is already committed to the checkpoint.
    """
    loop = asyncio.get_running_loop()
    hits = 0

    def handle() -> None:
        nonlocal hits
        hits += 1
        if hits > 1:
            os._exit(errors.EXIT_INTERRUPTED)
        log.warning("stopping: finishing calls in flight and writing the output (Ctrl-C again to quit now)")
        sender.stop(StopReason.INTERRUPTED)

    previous_term = signal.getsignal(signal.SIGTERM)
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handle)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests call the runner from a thread)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if signal.SIGTERM in installed:
            signal.signal(signal.SIGTERM, previous_term)


@contextlib.contextmanager
def _ticker(progress: Progress) -> Iterator[None]:
    async def tick() -> None:
        while True:
            await asyncio.sleep(1.0)
            progress.tick()

    task = asyncio.get_running_loop().create_task(tick())
    try:
        yield
    finally:
        task.cancel()


def _finish(summary: Summary, sender: Sender | None, counts: Counter[str], started: float) -> None:
    summary.elapsed_seconds = round(time.monotonic() - started, 3)
    not_final = sum(n for status, n in counts.items() if not Status(status).is_final)
    if sender is not None:
        stats = sender.stats
        summary.requests = stats.requests
        summary.billable_calls = stats.billable
        summary.retries = stats.retries
        summary.rate_limited = stats.throttled
        summary.uncertain_calls = stats.uncertain
        summary.abandoned_in_flight = stats.abandoned_in_flight
        summary.achieved_rate = round(stats.achieved_rate, 2)
        reason = sender.stop_reason
        if reason is StopReason.INTERRUPTED:
            summary.outcome, summary.exit_code = "interrupted", errors.EXIT_INTERRUPTED
            return
        if reason is StopReason.FATAL and sender.fatal is not None:
            summary.outcome, summary.exit_code = "fatal", errors.EXIT_FATAL_API
            summary.error = str(sender.fatal)
            return
        if reason is StopReason.DAILY_LIMIT:
            summary.error = "the account's daily quota is used up (Result -4); run again tomorrow"
        elif reason is StopReason.NETWORK:
            summary.error = "the API could not be reached; run again when the network is back"
    if not_final:
        summary.outcome, summary.exit_code = "incomplete", errors.EXIT_INCOMPLETE


def _summary_from_plan(plan: Plan, request: RunRequest, store_path: Path | None) -> Summary:
    return Summary(
        input=str(request.input),
        output=None if store_path is None else str(request.output),
        checkpoint=None if store_path is None else str(store_path),
        rows=plan.rows,
        distinct_numbers=len(plan.distinct),
        duplicates_saved=plan.duplicate_rows,
        invalid=plan.invalid,
        empty=plan.empty,
        already_answered=plan.already_answered,
        reused=plan.reused,
        to_send=len(plan.to_send),
    )


def describe_plan(plan: Plan, rate: float, *, resumed: bool) -> str:
    """The one line shown before sending."""
    seconds = len(plan.to_send) / rate if rate else 0.0
    parts = [
        f"{plan.rows} rows",
        f"{len(plan.distinct)} distinct numbers (column {plan.column_name!r})",
        f"{plan.invalid} invalid",
        f"{plan.empty} empty",
    ]
    if resumed:
        parts.append(f"{plan.already_answered} already answered (resuming)")
    parts.append(f"{plan.reused} reused")
    parts.append(f"{len(plan.to_send)} to send")
    parts.append(f"at most {len(plan.to_send)} billable")
    parts.append(f"about {_duration(seconds)} at {rate:g}/s")
    return "plan: " + ", ".join(parts)


def describe_summary(summary: Summary) -> str:
    """The lines printed at the end of a run."""
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items(), key=lambda kv: -kv[1]))
    lines = [
        f"{summary.outcome}: {summary.rows} rows written to {summary.output}",
        f"  by status: {statuses or 'none'}",
        (
            f"  billable calls {summary.billable_calls}, requests {summary.requests}, "
            f"retries {summary.retries}, "
            f"rate-limited {summary.rate_limited}, uncertain {summary.uncertain_calls}, "
            f"reused {summary.reused + summary.already_answered}, duplicates saved {summary.duplicates_saved}"
        ),
        f"  elapsed {_duration(summary.elapsed_seconds)}, achieved rate {summary.achieved_rate:g}/s",
    ]
    if summary.uncertain_from_previous_run:
        lines.append(
            f"  {summary.uncertain_from_previous_run} calls of an interrupted earlier run got no answer "
            "and may have been billed; they were asked again"
        )
    if summary.error:
        lines.append(f"  {summary.error}")
    if summary.exit_code == errors.EXIT_INCOMPLETE:
        lines.append("  some rows are not final: run the same command again later to fill them")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def _write_summary_json(path: Path | None, summary: Summary) -> None:
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(summary.__dict__, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise errors.OutputError(f"cannot write the summary {path}: {exc.strerror}") from None


def _now() -> str:
    return utc_now_iso()
