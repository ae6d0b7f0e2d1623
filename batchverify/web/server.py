"""``batchverify serve``: bind, print the login address once, serve until SIGINT or SIGTERM, then
stop the running jobs cleanly (they resume when the server starts again)."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from batchverify.build import connect, language_of
from batchverify.engine.options import Options
from batchverify.errors import UsageError
from batchverify.report.notify import notifier_from
from batchverify.web.app import AccessLog, create_app
from batchverify.web.auth import MIN_TOKEN
from batchverify.web.badhttp import json_parse_errors
from batchverify.web.clients import parse_proxies
from batchverify.web.guard import guard_connections
from batchverify.web.manager import ServeSettings
from batchverify.web.pages import AUTH
from batchverify.web.routes import MANAGER
from batchverify.web.users import Users

__all__ = ["ServeOptions", "default_data_dir", "serve"]

log = logging.getLogger("batchverify")
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    data_dir: Path
    job: Options  # every job's options; a job's upload sets its column, sheet and header row
    max_upload_mb: float
    keep: datetime.timedelta | None
    trusted_proxies: tuple[str, ...] = ()  # as given; checked here
    notify: str | None = None  # --notify URL (or BATCHVERIFY_NOTIFY); checked here
    metrics_public: bool = False
    users_file: Path | None = None  # --users FILE
    log_format: str = "text"  # the start lines' format (the log's is the command line's handler)


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/batchverify/serve`` (``~/.local/share/batchverify/serve``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "batchverify" / "serve"


def serve(opts: ServeOptions) -> int:
    """Run the server in the foreground; returns the exit code."""
    try:
        opts.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the data dir {opts.data_dir}: {exc.strerror or exc}") from None
    if not os.access(opts.data_dir, os.W_OK):
        raise UsageError(f"the data dir {opts.data_dir} is not writable")
    given = os.environ.get("BATCHVERIFY_TOKEN", "").strip()
    if given and (len(given) < MIN_TOKEN or len(set(given)) < 10 or "change" in given.lower()):
        raise UsageError(
            f"BATCHVERIFY_TOKEN is too short or too plain: use at least {MIN_TOKEN} random characters "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))' makes one)"
        )
    token = given or secrets.token_urlsafe(32)
    # Plans, CSV writes and checkpoint commits run in threads beside the loop that paces every
    # job's sends; a thread holding the GIL for the default 5 ms would push a paced send late,
    # bunching it with the next ones at the API. 0.5 ms keeps that jitter inside the gate's margin.
    sys.setswitchinterval(0.0005)
    try:
        proxies = parse_proxies(opts.trusted_proxies)
    except ValueError as exc:
        raise UsageError(f"--trusted-proxy takes IP addresses: {exc}") from None
    notifier = notifier_from(opts.notify)
    if opts.users_file is not None:
        users = Users.load(opts.users_file)  # refused now, with the line, not at the first login
        log.info("users file %s: %d users, each seeing their own jobs", opts.users_file, len(users))
    with connect(opts.job) as target:
        settings = ServeSettings(
            data_dir=opts.data_dir.resolve(),
            target=target,
            token=token,
            max_upload=int(opts.max_upload_mb * 1024 * 1024),
            keep=opts.keep,
            options=opts.job,
            language=language_of(opts.job),
            trusted_proxies=proxies,
            notifier=notifier,
            metrics_public=opts.metrics_public,
            users_file=opts.users_file.resolve() if opts.users_file is not None else None,
        )
        asyncio.run(_serve(opts, settings, generated=not given))
    return 0


async def _serve(opts: ServeOptions, settings: ServeSettings, *, generated: bool) -> None:
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        access_log_class=AccessLog,
        access_log=log,
        handle_signals=False,
        shutdown_timeout=5,
        keepalive_timeout=15,  # an idle keep-alive connection is not kept for aiohttp's hour
    )
    await runner.setup()  # opens the data dir: a second server on it stops here
    assert runner.server is not None
    guard_connections(runner.server, trusted=settings.trusted_proxies)
    json_parse_errors(runner.server)
    try:
        site = web.TCPSite(runner, opts.host, opts.port)
        try:
            await site.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {opts.host}:{opts.port}: {exc.strerror or exc}") from None
        port = _bound_port(runner, opts.port)
        app[MANAGER].resume()
        shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(opts.host, opts.host)
        shown = f"[{shown}]" if ":" in shown else shown
        base = f"http://{shown}:{port}"
        if opts.host not in _LOCAL_HOSTS:
            log.warning(
                "listening on %s, not only on this machine: anyone who reaches it with the token can "
                "spend the account; put it behind HTTPS",
                opts.host,
            )
        log.info("jobs are kept in %s", settings.data_dir)
        # Before the server says it is up: a reload sent the moment it said so ended it.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        # A closed terminal, or `systemctl reload`, must not stop the jobs: the server reads its
        # options once, and its log is stderr (the service manager's), so there is nothing to reload.
        loop.add_signal_handler(
            signal.SIGHUP, log.info, "SIGHUP: nothing to reload; the server goes on (SIGTERM stops it)"
        )
        # A one-time link (the token never travels in an address), and a generated token shown
        # once, only here, on the terminal that started the server.
        code = app[AUTH].codes.new()
        json_lines = opts.log_format == "json"
        _tell(f"batchverify serve: open {base}/login?code={code} (works once, within 10 minutes)", json_lines)
        how = f"the token: {settings.token}" if generated else "the token: BATCHVERIFY_TOKEN"
        _tell(f"batchverify serve: later logins and the API use {how}", json_lines)
        await stop.wait()
        log.info("stopping: running jobs stop cleanly and resume at the next start")
    finally:
        await runner.cleanup()


def _tell(line: str, as_json: bool = False) -> None:
    """A line for the person who started the server (never through the log: the log is kept);
    off a terminal with the prefix every line there has, or a JSON object with ``--log-format json``."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if as_json:
        line = json.dumps({"time": stamp, "level": "INFO", "message": line}, ensure_ascii=False)
    elif not sys.stderr.isatty():
        line = f"{stamp} INFO {line}"
    print(line, file=sys.stderr, flush=True)


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return asked
