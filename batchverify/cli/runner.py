"""The command line's run: plan, confirm, execute, summarize, with a terminal (or a cron log) around
the engine's three steps. Signals become ``job.stop()``; off a terminal every line is timestamped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from batchverify import errors
from batchverify._version import __version__
from batchverify.build import prepare
from batchverify.cli.exits import (
    REPORTS,
    exit_code_of,
    write_interrupted_summary,
    write_metrics,
    write_summary,
)
from batchverify.cli.lines import emit
from batchverify.core.text import from_outside
from batchverify.engine.events import Event, JobStarted, Sharing, StopReason
from batchverify.engine.job import Job, Target
from batchverify.engine.options import Options
from batchverify.engine.output import kill_writers
from batchverify.engine.summary import summary_from_plan
from batchverify.report.console import counted, describe_plan, describe_summary
from batchverify.report.progress import Progress

if TYPE_CHECKING:
    pass

__all__ = ["RunSettings", "run_job"]

log = logging.getLogger("batchverify")


@dataclass(frozen=True)
class RunSettings:
    """What only the command line decides: the files, and how the run is shown and confirmed."""

    input: Path
    output: Path | None  # None: INPUT.verified.EXT
    dry_run: bool
    progress: str
    summary_json: Path | None
    confirm: Callable[[str], bool] | None  # None: never ask (off a terminal, or --yes)


async def run_job(options: Options, target: Target, run: RunSettings) -> int:
    """plan, confirm, execute, summarize: the engine's three steps with a terminal around them."""
    progress = Progress(run.progress)
    rate = options.rate

    def events(event: Event) -> None:
        if isinstance(event, Sharing):
            log.info(
                "this account's rate is shared with %d other batchverify process%s: together they "
                "stay within %g/s",
                event.others,
                "es" if event.others > 1 else "",
                rate,
            )
        if isinstance(event, JobStarted):
            how = "resuming" if event.resumed else "new"
            say(
                f"batchverify {__version__}: job {event.job_id} ({how}), {event.to_send} to send; "
                f"input {from_outside(str(made.request.input.absolute()))}"
            )
            if event.rate_window:
                now = f"{counted(event.sharing, 'other process', 'other processes')} sending now"
                log.info("rate window: at most %g/s, shared by %s (%s)", rate, event.rate_window, now)
        progress(event)

    job = await prepare(options, target, run.input, run.output or ..., events=events)
    made = job.plan
    say(describe_plan(made, rate))
    if run.dry_run:
        say("dry run: nothing was sent and nothing was written")
        summary = summary_from_plan(made, written=False)
        summary.outcome = "dry_run"
        write_summary(run.summary_json, summary)
        return exit_code_of(summary)
    if made.to_send and run.confirm is not None and not run.confirm("Send these numbers (billed)?"):
        say("nothing sent")
        summary = summary_from_plan(made, written=False)
        summary.outcome = "declined"
        write_summary(run.summary_json, summary)
        return exit_code_of(summary)
    with _signals(job) as ending:
        try:
            with _ticker(progress):
                summary = await job.run()
        finally:
            progress.close()
        # The run has ended: from here a signal abandons only the notification, never the reports
        # (a summary saying "interrupted" over a run that finished would be a lie to the monitor).
        ending.ended = True
        say(describe_summary(summary))
        code = exit_code_of(summary)
        doc = summary.to_dict()
        try:
            write_summary(run.summary_json, summary)
        except errors.OutputError as exc:  # the answers are in: the metrics and the notification go out
            log.error("%s", exc)
            code = doc["exit_code"] = errors.EXIT_STORAGE
            doc["error"] = doc.get("error") or str(exc)
        write_metrics(doc)
        say(
            f"batchverify {__version__}: job {summary.job_id} run {summary.run_id} ended: "
            f"{summary.outcome}, exit {code}"
        )
        if REPORTS.notifier is not None:
            ending.reporting = asyncio.get_running_loop().create_task(
                REPORTS.notifier.send("run.finished", doc)
            )
            try:
                await ending.reporting
            except asyncio.CancelledError:
                if _current_cancelled():
                    raise
                log.warning("notification abandoned: a stop was asked for while it was being sent")
    return code


def _current_cancelled() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


class _Ending:
    """Where a run is: sending (a signal stops it), or ended (a signal abandons the notification)."""

    def __init__(self) -> None:
        self.ended = False
        self.reporting: asyncio.Task[bool] | None = None


def say(text: str) -> None:
    """Print lines for a person, in the format of every other line (see ``cli.lines``)."""
    emit(text)


@contextlib.contextmanager
def _signals(job: Job) -> Iterator[_Ending]:
    """First Ctrl-C, SIGTERM or SIGHUP: stop sending and finish cleanly. A second: leave at once.

    Leaving at once is safe: every answer is already committed to the checkpoint.
    """
    loop = asyncio.get_running_loop()
    hits = 0
    ending = _Ending()

    def handle(sig: signal.Signals) -> None:
        nonlocal hits
        if ending.ended:
            if ending.reporting is not None and not ending.reporting.done():
                ending.reporting.cancel()
            return
        hits += 1
        if hits > 1:
            kill_writers()  # nothing is written after the run has said it stopped
            log.warning("quit now: every answer is in the checkpoint; run again to write the output")
            write_interrupted_summary()  # a monitor never reads the last run's success
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
        yield ending
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
