"""The upload server's aiohttp application: routes, the token check, the page's templates and
script, and the job manager's start and stop with the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2

# Imported with the server, before it listens: a plan's packed numbers need numpy, and its first
# import in a planning thread held the interpreter for 30-40 ms (the loop stalled for every job).
import numpy  # noqa: F401
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from batchverify import __version__
from batchverify.engine.gate import shared_gates
from batchverify.web.audit import AUDIT, AuditLog
from batchverify.web.auth import Auth, user_of
from batchverify.web.clients import TRUSTED, client_of
from batchverify.web.looplag import LoopLag
from batchverify.web.manager import JobManager, ServeSettings
from batchverify.web.metrics import CONTENT_TYPE, ServeMetrics, metrics_text
from batchverify.web.openapi import describe, openapi_document
from batchverify.web.pages import AUTH, add_page_routes
from batchverify.web.problems import as_problem, problem
from batchverify.web.routes import MANAGER, add_api_routes

__all__ = ["LOOP_LAG", "AccessLog", "create_app"]

log = logging.getLogger("batchverify")
_HERE = Path(__file__).parent
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PROBES = frozenset({"/healthz", "/readyz"})  # open to anyone: they say nothing but up or not
LOOP_LAG = web.AppKey("loop_lag", LoopLag)
METRICS = web.AppKey("metrics", ServeMetrics)


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    api = request.path.startswith("/api/") or request.path == "/metrics"
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if api and exc.status >= 400:
            # aiohttp's own 404, 405 and 413 are plain text, the token check's are JSON: the API
            # answers a problem document (RFC 9457), always.
            if exc.content_type == "application/json":
                doc = json.loads(exc.text or "{}")
            else:
                doc = {"error": exc.text.split(": ", 1)[-1] if exc.text else exc.reason}
            headers = {**_SECURITY_HEADERS}
            for name in ("Allow", "Retry-After", "WWW-Authenticate"):
                if name in exc.headers:
                    headers[name] = exc.headers[name]
            return problem(exc.status, doc, headers)
        exc.headers.update(_SECURITY_HEADERS)
        raise
    except Exception:
        if not api:
            raise
        # A bug must not answer the API's clients with a text/plain traceback page.
        log.exception("internal error answering %s %s", request.method, request.path)
        doc = {"error": "internal error (the server's log has the details)", "code": "internal"}
        return problem(500, doc, _SECURITY_HEADERS)
    if api:
        response = as_problem(response)
    if not response.prepared:
        response.headers.update(_SECURITY_HEADERS)
    return response


class AccessLog(AbstractAccessLogger):
    """One line a request: method, path without its query (a login URL carries the token), status."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request.path in _PROBES:  # a load balancer asks every few seconds: not worth a line
            return
        self.logger.info(
            "%s %s %s %d %.0f ms",
            client_of(request),
            request.method,
            request.path,
            response.status,
            time * 1000,
        )


def create_app(settings: ServeSettings) -> web.Application:
    public = frozenset({"/metrics"}) if settings.metrics_public else frozenset()
    auth = Auth(
        settings.token, settings.data_dir / "sessions.json", public=public, users_file=settings.users_file
    )
    # The upload streams past aiohttp's body limit (the cap is ours, enforced while reading);
    # other bodies (a form, a JSON object) stay small.
    app = web.Application(middlewares=[_security_headers, auth.middleware], client_max_size=1 << 20)
    manager = JobManager(settings)
    app[MANAGER] = manager
    app[AUTH] = auth
    app[AUDIT] = AuditLog(settings.data_dir / "audit.log")
    app[TRUSTED] = settings.trusted_proxies
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"], default=True),
    )
    add_page_routes(app)
    add_api_routes(app)
    app.router.add_static("/static", _HERE / "static", append_version=False)
    lag = app[LOOP_LAG] = LoopLag()
    app.router.add_get("/api/health", _health)
    app.router.add_get("/healthz", _alive)
    app.router.add_get("/readyz", _ready)
    metrics = app[METRICS] = ServeMetrics()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/api/openapi.json", _openapi)
    manager.on_run_end.append(lambda _job, doc: metrics.run_ended(doc))
    notifier = settings.notifier
    if notifier is not None:
        sending: set[asyncio.Task[bool]] = set()

        def notify(_job: object, doc: dict[str, Any]) -> None:
            task = asyncio.get_running_loop().create_task(notifier.send("job.finished", doc))
            sending.add(task)  # held until it is done, then let go
            task.add_done_callback(sending.discard)

        manager.on_run_end.append(notify)

    async def opened(_app: web.Application) -> None:
        await manager.open()
        lag.start()

    async def closed(_app: web.Application) -> None:
        await lag.stop()
        await manager.close()
        if notifier is not None and sending:
            # The last jobs' notifications: a few seconds to go out, then the server leaves.
            await asyncio.wait(sending, timeout=10)

    app.on_startup.append(opened)
    app.on_shutdown.append(closed)
    return app


@describe(
    "The server itself, for a monitor: its version, its loop's lag, its jobs and uploads",
    responses={
        200: ("The server's state", {"type": "object", "required": ["status", "version", "loop_lag"]})
    },
)
async def _health(request: web.Request) -> web.Response:
    """The server's own state for a monitor: its version, how late its loop runs, what it holds."""
    _admins_only(request)
    manager = request.app[MANAGER]
    doc = {
        "status": "closing" if manager.closing else "ok",
        "version": __version__,
        "loop_lag": request.app[LOOP_LAG].view(),
        **manager.load(),
    }
    return web.json_response(doc)


@describe(
    "The server's figures in the Prometheus text format (the token, unless --metrics-public)",
    responses={200: ("The metrics", {"type": "string"}, "text/plain")},
)
async def _metrics(request: web.Request) -> web.Response:
    _admins_only(request)
    app = request.app
    body = metrics_text(app[MANAGER], app[LOOP_LAG], app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _admins_only(request: web.Request) -> None:
    """The whole server's figures: for the operator and admins, not every user of --users."""
    if not user_of(request).admin:
        raise web.HTTPForbidden(
            text='{"error": "the server\'s own figures are for its admins"}', content_type="application/json"
        )


@describe("Liveness: the process answers", responses={200: ("Alive", {"type": "object"})}, token=False)
async def _alive(_request: web.Request) -> web.Response:
    """The process answers (a liveness probe: no token, no log line)."""
    return web.json_response({"status": "ok"})


@describe(
    "Readiness: not stopping, the data folder writable, the shared rate store answering",
    responses={
        200: ("Ready", {"type": "object"}),
        503: ("Not ready, and which check failed", {"type": "object"}),
    },
    token=False,
)
async def _ready(request: web.Request) -> web.Response:
    """Ready for uploads: not stopping, the data folder takes a new file (a full disk, a read-only
    mount or a removed folder answer 503), and the shared rate store of every account in use answers
    (the host's file, or Redis: without it jobs go on at their share of the cap, so not ready)."""
    manager = request.app[MANAGER]
    writable = await asyncio.to_thread(_writable, manager.root)
    stores_up = await _stores_answer(manager.settings.target.endpoint_identity)
    checks = {
        "serving": not manager.closing,
        "data_dir_writable": writable,
        "rate_store_reachable": stores_up,
    }
    ready = all(checks.values())
    doc = {"status": "ready" if ready else "not ready", "checks": checks}
    return web.json_response(doc, status=200 if ready else 503)


async def _stores_answer(mine: str) -> bool:
    """Whether the shared rate stores of this server's jobs answer now: Redis is asked (1.5 s at
    most); a host file that failed has the process keep the rate alone until it restarts."""
    answers = True
    for where, gate in shared_gates():
        if where != mine:
            continue
        probe = getattr(gate.store, "probe", None)
        if probe is not None:
            try:
                answers &= bool(await asyncio.wait_for(probe(), 1.5))
            except TimeoutError:
                answers = False
        else:
            answers &= not getattr(gate.store, "down", False)
    return answers


def _writable(folder: Path) -> bool:
    try:
        fd, name = tempfile.mkstemp(prefix=".ready.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        Path(name).unlink()
    return True


@describe("This description (OpenAPI 3.1)", responses={200: ("The document", {"type": "object"})})
async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app))
