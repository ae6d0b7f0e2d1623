"""The server's jobs: created from uploads, started, stopped, resumed after a restart, deleted, and
removed once older than ``--keep``. Everything a job has lives under ``<data dir>/jobs/<id>/``."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import shutil
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.job import Target
from batchverify.engine.options import Options
from batchverify.errors import UsageError
from batchverify.report.notify import Notifier
from batchverify.tencent.client import make_session
from batchverify.web.choice import choice_of
from batchverify.web.clients import client_of
from batchverify.web.fields import job_fields
from batchverify.web.jobevents import event as _event
from batchverify.web.jobevents import run_ended
from batchverify.web.jobs import ACTIVE, WebJob
from batchverify.web.keep import sweep
from batchverify.web.messages import JobConflict, PlanError, ServerBusy
from batchverify.web.planning import JobPlanning
from batchverify.web.records import ID_RE, JobRecord, clean_name, load_records, new_id
from batchverify.web.upload import receive_upload
from batchverify.web.users import OPERATOR, User

__all__ = ["JobManager", "PlanError", "ServeSettings"]

log = logging.getLogger("batchverify")

_CONNECTIONS = 64  # the API allows 20 calls a second; in flight at once, far fewer
MAX_RUNNING = 8  # jobs sending at once; more wait as "queued" (all share one gate anyway)
# Uploads received and planned at once (a plan holds a list in memory), and per client address:
# more are told to come back (429, Retry-After) instead of exhausting the server's memory.
MAX_UPLOADS = 4
MAX_UPLOADS_PER_CLIENT = 2
RETRY_AFTER = 10
_SWEEP_EVERY = 3600.0


@dataclass(frozen=True)
class ServeSettings:
    data_dir: Path
    target: Target
    token: str
    max_upload: int = 100 * 1024 * 1024
    keep: datetime.timedelta | None = datetime.timedelta(days=30)
    options: Options = field(
        default_factory=Options
    )  # what every job is run with; each upload adds its own choices
    language: str = "en"  # for uploads whose browser names no language batchverify speaks
    trusted_proxies: frozenset[str] = frozenset()  # --trusted-proxy: whose X-Forwarded-For counts
    notifier: Notifier | None = None  # --notify: told when each job's run ends
    metrics_public: bool = False  # --metrics-public: /metrics without the token
    users_file: Path | None = None  # --users: who may log in, each seeing their own jobs


class JobManager(JobPlanning):
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "jobs"
        self.jobs: dict[str, WebJob] = {}
        self._slots = asyncio.Semaphore(MAX_RUNNING)
        self._uploading: dict[str, int] = {}  # client address -> uploads being received or planned
        self._keys_in_progress: set[str] = set()  # Idempotency-Keys of uploads being received
        # A plan holds the whole list in memory and runs on the GIL: two at once are no faster
        # than one after the other, and hold twice the memory.
        self._planning = asyncio.Semaphore(1)
        self._closing = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        self._session: aiohttp.ClientSession | None = None
        # Called when a job's run has ended, with the job and its summary document (metrics, notify).
        self.on_run_end: list[Callable[[WebJob, dict[str, Any]], None]] = []

    # -- life of the server ----------------------------------------------------------------------

    async def open(self) -> None:
        """Lock the data dir and load every job (``resume`` starts the ones that were running)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock()
        # One keep-alive pool for every job: a job that starts while others run sends on warm
        # connections, so its first calls reach the API when the gate said, not a handshake later.
        target = self.settings.target
        self._session = make_session(connections=_CONNECTIONS, read_timeout=target.read_timeout)
        for record in await asyncio.to_thread(load_records, self.root):
            job = WebJob(self.root, record, self.settings.options)
            self.jobs[record.id] = job
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    def resume(self) -> None:
        """Start again the jobs that were running or queued when the last server stopped (called
        once the server listens: a server that cannot bind its port sends nothing)."""
        for job in self.jobs.values():
            if job.record.state in ACTIVE and job.task is None:
                log.info("resuming job %s (%s) after a restart", job.record.id, job.record.name)
                job.save(state="queued", writing=False)
                self._launch(job)
            elif job.record.writing and job.task is None:
                # Stopped while its file was written: the file is written now, nothing is sent.
                log.info("writing the file of job %s (%s) after a restart", job.record.id, job.record.name)
                job.write_only = True
                self._launch(job)

    async def close(self) -> None:
        """Stop the running jobs cleanly (they resume at the next start) and release the dir."""
        self._closing.set()
        for job in self.jobs.values():
            job.notify()  # event streams end, so the server's shutdown does not wait for them
        if self._sweeper is not None:
            self._sweeper.cancel()
        tasks = [j.task for j in self.jobs.values() if j.task is not None and not j.task.done()]
        for job in self.jobs.values():
            if job.engine is not None:
                job.engine.stop()
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=60)
            for task in late:  # still queued, or a stop that hangs: they resume at the next start
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        if self._session is not None:
            await self._session.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _lock(self) -> None:
        if os.name != "posix":
            return  # no flock: one server per data dir is then the operator's care
        import fcntl

        fd = os.open(self.settings.data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(
                f"another batchverify serve uses the data dir {self.settings.data_dir}; stop it or choose "
                "another --data-dir"
            ) from None
        self._lock_fd = fd

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    # -- the API's actions -----------------------------------------------------------------------

    def load(self) -> dict[str, int]:
        """What the server holds now: its jobs, those running, the uploads being received or planned."""
        running = sum(1 for j in self.jobs.values() if j.task is not None and not j.task.done())
        return {
            "jobs": len(self.jobs),
            "jobs_running": running,
            "uploads_in_progress": sum(self._uploading.values()),
        }

    def get(self, job_id: str, user: User = OPERATOR) -> WebJob:
        """The job, when ``user`` may see it (another user's job is as absent as one never made)."""
        job = self.jobs.get(job_id) if ID_RE.fullmatch(job_id) else None
        if job is None or not user.can_see(job.record.owner):
            raise web.HTTPNotFound(text='{"error": "no such job"}', content_type="application/json")
        return job

    def view(self, job: WebJob, *, plan: bool = True, same: bool = True) -> dict[str, Any]:
        """The job as the API shows it, with the earlier job of the very same file, if any
        (``same=False``: not looked for, which scans every job)."""
        same_file = self._same_file(job) if same else None
        return job.view(plan=plan, same_file=same_file, keep=self.settings.keep)

    def _same_file(self, job: WebJob) -> dict[str, str] | None:
        # Uploaded twice by mistake, a list would be checked and billed twice: the plan says so.
        # Only the uploader's own jobs count (another user's list is never named), and only one
        # that checks the same column: checking another column of a list is a choice.
        mine = job.record
        if not mine.sha256:
            return None
        column = (mine.plan.get("column") or {}).get("column")
        for other in self.jobs.values():  # in upload order: loaded oldest first, then added
            if other is job:
                return None
            theirs = other.record
            same_column = (theirs.plan.get("column") or {}).get("column") == column
            if theirs.sha256 == mine.sha256 and theirs.owner == mine.owner and same_column:
                return {
                    "id": theirs.id,
                    "name": theirs.name,
                    "created_at": theirs.created_at,
                    "state": theirs.state,
                }
        return None

    def listing(self, user: User = OPERATOR) -> list[WebJob]:
        # Newest first: the jobs are held in upload order (loaded oldest first, then added), which
        # also orders two uploads within one second
        return [j for j in reversed(self.jobs.values()) if user.can_see(j.record.owner)]

    async def create(
        self, request: web.Request, language: str, key: str = "", owner: str = ""
    ) -> tuple[WebJob, bool]:
        """Receive an upload and plan it; with an Idempotency-Key this client used before for the
        same file, the job that upload made (True: a replay; the upload is received, compared by
        its SHA-256 and dropped). Raises ``TooLarge``, ``UploadError``, ``ServerBusy``,
        ``PlanError``, or ``JobConflict`` for a key in progress or used for another file."""
        if not key:
            return await self.counted(request, self._create(request, language, owner)), False
        scoped = f"{owner}@{client_of(request)} {key}"  # one user's (and client's) keys never meet another's
        if scoped in self._keys_in_progress:
            raise JobConflict("an upload with this Idempotency-Key is in progress", code="key_in_progress")
        self._keys_in_progress.add(scoped)
        try:
            earlier = next((j for j in self.jobs.values() if j.record.upload_key == scoped), None)
            if earlier is not None:
                await self.counted(request, self._same_upload(request, earlier))
                return earlier, True
            job = await self.counted(request, self._create(request, language, owner))
            job.save(upload_key=scoped)
            return job, False
        finally:
            self._keys_in_progress.discard(scoped)

    async def _same_upload(self, request: web.Request, earlier: WebJob) -> WebJob:
        folder = self.root / f".replay-{new_id()}"
        await asyncio.to_thread(folder.mkdir, mode=0o700)
        try:
            upload = await receive_upload(request, folder, self.settings.max_upload)
        finally:
            await asyncio.to_thread(_remove, folder)
        if upload.sha256 != earlier.record.sha256:
            raise JobConflict(
                "this Idempotency-Key was used for another file: use a new key for a new upload",
                code="key_reused",
            )
        return earlier

    async def counted(self, request: web.Request, work: Coroutine[Any, Any, WebJob]) -> WebJob:
        """``work`` (receiving an upload) within the caps on uploads at once."""
        client = client_of(request)
        if (
            sum(self._uploading.values()) >= MAX_UPLOADS
            or self._uploading.get(client, 0) >= MAX_UPLOADS_PER_CLIENT
        ):
            work.close()
            raise ServerBusy(
                "the server is receiving other uploads; try again in {retry} s", retry=RETRY_AFTER
            )
        self._uploading[client] = self._uploading.get(client, 0) + 1
        try:
            return await work
        finally:
            left = self._uploading.pop(client, 1) - 1
            if left:
                self._uploading[client] = left

    async def _create(self, request: web.Request, language: str, owner: str) -> WebJob:
        job_id = new_id()
        folder = self.root / job_id
        await asyncio.to_thread(folder.mkdir, mode=0o700)
        try:
            upload = await receive_upload(request, folder, self.settings.max_upload)
            record = JobRecord(
                id=job_id,
                name=clean_name(upload.filename),
                suffix=upload.suffix,
                created_at=utc_now_iso(),
                language=language,
                size=upload.size,
                sha256=upload.sha256,
                owner=owner,
                **job_fields(upload.fields, upload_suffix=upload.suffix),
            )
            job = WebJob(self.root, record, self.settings.options)
            await self._plan(job, choice_of(upload.fields), ask=True)
        except BaseException:
            await asyncio.to_thread(_remove, folder)
            raise
        self.jobs[job_id] = job
        plan = job.record.plan or {}
        _event(job, f"uploaded ({upload.size:,} bytes) and planned: {plan.get('rows', '?')} rows, "
                    f"{job.record.total:,} distinct numbers, {plan.get('to_send', '?')} to send")  # fmt: skip
        return job

    def start(self, job: WebJob) -> None:
        if self._closing.is_set():
            raise JobConflict("the server is stopping", code="server_stopping")
        if not job.can_start():
            if job.replanning:
                raise JobConflict(
                    "the plan is being made again for the new column; start when it shows", code="replanning"
                )
            if job.writing:
                raise JobConflict("the job stopped and is writing its result file: start it once written",
                                  code="writing")  # fmt: skip
            if job.record.state in ACTIVE:
                raise JobConflict("the job is already {state}", code="job_active", state=job.record.state)
            if (job.record.plan or {}).get("needs_column"):
                raise JobConflict("choose the phone column first", code="choose_column")
            if job.budget_left() == 0:
                raise JobConflict(
                    "the job's budget ({budget} billable answers) is spent: raise it to go on",
                    code="budget_spent",
                    budget=job.record.budget,
                )
            raise JobConflict("the job is finished: every number has its answer", code="job_finished")
        job.stop_requested = False
        job.save(state="queued", error=None)
        _event(job, "started (queued for a running slot)" if self._slots.locked() else "started")
        self._launch(job)

    def _launch(self, job: WebJob) -> None:
        job.stop_requested = False
        job.task = asyncio.get_running_loop().create_task(self._run(job), name=f"job-{job.record.id}")

    async def _run(self, job: WebJob) -> None:
        runs = job.record.runs
        await job.run(self.settings.target, self._slots, self._closing, self._session)
        doc = run_ended(job, runs)
        if doc is None:
            return  # stopped while it waited for its turn, or the server stops: no run ended
        for hook in self.on_run_end:
            try:
                hook(job, doc)
            except Exception:  # a report must never take the job (or the server) down
                log.exception("reporting the end of job %s failed", job.record.id)

    def stop(self, job: WebJob) -> None:
        if job.record.state not in ACTIVE:
            raise JobConflict("the job is {state}, not running", code="not_running", state=job.record.state)
        job.stop()
        _event(job, "stop asked")

    async def delete(self, job: WebJob) -> None:
        """Stop the job if it runs (its calls in flight land first), then remove every file.

        It leaves the list first: from then on a Start, a download or a second Delete of it is a
        404, so it cannot be started again while its folder is being removed."""
        self.jobs.pop(job.record.id, None)
        _event(job, "deleted with every file it had")
        job.notify()
        job.stop()
        if job.task is not None and not job.task.done():
            _done, late = await asyncio.wait([job.task], timeout=60)
            for task in late:  # a stop that hangs: its folder goes all the same
                task.cancel()
                await asyncio.wait([task], timeout=10)
        await asyncio.to_thread(job.files.remove)

    # -- --keep -------------------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("removing old jobs failed")
            await asyncio.sleep(_SWEEP_EVERY)

    async def sweep(self, now: datetime.datetime | None = None) -> list[str]:
        """Remove the jobs untouched for longer than ``--keep`` (never one that runs); returns ids."""
        return await sweep(self, now)


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
