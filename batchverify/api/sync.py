"""Synchronous calls of the async API: the job runs on a loop of its own in a worker thread, so it
works where a loop is already running (Jupyter, an aiohttp handler), and a KeyboardInterrupt stops
the job cleanly (its answers so far are kept) before it is raised again."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from batchverify.engine.job import Job

__all__ = ["Handle", "run_sync"]

_T = TypeVar("_T")


class Handle:
    """What the worker thread shares with the caller: the job, once there is one."""

    def __init__(self) -> None:
        self.job: Job | None = None
        self.stop_requested = False

    def attach(self, job: Job) -> None:
        """The job to stop; a stop asked before it existed reaches it now."""
        self.job = job
        if self.stop_requested:
            job.stop()

    def stop(self) -> None:
        self.stop_requested = True
        if self.job is not None:
            self.job.stop()


def run_sync(make: Callable[[Handle], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``make(handle)`` on a new loop in a worker thread and wait for it.

    A KeyboardInterrupt while waiting stops the job (``handle.stop()``), waits for it to write what
    it has, then is raised again; a second one leaves at once.
    """
    handle = Handle()
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
