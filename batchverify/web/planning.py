"""Planning a job of the upload server: the plan of an upload (or a question, when its phone column
cannot be told), a plan again with other choices, another column of the same list as a job of its
own, a new name or budget. A part of ``JobManager``."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from batchverify.core.timeutil import utc_now_iso
from batchverify.errors import BatchVerifyError
from batchverify.web.choice import Choice, choice_of
from batchverify.web.fields import clean_title, job_fields
from batchverify.web.jobevents import event as _event
from batchverify.web.jobs import WebJob
from batchverify.web.messages import JobConflict, PlanError, in_words, one_line
from batchverify.web.records import new_id

if TYPE_CHECKING:
    from batchverify.web.manager import ServeSettings

__all__ = ["ASK_COLUMN", "JobPlanning"]

ASK_COLUMN = frozenset({"ambiguous_column", "no_phone_column"})  # a job asks, instead of a refusal
ANOTHER = ("the same list, for another column: choose it", "同一份名单，核验另一列：请选择要核验的列")


class JobPlanning:
    """The planning half of the server's jobs (``JobManager`` holds the state it uses)."""

    settings: ServeSettings
    root: Path
    jobs: dict[str, WebJob]
    _planning: asyncio.Semaphore

    async def another_column(self, job: WebJob) -> WebJob:
        """A new job on the same upload that asks which other column to check: a choice, with no
        upload again and no warning about paying for the same list twice."""
        r = job.record
        if job.writing:
            raise JobConflict("the job stopped and is writing its result file", code="writing")
        if r.state not in ("finished", "stopped", "failed"):
            raise JobConflict(
                "the job is {state}: another column is checked once it has run",
                code="not_run",
                state=r.state,
            )
        folder = self.root / new_id()
        await asyncio.to_thread(folder.mkdir, mode=0o700)
        other = "另一列" if r.language == "zh-CN" else "another column"
        title = clean_title(f"{(r.title or r.name)[:100]} · {other}")
        record = dataclasses.replace(r, id=folder.name, title=title)
        record = dataclasses.replace(
            record, created_at=utc_now_iso(), state="planned", summary=None, error=None, runs=0,
            closed=False, upload_key="", start_key="", column=None, max_age=None, total=0, done=0, counts={},
        )  # fmt: skip
        copy = WebJob(self.root, record, self.settings.options)
        try:
            await asyncio.to_thread(shutil.copyfile, job.files.upload, copy.files.upload)
            await self._plan(
                copy, {"sheet": r.sheet, "header_row": r.header_row}, ask=True, another=r.plan.get("column")
            )
        except FileNotFoundError:  # deleted meanwhile
            await asyncio.to_thread(_remove, folder)
            raise web.HTTPNotFound(text='{"error": "no such job"}', content_type="application/json") from None
        except BaseException:
            await asyncio.to_thread(_remove, folder)
            raise
        self.jobs[record.id] = copy
        _event(copy, f"made from job {r.id} to check another column")
        return copy

    async def replan(self, job: WebJob, fields: dict[str, str]) -> None:
        options = choice_of(fields)
        async with job.plan_lock:  # one change at a time; Start waits for none (it says 409)
            if job.record.state != "planned":
                raise JobConflict(
                    "the job is {state}: its column can change only before it starts",
                    code="not_planned",
                    state=job.record.state,
                )
            await self._plan(job, options)

    async def _plan(self, job: WebJob, options: Choice, *, ask: bool = False, another: Any = None) -> None:
        """Plan the job with ``options``. ``ask``: a list whose phone column cannot be told (none
        found, or several alike) becomes a job that asks for it, showing each column's values;
        ``another``: the column checked already, and the job asks for another one."""
        identity = self.settings.target.endpoint_identity
        try:
            async with self._planning:
                made, view = await asyncio.to_thread(job.make_plan, identity, options)
        except BatchVerifyError as exc:
            error = PlanError(exc.template, code=exc.code, names=job.path_names(), **exc.params)
            if not ask or exc.code not in ASK_COLUMN or options.get("column"):
                raise error from None
            made, view = await self._column_question(job, identity, options, exc, error)
        if another is not None:
            english, chinese = ANOTHER
            view.update(column=None, to_send=0, max_billable=0, checked_column=another)
            view["needs_column"] = {"code": "another_column", "message": chinese, "error": english}
        job.save(
            **options,
            plan=view,
            total=0 if view.get("needs_column") else len(made.distinct),
            done=0,
            counts={},
        )

    async def _column_question(
        self, job: WebJob, identity: str, options: Choice, exc: BatchVerifyError, error: PlanError
    ) -> tuple[Any, dict[str, Any]]:
        """The plan under a first column, shown as a question: which column holds the numbers."""
        first = str(exc.params.get("number") or 1)
        try:
            async with self._planning:
                made, view = await asyncio.to_thread(job.make_plan, identity, {**options, "column": first})
        except BatchVerifyError:
            raise error from None
        english, chinese = in_words(error, job.record.language, job.path_names())
        view["needs_column"] = {"code": exc.code, "message": one_line(chinese), "error": one_line(english)}
        view["column"] = None
        view["to_send"] = view["max_billable"] = 0
        return made, view

    def rename(self, job: WebJob, fields: dict[str, str]) -> None:
        """A new name or budget (before it runs, or between runs)."""
        changes = job_fields({k: v for k, v in fields.items() if k in ("name", "max_billable")})
        if "budget" in changes and job.writing:
            raise JobConflict("the job stopped and is writing its result file", code="writing")
        if "budget" in changes and job.busy:
            raise JobConflict("the job is {state}: change its budget when it stops", code="job_active",
                              state=job.record.state)  # fmt: skip
        if changes:
            job.save(**changes)


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
