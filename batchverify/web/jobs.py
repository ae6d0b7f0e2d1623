"""One job of the upload server: its record, its files, its progress, and its runs on the engine.

A run is the library's ``plan`` then ``Job.run()``, on the server's event loop, with every job of the
server sharing the account's gate (``shared_gate``, also shared with command-line runs on the host).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import aiohttp

from batchverify.build import prepare, run_request
from batchverify.core.freshness import Freshness
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.events import Event, SendingEnded
from batchverify.engine.job import Job, Target
from batchverify.engine.options import Options
from batchverify.engine.plan import Plan, RunRequest, build_plan
from batchverify.engine.summary import Summary
from batchverify.errors import BatchVerifyError
from batchverify.web.choice import CHOICES, Choice, reuse_offer
from batchverify.web.jobview import job_view
from batchverify.web.messages import JobConflict
from batchverify.web.planview import plan_view
from batchverify.web.records import JobFiles, JobRecord
from batchverify.web.tally import Tally, count_stored

__all__ = ["JobConflict", "WebJob"]

log = logging.getLogger("batchverify")

ACTIVE = frozenset({"queued", "running"})
# Server paths: never shown, nor sent in a notification (the rate window names the state folder).
_HIDDEN_SUMMARY = frozenset({"input", "output", "checkpoint", "rate_window"})
_SCRUBBED_SUMMARY = ("error", "stop_message", "output_error", "rate_store_problem")


def state_after(summary: Summary) -> str:
    """The page's state for how a run ended."""
    if summary.outcome == "complete" or summary.job_closed:
        # Every number final (or given up), even when a Stop came while the output was written:
        # the checkpoint's job is closed, and starting again would pay for the whole list again.
        return "finished"
    if summary.outcome in ("fatal", "storage_error"):
        return "failed"
    if summary.outcome == "incomplete" and summary.stop_reason in (None, "daily_limit"):
        return "finished"  # answered as far as the API allows today (busy, daily limit): resumable
    return "stopped"


class WebJob:
    """A job and what the server knows of it while it lives."""

    def __init__(self, root: Path, record: JobRecord, options: Options) -> None:
        self.record = record
        self.options = options  # the server's; the record adds the upload's choices
        self.files = JobFiles(root, record)
        self.tally: Tally | None = None  # while a run goes on
        self.task: asyncio.Task[None] | None = None
        self.engine: Job | None = None
        self.stop_requested = False
        self._waiters: set[asyncio.Event] = set()
        self._numbers: Collection[int] = ()
        self._freshness: Freshness | None = None  # the run's max_age: answers fresh by it count as done
        self._waiting = False  # queued: waiting for one of the server's running slots
        self._planning = False  # the run makes its plan again: nothing sent yet
        self._sending_ended = False  # the run sends nothing more: it writes its file
        self.write_only = False  # a run that sends nothing: the file a Stop left unwritten (a restart)
        self.plan_lock = asyncio.Lock()  # one change of column at a time, and none during Start

    # -- what the API shows ------------------------------------------------------------------

    def view(
        self,
        *,
        plan: bool = True,
        same_file: dict[str, str] | None = None,
        keep: datetime.timedelta | None = None,
    ) -> dict[str, Any]:
        """The job as the API shows it (``web.jobview``)."""
        return job_view(self, plan=plan, same_file=same_file, keep=keep)

    def can_start(self) -> bool:
        r = self.record
        return (
            not r.closed
            and r.state in ("planned", "stopped", "failed", "finished")
            and not self.replanning
            and not self.writing
            and not (r.plan or {}).get("needs_column")
            and self.budget_left() != 0
        )

    @property
    def replanning(self) -> bool:
        return self.plan_lock.locked()

    @property
    def writing(self) -> bool:
        """Stopped, and the run still writes the file it has (every row of a long list): no
        download, no Start, no change of budget until it is written."""
        return self.record.writing

    @property
    def busy(self) -> bool:
        """A run goes on: queued, sending, or stopped and writing its file."""
        return self.record.state in ACTIVE or self.writing

    # -- change notification (the event stream) -----------------------------------------------

    @property
    def listeners(self) -> int:
        return len(self._waiters)

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.add(event)
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        self._waiters.discard(event)

    def notify(self) -> None:
        for event in self._waiters:
            event.set()

    def save(self, **changes: Any) -> None:
        """Change the record, write it to disk, tell the listeners."""
        for key, value in changes.items():
            setattr(self.record, key, value)
        self.record.updated_at = utc_now_iso()
        try:
            self.files.save(self.record)
        except OSError as exc:  # a full disk: the job goes on; its record on disk is older
            log.error("cannot write the record of job %s: %s", self.record.id, exc.strerror or exc)
        self.notify()

    # -- planning ------------------------------------------------------------------------------

    def job_options(self, choice: Choice | None = None) -> Options:
        """The server's options with the upload's choices (``choice``, or the record's)."""
        chosen = choice if choice is not None else {name: getattr(self.record, name) for name in CHOICES}
        r = self.record
        return self.options.replace(
            **chosen,
            problems=self.files.problems,
            overwrite=True,  # every file in the job's folder is the server's own
            time_zone=r.time_zone or self.options.time_zone,
            title=r.name,  # the summary sheet names the file the uploader sent, not the server's copy
            retry_advice="button",
            headers=r.headers,
            max_billable=self.budget_left(),
        )

    def budget_left(self) -> int | None:
        """What the job's budget still allows (None: no budget): the budget is the job's, across its
        runs, not each run's."""
        r = self.record
        return None if r.budget is None else max(0, r.budget - r.spent)

    def request(self, choice: Choice | None = None) -> RunRequest:
        f = self.files
        return run_request(self.job_options(choice), f.upload, f.output, language=self.record.language)

    def make_plan(self, identity: str, options: Choice) -> tuple[Plan, dict[str, Any]]:
        """The plan with these options and its view (blocks: run in a thread)."""
        made = build_plan(self.request(options), endpoint_identity=identity)
        view = plan_view(made)
        view["reuse_offer"] = reuse_offer(made)
        return made, view

    def scrub(self, message: str) -> str:
        """An error message without the server's paths: the upload is called by its name."""
        message = message.replace(str(self.files.upload), repr(self.record.name))
        return message.replace(str(self.files.dir) + os.sep, "").replace(str(self.files.dir), "")

    def path_names(self) -> dict[str, str]:
        """The server's paths of this job and what the uploader calls them (for error messages)."""
        folder = str(self.files.dir)
        return {str(self.files.upload): repr(self.record.name), folder + os.sep: "", folder: ""}

    # -- running -------------------------------------------------------------------------------

    async def run(
        self,
        target: Target,
        slots: asyncio.Semaphore,
        closing: asyncio.Event,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """Run once: wait for a slot, plan again (the checkpoint may hold answers), send, write."""
        self._waiting = True
        try:
            await slots.acquire()
        except asyncio.CancelledError:
            if not self.stop_requested:
                raise  # the server is going away: the job stays queued and resumes at its next start
            self.save(state="stopped")  # stopped while it waited for a slot: nothing was sent
            return
        finally:
            self._waiting = False
        try:
            await self._run_once(target, closing, session)
        finally:
            slots.release()

    async def _run_once(
        self, target: Target, closing: asyncio.Event, session: aiohttp.ClientSession | None
    ) -> None:
        if closing.is_set():
            return  # the server is stopping: still queued, it starts with the next server
        if self.stop_requested and not self.write_only:
            self.save(state="stopped")
            return
        if not self.write_only:
            self.save(state="running", error=None)
        self._sending_ended = False
        try:
            await self._run_and_save(target, closing, session)
        except BaseException as exc:
            # Cancelled (the server going down): the record keeps writing, and the next server
            # writes the file. Anything else must not leave the job unable to start or download.
            if self.record.writing and not isinstance(exc, asyncio.CancelledError):
                self.save(writing=False)
            raise
        finally:
            self.write_only = False

    async def _run_and_save(
        self, target: Target, closing: asyncio.Event, session: aiohttp.ClientSession | None
    ) -> None:
        try:
            summary = await self._run(target, session, closing)
        except BatchVerifyError as exc:
            self.save(state="failed", error=self.scrub(str(exc)), spent=self._spent_now(), writing=False)
            self.tally = None
            return
        except Exception as exc:
            log.exception("job %s failed", self.record.id)
            self.save(
                state="failed",
                error=f"internal error: {type(exc).__name__}",
                spent=self._spent_now(),
                writing=False,
            )
            self.tally = None
            return
        finally:
            self.engine = None
        if summary is None:  # stopped while the plan was made again: nothing sent, the file as it was
            self.tally, self._numbers = None, ()
            self.save(
                state="queued" if closing.is_set() and not self.stop_requested else "stopped", writing=False
            )
            return
        state = state_after(summary)
        if closing.is_set() and state == "stopped" and not self.stop_requested:
            state = "queued"  # the server is stopping: the job resumes when it starts again
        try:
            tally = await self._final_tally(summary)
        except (BatchVerifyError, OSError):
            tally = self.tally or Tally(total=self.record.total)  # the live figures, then
        self.tally = None
        self._numbers = ()
        self.save(
            writing=False,
            state=state,
            summary=self._shown(summary),
            error=self.scrub(summary.error or summary.output_error or "") or None,
            total=tally.total,
            done=tally.done,
            counts=dict(sorted(tally.counts.items())),
            closed=summary.job_closed,
            runs=self.record.runs + 1,
            spent=self.record.spent + summary.billable_calls,
        )

    def _spent_now(self) -> int:
        """The job's spend with the billable answers of a run that ended in an error (counted live)."""
        return self.record.spent + (self.tally.billable if self.tally is not None else 0)

    def _shown(self, summary: Summary) -> dict[str, Any]:
        """The summary as the page, the API and a notification see it: no path of the server's."""
        doc = {k: v for k, v in summary.to_dict().items() if k not in _HIDDEN_SUMMARY}
        for key in _SCRUBBED_SUMMARY:
            if isinstance(doc.get(key), str):
                doc[key] = self.scrub(doc[key])
        return doc

    async def _run(
        self, target: Target, session: aiohttp.ClientSession | None, closing: asyncio.Event
    ) -> Summary | None:
        """The run's summary; None when a Stop (or the server's) came before anything was sent."""
        # Planned again: the checkpoint says what is left. The record keeps the upload's plan.
        f = self.files
        self._planning = True
        try:
            job = await prepare(
                self.job_options(),
                target,
                f.upload,
                f.output,
                session=session,
                events=self._on_event,
                language=self.record.language,
            )
            made = job.plan
            self._numbers = made.distinct  # the plan's own: a copy of two million numbers is 16 MB
            self._freshness = made.freshness
            tally = await asyncio.to_thread(
                count_stored, self.files.checkpoint, self._numbers, None, made.freshness
            )
        finally:
            self._planning = False
        for result in made.shared.values():  # reused from the answer store: final before anything is sent
            tally.counts[result.status.value] += 1
            tally.done += 1
        if self.write_only:
            job.stop()  # the file a Stop owed when the server went down: nothing is sent
        elif self.stop_requested or closing.is_set():
            # Asked while the plan was made: nothing was sent, so the file of the last run (if any)
            # stays as it is, and a long list is not written again only to say every row is pending.
            return None
        self.tally = tally
        self.engine = job
        self.notify()
        return await job.run()

    async def _final_tally(self, summary: Summary) -> Tally:
        return await asyncio.to_thread(
            count_stored, self.files.checkpoint, self._numbers, summary.job_id, self._freshness
        )

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SendingEnded):
            self._sending_ended = True
            if self.stop_requested:
                self._stopped_writing()
        elif self.tally is not None and self.tally.apply(event):
            self.notify()

    def _stopped_writing(self) -> None:
        """A Stop is final once nothing more is sent: the job says stopped then, and its file
        (for two million rows, a minute or more) follows."""
        if not self.writing:
            self.save(state="stopped", writing=True)

    def stop(self) -> None:
        self.stop_requested = True
        if self.engine is not None:
            self.engine.stop()
            if self._sending_ended:
                self._stopped_writing()  # it had sent all it would: the Stop is final at once
        elif self._waiting and self.task is not None:
            self.task.cancel()  # queued behind other jobs: it stops without waiting for its turn
        elif self._planning:
            self._stopped_writing()  # the plan is being made again: nothing has been sent
