"""A local MobileStatus endpoint faithful enough that Tencent's official SDK works against it unchanged.

The checks and answers are :mod:`batchverify.simulator.engine`, the billing ledger
:mod:`batchverify.simulator.ledger`; this module is the HTTP side: the aiohttp app (``/``, and unsigned
``GET /__ledger`` / ``POST /__reset``), an in-process :class:`SimulatorServer`, and the foreground
:func:`serve_forever` behind ``batchverify simulate`` and ``python -m batchverify.simulator``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import json
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from types import TracebackType

from aiohttp import web

from batchverify.errors import UsageError
from batchverify.simulator.engine import (
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    FAULT_KINDS,
    ApiError,
    DropAnswer,
    Engine,
    GatewayAnswer,
    SimConfig,
    unflatten,
)
from batchverify.tencent.credentials import mask

__all__ = [
    "DEFAULT_PORT",
    "DEMO_SECRET_ID",
    "DEMO_SECRET_KEY",
    "FAULT_KINDS",
    "SimConfig",
    "SimulatorServer",
    "banner",
    "main",
    "make_app",
    "parse_latency",
    "serve_forever",
    "unflatten",
]

DEFAULT_PORT = 8080
_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}

log = logging.getLogger("batchverify.simulator")

_SIM_KEY = web.AppKey("simulator", Engine)


def _json(obj: object, status: int = 200) -> web.Response:
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # Exactly "application/json": the SDK ignores Error bodies under any other Content-Type.
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


async def _api(request: web.Request) -> web.StreamResponse:
    sim = request.app[_SIM_KEY]
    sim.ledger.arrival(time.monotonic())
    body = await request.read()
    try:
        answer, extra = sim.answer(request, body)
    except Exception as exc:
        # Every request gets Tencent's JSON error, whatever it holds; never aiohttp's text/plain 500.
        error = exc if isinstance(exc, ApiError) else ApiError("InternalError", "An internal error occurred.")
        if not isinstance(exc, ApiError):
            log.exception("simulator: unexpected error answering a request")
        sim.ledger.error(error.code)
        answer, extra = (
            {"Error": {"Code": error.code, "Message": error.message}, "RequestId": str(uuid.uuid4())},
            0.0,
        )
    delay = sim.latency() + extra
    if delay:
        await asyncio.sleep(delay)
    if isinstance(answer, DropAnswer):
        sim.ledger.drop(answer.billed_number)
        if request.transport is not None:
            request.transport.close()
        return web.Response()  # never written: aiohttp ignores the closed transport
    if isinstance(answer, GatewayAnswer):
        sim.ledger.gateway(answer.status)
        page = f"<html><body><h1>{answer.status} {_REASONS.get(answer.status, 'Error')}</h1></body></html>"
        return web.Response(status=answer.status, body=page.encode(), headers={"Content-Type": "text/html"})
    reply = _json({"Response": answer})
    # The server's own clock, as a real endpoint's Date header tells it (the tests move it).
    reply.headers["Date"] = email.utils.formatdate(sim.cfg.clock(), usegmt=True)
    return reply


async def _ledger(request: web.Request) -> web.Response:
    return _json(request.app[_SIM_KEY].ledger.snapshot())


async def _reset(request: web.Request) -> web.Response:
    request.app[_SIM_KEY].reset()
    return _json({"reset": True})


def make_app(cfg: SimConfig) -> web.Application:
    """The simulator as an aiohttp application (``/``, ``GET /__ledger``, ``POST /__reset``)."""
    app = web.Application()
    app[_SIM_KEY] = Engine(cfg)
    app.router.add_route("*", "/", _api)
    app.router.add_get("/__ledger", _ledger)
    app.router.add_post("/__reset", _reset)
    return app


def _runner(app: web.Application) -> web.AppRunner:
    return web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)


class SimulatorServer:
    """The simulator on a background thread with its own event loop; a context manager.

    ``with SimulatorServer(cfg) as sim: ... sim.url ... sim.ledger()``. Port 0 picks a free port.
    """

    def __init__(self, cfg: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cfg = cfg if cfg is not None else SimConfig()
        self.host, self.port = host, port
        self._app = make_app(self.cfg)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorServer:
        """Start serving; returns once the socket listens (raises if it cannot)."""
        self._thread = threading.Thread(target=self._run, name="batchverify-simulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        runner = _runner(self._app)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, self.host, self.port).start())
            self.port = int(runner.addresses[0][1])
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.run_until_complete(runner.cleanup())
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def ledger(self) -> dict[str, object]:
        """A snapshot of the billing ledger (the ``GET /__ledger`` object)."""
        return self._app[_SIM_KEY].ledger.snapshot()

    def reset(self) -> None:
        """Clear the ledger and the per-number attempt counters (like ``POST /__reset``)."""
        self._app[_SIM_KEY].reset()

    def stop(self) -> None:
        """Stop serving and join the thread; safe to call twice."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def banner(cfg: SimConfig, url: str) -> str:
    """The one line printed when the simulator listens (the secret id masked, the key never)."""
    limit = f"{cfg.rate_limit}/s" if cfg.rate_limit else "off"
    night = f", night {cfg.night}" if cfg.night else ""
    who = f"secret id {mask(cfg.secret_id)}"
    return f"batchverify simulator listening on {url} ({who}, rate limit {limit}{night})"


async def _serve(cfg: SimConfig, host: str, port: int) -> None:
    runner = _runner(make_app(cfg))
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise UsageError(f"the simulator cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
                loop.add_signal_handler(sig, stop.set)
        print(banner(cfg, f"http://{host}:{runner.addresses[0][1]}"), flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def serve_forever(cfg: SimConfig, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Serve in the foreground until SIGINT/SIGTERM, then return normally.

    Prints :func:`banner` once listening; UsageError if the address cannot be bound.
    """
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(cfg, host, port))


def parse_latency(text: str) -> tuple[int, int]:
    """``"50"``, ``"50-200"`` or ``"50,200"`` (milliseconds) as (min, max)."""
    low, _, high = text.replace(",", "-").partition("-")
    try:
        pair = (int(low), int(high or low))
    except ValueError:
        pair = (-1, -1)
    if not 0 <= pair[0] <= pair[1]:
        raise UsageError(f"latency must look like 50 or 50-200 (ms), not {text[:20]!r}")
    return pair


def _latency_arg(text: str) -> tuple[int, int]:
    try:
        return parse_latency(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m batchverify.simulator``: the simulator in the foreground."""
    ap = argparse.ArgumentParser(prog="python -m batchverify.simulator", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    ap.add_argument("--rate-limit", type=int, default=20, help="requests/s per secret id; 0 = off")
    ap.add_argument(
        "--latency",
        "--latency-ms",
        dest="latency",
        type=_latency_arg,
        default=(0, 0),
        help="MIN,MAX ms per reply",
    )
    ap.add_argument("--faults", type=float, default=0.0, help="probability of an injected fault")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--daily-quota", type=int, default=None)
    ap.add_argument("--night", type=int, default=0, help="the nightly rehearsal's night (0: none)")
    args = ap.parse_args(argv)
    try:
        cfg = SimConfig.from_env(
            rate_limit=args.rate_limit,
            latency_ms=args.latency,
            faults=args.faults,
            seed=args.seed,
            daily_quota=args.daily_quota,
            night=args.night,
        )
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    serve_forever(cfg, args.host, args.port)
    return 0
