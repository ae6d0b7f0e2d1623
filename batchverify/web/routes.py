"""The JSON API: upload and plan, start, stop, the job list and one job, its event stream, its
result files, delete. Errors are ``{"error": "one line"}`` with the status that says what kind."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from batchverify.errors import BatchVerifyError
from batchverify.web.audit import audit
from batchverify.web.auth import user_of
from batchverify.web.httpheaders import disposition, idempotency_key
from batchverify.web.jobs import ACTIVE, WebJob
from batchverify.web.jobstream import stream_job
from batchverify.web.manager import RETRY_AFTER, JobManager
from batchverify.web.messages import (
    JobConflict,
    PlanError,
    ServerBusy,
    TooLarge,
    UploadError,
    in_words,
    one_line,
)
from batchverify.web.openapi import JOB_REF, UPLOAD_FORM, describe
from batchverify.web.users import OPERATOR
from batchverify.web.words import browser_language

__all__ = ["MANAGER", "add_api_routes"]

MANAGER = web.AppKey("manager", JobManager)
_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
    ".tsv": "text/tab-separated-values",
}


def _error(status: int, exc: BatchVerifyError, language: str | None = None) -> web.Response:
    """``{"error": one line, "code": its stable code}``, and ``"message"``: the same in the browser's
    language, rendered from the code (never from the English text)."""
    names = exc.names if isinstance(exc, PlanError) else {}
    english, shown = in_words(exc, language or "en", names)
    doc = {"error": one_line(english), "code": exc.code}
    if exc.option is not None:
        doc["field"] = exc.option
    if language is not None:
        doc["message"] = one_line(shown)
    return web.json_response(doc, status=status)


def _language(request: web.Request) -> str:
    default = _manager(request).settings.language
    return browser_language(request.headers.get("Accept-Language", ""), default)


def _manager(request: web.Request) -> JobManager:
    return request.app[MANAGER]


def _job(request: web.Request) -> WebJob:
    return _manager(request).get(request.match_info["id"], user_of(request))


@describe(
    "Upload a customer list and plan it (nothing is sent)",
    body=UPLOAD_FORM,
    query={"language": "zh-CN or en: the output's language (default: Accept-Language)"},
    headers={"Idempotency-Key": "The same key again (a retry) answers the job it made, and makes none"},
    responses={
        201: ("Planned: the job, with Location", JOB_REF),
        400: "The file, its options or the Idempotency-Key cannot be read",
        409: "An upload with this Idempotency-Key is in progress",
        422: "This Idempotency-Key was used for another file",
        413: "Larger than --max-upload-mb",
        429: "Too many uploads at once (Retry-After)",
        507: "The server cannot store it",
    },
)
async def create_job(request: web.Request) -> web.Response:
    manager = _manager(request)
    language = request.query.get("language") or browser_language(
        request.headers.get("Accept-Language", ""), manager.settings.language
    )
    if language not in ("zh-CN", "en"):
        language = manager.settings.language
    user = user_of(request)
    try:
        owner = "" if user is OPERATOR else user.name
        job, replayed = await manager.create(request, language, idempotency_key(request), owner)
    except JobConflict as exc:
        return _error(422 if exc.code == "key_reused" else 409, exc, language)
    except TooLarge:
        mb = manager.settings.max_upload / (1024 * 1024)
        too_large = TooLarge(
            "the file is larger than the server's limit of {mb} MB (--max-upload-mb)", mb=f"{mb:g}"
        )
        return _error(413, too_large, language)
    except ServerBusy as exc:
        busy = _error(429, exc, language)
        busy.headers["Retry-After"] = str(RETRY_AFTER)
        return busy
    except (UploadError, PlanError) as exc:
        return _error(400, exc, language)
    except OSError as exc:  # the data dir is full or gone: nothing of the upload is kept
        full = UploadError(
            "the server cannot store the upload ({why})",
            code="server_full",
            why=exc.strerror or type(exc).__name__,
        )
        return _error(507, full, language)
    where = {"Location": f"/api/jobs/{job.record.id}"}
    if replayed:
        where["Idempotent-Replayed"] = "true"
    else:
        audit(request, "upload", job, bytes=job.record.size)
    return web.json_response(manager.view(job), status=201, headers=where)


@describe(
    "Plan again with another column, sheet, header row or reuse window (before the start)",
    body={
        "application/json": {"schema": {"type": "object"}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
    },
    responses={
        200: ("The job, planned again", JOB_REF),
        400: "The options do not fit the list",
        404: "No such job",
        409: "Not planned (started already)",
    },
)
async def replan_job(request: web.Request) -> web.Response:
    job = _job(request)
    fields = await _fields(request)
    try:
        await _manager(request).replan(job, fields)
    except JobConflict as exc:
        return _error(409, exc, _language(request))
    except PlanError as exc:
        return _error(400, exc, _language(request))
    return web.json_response(_manager(request).view(job))


async def _fields(request: web.Request) -> dict[str, str]:
    if request.content_type == "application/json":
        try:
            doc = await request.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise web.HTTPBadRequest(text='{"error": "send a JSON object"}', content_type="application/json")
        return {str(k): "" if v is None else str(v) for k, v in doc.items()}
    form = await request.post()
    return {k: str(v) for k, v in form.items() if isinstance(v, str)}


@describe(
    "Start (or resume) the job",
    headers={"Idempotency-Key": "The last start's key again (a retry) starts nothing and answers 202"},
    responses={
        202: ("Queued, then running: the job, with Location", JOB_REF),
        404: "No such job",
        409: "Already running, being planned again, or finished",
    },
)
async def start_job(request: web.Request) -> web.Response:
    return _act(request, JobManager.start)


@describe(
    "A new job on the same upload that asks which other column to check (nothing uploaded again)",
    responses={201: ("The new job, with Location", JOB_REF), 404: "No such job"},
)
async def another_column(request: web.Request) -> web.Response:
    job = _job(request)
    manager = _manager(request)
    try:  # within the caps on uploads at once: each copies a whole list
        made = await manager.counted(request, manager.another_column(job))
    except JobConflict as exc:
        return _error(409, exc, _language(request))
    except ServerBusy as exc:
        busy = _error(429, exc, _language(request))
        busy.headers["Retry-After"] = str(RETRY_AFTER)
        return busy
    except PlanError as exc:
        return _error(400, exc, _language(request))
    audit(request, "another_column", made, of=job.record.id)
    return web.json_response(
        _manager(request).view(made), status=201, headers={"Location": f"/api/jobs/{made.record.id}"}
    )


@describe(
    "Rename the job, or set its budget (max_billable; not while it runs)",
    body={"application/json": {"schema": {"type": "object"}}},
    responses={
        200: ("The job", JOB_REF),
        400: "A field cannot be used",
        404: "No such job",
        409: "A budget while it runs",
    },
)
async def change_job(request: web.Request) -> web.Response:
    job = _job(request)
    fields = await _fields(request)
    try:
        _manager(request).rename(job, fields)
    except JobConflict as exc:
        return _error(409, exc, _language(request))
    except UploadError as exc:
        return _error(400, exc, _language(request))
    stored = {"name": job.record.title, "max_billable": job.record.budget}  # as kept, never as sent
    audit(request, "change", job, **{k: v for k, v in stored.items() if k in fields})
    return web.json_response(_manager(request).view(job))


@describe(
    "Stop the job: calls in flight land, the partial result is written",
    responses={202: ("Stopping: the job", JOB_REF), 404: "No such job", 409: "Not running"},
)
async def stop_job(request: web.Request) -> web.Response:
    return _act(request, JobManager.stop)


def _act(request: web.Request, action: Callable[[JobManager, WebJob], None]) -> web.Response:
    """Start or stop: 202 with the job, or 409 when the job's state does not allow it. A start
    sent again with the Idempotency-Key of the last start (a retry) starts nothing and answers 202."""
    manager, job = _manager(request), _job(request)
    try:
        key = idempotency_key(request) if action is JobManager.start else ""
        if not (key and job.record.start_key == key):
            action(manager, job)
            audit(request, "start" if action is JobManager.start else "stop", job)
            if key:
                job.save(start_key=key)
    except JobConflict as exc:
        return _error(409, exc, _language(request))
    except UploadError as exc:
        return _error(400, exc, _language(request))
    return web.json_response(
        manager.view(job), status=202, headers={"Location": f"/api/jobs/{job.record.id}"}
    )


@describe(
    "Every job kept, newest first (without their plans)",
    responses={
        200: ("The jobs", {"type": "object", "properties": {"jobs": {"type": "array", "items": JOB_REF}}})
    },
)
async def list_jobs(request: web.Request) -> web.Response:
    # Without each job's plan (its preview and columns): the page refreshes this list every few seconds.
    manager = _manager(request)
    mine = manager.listing(user_of(request))
    return web.json_response({"jobs": [manager.view(j, plan=False, same=False) for j in mine]})


@describe("One job", responses={200: ("The job", JOB_REF), 404: "No such job"})
async def get_job(request: web.Request) -> web.Response:
    return web.json_response(_manager(request).view(_job(request)))


@describe(
    "Stop the job if it runs and remove every file it has", responses={204: "Deleted", 404: "No such job"}
)
async def delete_job(request: web.Request) -> web.Response:
    job = _job(request)
    audit(request, "delete", job)
    await _manager(request).delete(job)
    return web.Response(status=204)


MAX_LISTENERS_PER_JOB = 16  # open event streams of one job (tabs, reconnects)
MAX_LISTENERS = 256  # and of the whole server


@describe(
    "The job's changes as Server-Sent Events (event: job; the whole job first, then what changed)",
    responses={
        200: ("The stream", {"type": "string"}, "text/event-stream"),
        404: "No such job",
        429: "Too many streams (Retry-After)",
    },
)
async def job_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the job as ``GET /api/jobs/{id}`` shows it, then what changed (the keys
    whose values differ, ``id`` always; the plan only when it changed), each time it changes."""
    job = _job(request)
    manager = _manager(request)
    listening = sum(j.listeners for j in manager.jobs.values())
    if job.listeners >= MAX_LISTENERS_PER_JOB or listening >= MAX_LISTENERS:
        busy = _error(
            429, JobConflict("too many open event streams; close some tabs", code="too_many_streams")
        )
        busy.headers["Retry-After"] = "30"
        return busy
    return await stream_job(request, job, manager)


@describe(
    "The list with the result columns (CSV or workbook, as uploaded)",
    query={"rows": "all (default) or problems: only the rows that need action"},
    responses={
        200: (
            "The file",
            {"type": "string", "contentMediaType": "application/octet-stream"},
            "application/octet-stream",
        ),
        400: "rows is neither all nor problems",
        404: "No such job, or not started yet",
        409: "Queued, running, or stopped and still writing its file: the result is ready when it is written",
    },
)
async def job_result(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    if job.writing:
        return _error(409, JobConflict("the job stopped and is writing its result file", code="writing"))
    if job.record.state in ACTIVE:
        return _error(
            409,
            JobConflict(
                "the job is {state}: the result is ready when it stops",
                code="job_active",
                state=job.record.state,
            ),
        )
    rows = request.query.get("rows", "all")
    if rows not in ("all", "problems"):
        return _error(400, UploadError("rows must be all or problems", code="bad_rows"))
    problems = rows == "problems"
    path = job.files.problems if problems else job.files.output
    if not path.exists():
        return _error(404, JobConflict("no result yet: start the job first", code="no_result"))
    name = job.files.download_name(job.record, problems)
    audit(request, "download", job, rows=rows)
    headers = {"Content-Disposition": disposition(name), "Content-Type": _TYPES.get(path.suffix, "text/csv")}
    return web.FileResponse(path, headers=headers)


def add_api_routes(app: web.Application) -> None:
    app.router.add_post("/api/jobs", create_job)
    app.router.add_get("/api/jobs", list_jobs)
    app.router.add_get("/api/jobs/{id}", get_job)
    app.router.add_delete("/api/jobs/{id}", delete_job)
    app.router.add_patch("/api/jobs/{id}", change_job)
    app.router.add_post("/api/jobs/{id}/another", another_column)
    app.router.add_post("/api/jobs/{id}/plan", replan_job)
    app.router.add_post("/api/jobs/{id}/start", start_job)
    app.router.add_post("/api/jobs/{id}/stop", stop_job)
    app.router.add_get("/api/jobs/{id}/events", job_events)
    app.router.add_get("/api/jobs/{id}/result", job_result)
