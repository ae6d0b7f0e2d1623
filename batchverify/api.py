"""The Python API for files: ``verify_file`` / ``averify_file``, and the ``Simulator`` to try them on.

``averify_file`` is the engine's plan and execute in one awaitable; ``verify_file`` runs it on a
loop of its own in a worker thread, so it also works where a loop is already running (Jupyter, an
aiohttp handler) and a KeyboardInterrupt stops the job cleanly (every answer so far is kept, and a
second call pays for none of them again).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import locale
import os
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from batchverify.core.classify import RetryPolicy
from batchverify.core.labels import default_language, resolve_language
from batchverify.core.timeutil import parse_duration
from batchverify.engine.events import EventSink, ignore
from batchverify.engine.job import Job, Target, plan
from batchverify.engine.plan import Plan, RunRequest, default_output
from batchverify.engine.sender import SendConfig
from batchverify.engine.summary import Summary
from batchverify.errors import UsageError
from batchverify.files.tables import Table
from batchverify.models import DEFAULT_ENDPOINT, SIMULATOR_IDENTITY
from batchverify.tencent.client import Endpoint
from batchverify.tencent.credentials import Credentials, load_credentials

__all__ = ["Simulator", "averify_file", "run_sync", "verify_file"]

_T = TypeVar("_T")


class Simulator:
    """The local MobileStatus simulator on a free port, in a thread; a context manager.

    ``with Simulator() as sim: verify_file("list.xlsx", endpoint=sim)``. ``url``, ``credentials``
    (its demo keys) and ``ledger()`` (what it would have billed). Options are those of
    ``batchverify.simulator.SimConfig`` (``rate_limit=20``, ``latency_ms=(0, 0)``, ``faults=0.0``,
    ``seed``, ``daily_quota``). Nothing is billed, nothing leaves the machine.
    """

    def __init__(self, **options: Any) -> None:
        from batchverify.simulator import SimConfig, SimulatorServer

        self.config = SimConfig(**options)
        self._server = SimulatorServer(self.config)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.config.secret_id, self.config.secret_key)

    def ledger(self) -> dict[str, Any]:
        """What the simulator received and billed (``GET /__ledger``)."""
        return self._server.ledger()

    def reset(self) -> None:
        """Forget what was billed."""
        self._server.reset()

    def start(self) -> Simulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class _Where:
    endpoint: Endpoint
    identity: str
    credentials: Credentials


def resolve_target(
    endpoint: str | Simulator | None,
    credentials: Credentials | None,
    *,
    rate: float,
    concurrency: int,
    timeout: float,
    rate_store: str | None = None,
) -> Target:
    """The ``Target`` for an API call's ``endpoint`` and ``credentials`` arguments.

    ``credentials=None``: a ``Simulator``'s demo keys, else the environment and then
    ``~/.tencentcloud/credentials`` (the official SDK's order).
    """
    if not 0.1 <= rate <= 1000:
        raise UsageError(f"rate {rate!r} is out of range (0.1 to 1000 per second)")
    if isinstance(endpoint, Simulator):
        where = _Where(Endpoint.parse(endpoint.url), SIMULATOR_IDENTITY, credentials or endpoint.credentials)
    else:
        parsed = Endpoint.parse(endpoint or DEFAULT_ENDPOINT)
        where = _Where(parsed, parsed.host, credentials or load_credentials())
    return Target(
        endpoint=where.endpoint,
        credentials=where.credentials,
        identity=where.identity,
        send=SendConfig(rate=rate, concurrency=concurrency, policy=RetryPolicy()),
        read_timeout=timeout,
        rate_store=rate_store,
    )


def max_age_of(value: datetime.timedelta | str | None) -> datetime.timedelta | None:
    """``--max-age`` as a timedelta: a timedelta, a duration text (``12h``, ``7d``) or None."""
    if value is None or isinstance(value, datetime.timedelta):
        return value
    return parse_duration(value)


class _Handle:
    """What the worker thread shares with the caller: the job, once there is one."""

    def __init__(self) -> None:
        self.job: Job | None = None
        self.stop_requested = False

    def stop(self) -> None:
        self.stop_requested = True
        if self.job is not None:
            self.job.stop()


def run_sync(make: Callable[[_Handle], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``make(handle)`` on a new loop in a worker thread and wait for it.

    A KeyboardInterrupt while waiting stops the job (``handle.stop()``), waits for it to write what
    it has, then is raised again; a second one leaves at once.
    """
    handle = _Handle()
    future: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def work() -> None:
        try:
            future.set_result(asyncio.run(make(handle)))
        except BaseException as exc:
            future.set_exception(exc)

    thread = threading.Thread(target=work, name="batchverify-job", daemon=True)
    thread.start()
    try:
        return _wait(future)
    except KeyboardInterrupt:
        handle.stop()
        _wait_done(future)  # the clean stop; a second Ctrl-C ends this wait
        raise


def _wait(future: concurrent.futures.Future[_T]) -> _T:
    # Short waits, not one long one: a SIGINT delivered to another thread only sets a flag that
    # the main thread checks between bytecodes, so a wait without end would never see it.
    while True:
        try:
            return future.result(timeout=0.2)
        except concurrent.futures.TimeoutError:
            continue


def _wait_done(future: concurrent.futures.Future[_T]) -> None:
    while not future.done():
        concurrent.futures.wait([future], timeout=0.2)


async def _verify_file(
    handle: _Handle | None,
    request: RunRequest,
    target: Target,
    events: EventSink,
    table: Table | None = None,
) -> Summary:
    made: Plan = await plan(request, endpoint_identity=target.endpoint_identity, table=table, events=events)
    job = Job(made, target, events=events)
    if handle is not None:
        handle.job = job  # first, so a stop asked from now on reaches the job
        if handle.stop_requested:
            job.stop()
    summary = await job.run()
    if summary.fatal is not None:
        summary.fatal.summary = summary
        raise summary.fatal
    return summary


def _request(
    input: str | Path,
    output: str | Path | None,
    *,
    column: str | None,
    sheet: str | None,
    max_age: datetime.timedelta | str | None,
    restart: bool,
    encoding: str | None,
    output_encoding: str | None,
    checkpoint: str | Path | None,
    overwrite: bool = False,
    header_row: int | None = None,
    language: str | None = None,
    summary_sheet: bool = True,
    problems: str | Path | None = None,
    changes: str | Path | None = None,
    max_billable: int | None = None,
    price: float | None = None,
) -> RunRequest:
    source = Path(input)
    return RunRequest(
        input=source,
        output=Path(output) if output is not None else default_output(source),
        column=column,
        sheet=sheet,
        encoding=encoding,
        output_encoding=output_encoding,
        max_age=max_age_of(max_age),
        restart=restart,
        checkpoint=Path(checkpoint) if checkpoint is not None else None,
        overwrite=overwrite,
        header_row=header_row,
        language=language_of(language),
        summary_sheet=summary_sheet,
        problems=Path(problems) if problems is not None else None,
        changes=Path(changes) if changes is not None else None,
        max_billable=max_billable,
        price=price,
    )


def language_of(value: str | None) -> str:
    """``zh-CN`` or ``en``: as asked, else the locale's (``batchverify.core.labels.default_language``)."""
    if value is None:
        return default_language(os.environ, locale.getlocale()[0] or "")
    try:
        return resolve_language(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


async def averify_file(
    input: str | Path,
    output: str | Path | None = None,
    *,
    column: str | None = None,
    sheet: str | None = None,
    endpoint: str | Simulator | None = None,
    credentials: Credentials | None = None,
    rate: float = 20.0,
    max_age: datetime.timedelta | str | None = None,
    restart: bool = False,
    concurrency: int = 50,
    timeout: float = 30.0,  # noqa: ASYNC109 - each request's read timeout, not the call's
    encoding: str | None = None,
    output_encoding: str | None = None,
    checkpoint: str | Path | None = None,
    overwrite: bool = False,
    header_row: int | None = None,
    language: str | None = None,
    summary_sheet: bool = True,
    problems: str | Path | None = None,
    changes: str | Path | None = None,
    max_billable: int | None = None,
    price: float | None = None,
    rate_store: str | None = None,
    events: EventSink = ignore,
) -> Summary:
    """Verify the numbers in ``input`` and write the annotated copy: what ``batchverify run`` does.

    ``output`` defaults to ``<stem>.verified.<ext>``; the checkpoint (``<output>.checkpoint.sqlite``
    unless ``checkpoint`` says otherwise) makes it resumable: called again after an interruption it
    resumes and pays for nothing twice. ``endpoint`` is a URL, a ``Simulator``, or None for
    Tencent's endpoint. ``events`` receives the engine's events (progress). Every job in the process
    on the same account and endpoint shares one rate gate.

    Returns the ``Summary`` (``outcome`` "complete", "incomplete" or "interrupted"). Raises the
    exceptions of ``batchverify.errors``: ``InputError``, ``OutputError``, ``UsageError``,
    ``CredentialError``, ``CheckpointError``, ``BusyError`` before anything is sent;
    ``FatalApiError`` (with ``.summary``) when the API refused the job, after writing what it had.
    ``header_row`` fixes the header's row (0: none; default: detected); ``language`` (``zh-CN`` or
    ``en``, default: the locale's) sets the labels, actions, summary sheet and API descriptions;
    ``summary_sheet=False`` leaves the summary sheet out of a workbook; ``problems`` also writes only
    the rows that need action to that file (CSV or XLSX by its extension); ``changes`` the rows whose
    status changed since the previous finished job; ``max_billable``, ``price`` and ``rate_store`` are
    ``--max-billable``, ``--price`` and ``--rate-store``.
    """
    request = _request(
        input,
        output,
        column=column,
        sheet=sheet,
        max_age=max_age,
        restart=restart,
        encoding=encoding,
        output_encoding=output_encoding,
        checkpoint=checkpoint,
        overwrite=overwrite,
        header_row=header_row,
        language=language,
        summary_sheet=summary_sheet,
        problems=problems,
        changes=changes,
        max_billable=max_billable,
        price=price,
    )
    target = resolve_target(
        endpoint, credentials, rate=rate, concurrency=concurrency, timeout=timeout, rate_store=rate_store
    )
    return await _verify_file(None, request, target, events)


def verify_file(
    input: str | Path,
    output: str | Path | None = None,
    *,
    column: str | None = None,
    sheet: str | None = None,
    endpoint: str | Simulator | None = None,
    credentials: Credentials | None = None,
    rate: float = 20.0,
    max_age: datetime.timedelta | str | None = None,
    restart: bool = False,
    concurrency: int = 50,
    timeout: float = 30.0,
    encoding: str | None = None,
    output_encoding: str | None = None,
    checkpoint: str | Path | None = None,
    overwrite: bool = False,
    header_row: int | None = None,
    language: str | None = None,
    summary_sheet: bool = True,
    problems: str | Path | None = None,
    changes: str | Path | None = None,
    max_billable: int | None = None,
    price: float | None = None,
    rate_store: str | None = None,
    events: EventSink = ignore,
) -> Summary:
    """``averify_file`` for synchronous code; works inside a running event loop too.

    A KeyboardInterrupt stops the job cleanly (answers so far are kept and written) and is raised
    again.
    """
    request = _request(
        input,
        output,
        column=column,
        sheet=sheet,
        max_age=max_age,
        restart=restart,
        encoding=encoding,
        output_encoding=output_encoding,
        checkpoint=checkpoint,
        overwrite=overwrite,
        header_row=header_row,
        language=language,
        summary_sheet=summary_sheet,
        problems=problems,
        changes=changes,
        max_billable=max_billable,
        price=price,
    )
    target = resolve_target(
        endpoint, credentials, rate=rate, concurrency=concurrency, timeout=timeout, rate_store=rate_store
    )
    return run_sync(lambda handle: _verify_file(handle, request, target, events))
