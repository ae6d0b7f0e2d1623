"""One job of the upload server: its record, its files, its progress, and its runs on the engine.

A run is the library's ``plan`` then ``Job.run()``, on the server's event loop, with every job of the
server sharing the account's gate (``shared_gate``, also shared with command-line runs on the host).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import aiohttp

from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.events import Event
from batchverify.engine.job import Job, Target
from batchverify.engine.plan import Plan, RunRequest, build_plan
from batchverify.engine.summary import Summary
from batchverify.errors import BatchVerifyError
from batchverify.web.planview import plan_view
from batchverify.web.records import JobFiles, JobRecord
from batchverify.web.tally import Tally, count_stored

__all__ = ["JobConflict", "WebJob"]

log = logging.getLogger("batchverify")

ACTIVE = frozenset({"queued", "running"})
_HIDDEN_SUMMARY = frozenset({"input", "output", "checkpoint"})  # server paths: never shown


_FIELDS = {
    "--column": "the column field",
    "--sheet": "the sheet field",
    "--header-row": "the header_row field",
}


class JobConflict(Exception):
    """The action does not fit the job's state (409)."""


def state_after(summary: Summary) -> str:
    """The page's state for how a run ended."""
    if summary.outcome == "complete":
        return "finished"
    if summary.outcome in ("fatal", "storage_error"):
        return "failed"
    if summary.outcome == "incomplete" and summary.stop_reason is None:
        return "finished"  # answered as far as the API allows today (busy, daily limit): resumable
    return "stopped"


class WebJob:
    """A job and what the server knows of it while it lives."""

    def __init__(self, root: Path, record: JobRecord) -> None:
        self.record = record
        self.files = JobFiles(root, record)
        self.tally: Tally | None = None  # while a run goes on
        self.task: asyncio.Task[None] | None = None
        self.engine: Job | None = None
        self.stop_requested = False
        self._waiters: set[asyncio.Event] = set()
        self._numbers: list[int] = []

    # -- what the API shows ------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        r = self.record
        figures = (
            self.tally.view()
            if self.tally is not None
            else {"total": r.total, "done": r.done, "counts": dict(r.counts)}
        )
        has_result = r.state not in ACTIVE and self.files.output.exists()
        base = f"/api/jobs/{r.id}/result"
        return {
            "id": r.id,
            "name": r.name,
            "state": r.state,
            **figures,
            "summary": r.summary,
            "error": r.error,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "size": r.size,
            "language": r.language,
            "runs": r.runs,
            "can_start": self.can_start(),
            "plan": r.plan,
            "downloads": {
                "result": base if has_result else None,
                "problems": f"{base}?rows=problems" if has_result and self.files.problems.exists() else None,
            },
        }

    def can_start(self) -> bool:
        r = self.record
        return r.state in ("planned", "stopped", "failed") or (r.state == "finished" and not r.closed)

    # -- change notification (the event stream) -----------------------------------------------

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
        self.files.save(self.record)
        self.notify()

    # -- planning ------------------------------------------------------------------------------

    def request(self) -> RunRequest:
        r, f = self.record, self.files
        return RunRequest(
            input=f.upload,
            output=f.output,
            column=r.column,
            sheet=r.sheet,
            header_row=r.header_row,
            language=r.language,
            problems=f.problems,
            overwrite=True,  # every file in the job's folder is the server's own
        )

    def make_plan(self, identity: str) -> tuple[Plan, dict[str, Any]]:
        """The plan and its view (blocks: run in a thread)."""
        made = build_plan(self.request(), endpoint_identity=identity)
        return made, plan_view(made)

    def scrub(self, message: str) -> str:
        """An error message without the server's paths: the upload is called by its name."""
        message = message.replace(str(self.files.upload), repr(self.record.name))
        message = message.replace(str(self.files.dir) + os.sep, "").replace(str(self.files.dir), "")
        for flag, field in _FIELDS.items():  # the command line's options are the API's fields here
            message = message.replace(flag, field)
        return message

    # -- running -------------------------------------------------------------------------------

    async def run(
        self,
        target: Target,
        slots: asyncio.Semaphore,
        closing: asyncio.Event,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """Run once: wait for a slot, plan again (the checkpoint may hold answers), send, write."""
        async with slots:
            if self.stop_requested:
                self.save(state="stopped")
                return
            self.save(state="running", error=None)
            try:
                summary = await self._run(target, session)
            except BatchVerifyError as exc:
                self.tally = None
                self.save(state="failed", error=self.scrub(str(exc)))
                return
            except Exception as exc:
                log.exception("job %s failed", self.record.id)
                self.tally = None
                self.save(state="failed", error=f"internal error: {type(exc).__name__}")
                return
            finally:
                self.engine = None
            state = state_after(summary)
            if closing.is_set() and summary.outcome == "interrupted" and not self.stop_requested:
                state = "queued"  # the server is stopping: the job resumes when it starts again
            tally = await self._final_tally(summary)
            self.tally = None
            self.save(
                state=state,
                summary={k: v for k, v in summary.to_dict().items() if k not in _HIDDEN_SUMMARY},
                error=self.scrub(summary.error or summary.output_error or "") or None,
                total=tally.total,
                done=tally.done,
                counts=dict(sorted(tally.counts.items())),
                closed=summary.job_closed,
                runs=self.record.runs + 1,
            )

    async def _run(self, target: Target, session: aiohttp.ClientSession | None) -> Summary:
        # Planned again: the checkpoint says what is left. The record keeps the upload's plan.
        made = await asyncio.to_thread(build_plan, self.request(), endpoint_identity=target.endpoint_identity)
        self._numbers = list(made.distinct)
        store = self.request().store_path
        assert store is not None
        self.tally = await asyncio.to_thread(count_stored, store, self._numbers)
        job = self.engine = Job(made, target, session=session, events=self._on_event)
        if self.stop_requested:
            job.stop()
        self.notify()
        return await job.run()

    async def _final_tally(self, summary: Summary) -> Tally:
        store = self.request().store_path
        assert store is not None
        return await asyncio.to_thread(count_stored, store, self._numbers, summary.job_id)

    def _on_event(self, event: Event) -> None:
        if self.tally is not None and self.tally.apply(event):
            self.notify()

    def stop(self) -> None:
        self.stop_requested = True
        if self.engine is not None:
            self.engine.stop()
