"""The command line's run: plan, confirm, execute, summarize, with a terminal (or a cron log) around
the engine's three steps. Signals become ``job.stop()``; off a terminal every line is timestamped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from batchverify import __version__, errors
from batchverify.console import describe_plan, describe_summary
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.events import Event, JobStarted, Sharing, StopReason
from batchverify.engine.job import Job, Target, plan
from batchverify.engine.plan import RunRequest
from batchverify.engine.sender import SendConfig
from batchverify.engine.summary import Summary, summary_from_plan
from batchverify.progress import Progress
from batchverify.tencent.client import Encrypts, Endpoint
from batchverify.tencent.credentials import Credentials

__all__ = ["RunOptions", "run_job"]

log = logging.getLogger("batchverify")


@dataclass(frozen=True)
class RunOptions:
    where: Endpoint
    credentials: Credentials | None  # None only for a dry run
    identity: str
    send: SendConfig
    encryptor: Encrypts | None
    dry_run: bool
    progress: str
    summary_json: Path | None
    read_timeout: float
    confirm: Callable[[str], bool] | None  # None: never ask (off a terminal, or --yes)
    rate_store: str | None = None


async def run_job(request: RunRequest, opts: RunOptions) -> int:
    """plan, confirm, execute, summarize: the engine's three steps with a terminal around them."""
    made = await plan(request, endpoint_identity=opts.identity)
    say(describe_plan(made, opts.send.rate))
    if opts.dry_run:
        say("dry run: nothing was sent and nothing was written")
        summary = summary_from_plan(made, written=False)
        summary.outcome = "dry_run"
        _write_summary_json(opts.summary_json, summary)
        return errors.EXIT_OK
    if made.to_send and opts.confirm is not None and not opts.confirm("Send these numbers (billed)?"):
        say("nothing sent")
        summary = summary_from_plan(made, written=False)
        summary.outcome = "declined"
        _write_summary_json(opts.summary_json, summary)
        return errors.EXIT_USAGE
    assert opts.credentials is not None
    target = Target(
        endpoint=opts.where,
        credentials=opts.credentials,
        identity=opts.identity,
        send=opts.send,
        encryptor=opts.encryptor,
        read_timeout=opts.read_timeout,
        rate_store=opts.rate_store,
    )
    progress = Progress(opts.progress)

    def events(event: Event) -> None:
        if isinstance(event, Sharing):
            log.info(
                "this account's rate is shared with %d other batchverify process%s: together they "
                "stay within %g/s",
                event.others,
                "es" if event.others > 1 else "",
                opts.send.rate,
            )
        if isinstance(event, JobStarted):
            how = "resuming" if event.resumed else "new"
            say(
                f"batchverify {__version__}: job {event.job_id} ({how}), {event.to_send} to send; "
                f"input {made.request.input.absolute()}"
            )
        progress(event)

    job = Job(made, target, events=events)
    try:
        with _signals(job), _ticker(progress):
            summary = await job.run()
    finally:
        progress.close()
    say(describe_summary(summary))
    _write_summary_json(opts.summary_json, summary)
    say(
        f"batchverify {__version__}: job {summary.job_id} run {summary.run_id} ended: {summary.outcome}, "
        f"exit {summary.exit_code}"
    )
    return summary.exit_code


def say(text: str) -> None:
    """Print lines for a person; off a terminal (cron, a log file) each gets a UTC timestamp."""
    if sys.stdout.isatty():
        click.echo(text)
        return
    stamp = utc_now_iso()
    click.echo("\n".join(f"{stamp} {line}" for line in text.splitlines()))


@contextlib.contextmanager
def _signals(job: Job) -> Iterator[None]:
    """First Ctrl-C, SIGTERM or SIGHUP: stop sending and finish cleanly. A second: leave at once.

    Leaving at once is safe: every answer is already committed to the checkpoint.
    """
    loop = asyncio.get_running_loop()
    hits = 0

    def handle(sig: signal.Signals) -> None:
        nonlocal hits
        hits += 1
        if hits > 1:
            os._exit(errors.EXIT_INTERRUPTED)
        again = "Ctrl-C again" if sig is signal.SIGINT else f"{sig.name} again"
        log.warning(
            "stopping (%s): finishing calls in flight and writing the output (%s to quit now)",
            "Ctrl-C" if sig is signal.SIGINT else sig.name,
            again,
        )
        job.stop(StopReason.INTERRUPTED)

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    installed = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, handle, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
            if sig is not signal.SIGINT:
                signal.signal(sig, previous[sig])


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


def _write_summary_json(path: Path | None, summary: Summary) -> None:
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise errors.OutputError(f"cannot write the summary {path}: {exc.strerror}") from None
