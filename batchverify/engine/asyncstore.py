"""The checkpoint store as the event loop sees it: every call runs in one worker thread.

SQLite commits, and the output writer's lookups, block on the disk (a WAL checkpoint can stall a
commit for tens of milliseconds, a slow disk for longer). One dedicated thread keeps them off the
caller's loop and keeps them in order, so the store's connection is only ever used by one thread at
a time.

The sender's per-number writes (an in-flight mark, an answer) go through ``write``: the writes that
queue while the thread is busy are committed together, in one transaction with a savepoint each, and
each caller resumes once its write is committed. A handoff to the thread and a commit per write cost
more than the rest of a row's work together at a thousand rows a second; batched, a burst of writes
pays for one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from batchverify.engine.store import Store

_P = ParamSpec("_P")
_T = TypeVar("_T")

_Write = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class AsyncStore:
    """Runs a ``Store``'s methods (and any function of it) in the store's own thread."""

    def __init__(self, opener: Callable[[], Store]) -> None:
        self._opener = opener
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="bv-store")
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._queued: list[_Write] = []
        self._flush_due = False

    async def open(self) -> Store:
        """Open the store in its thread; returns it (only to hand to ``run``)."""
        self._store = await self.run(self._opener)
        return self._store

    @property
    def store(self) -> Store:
        assert self._store is not None, "AsyncStore.open() first"
        return self._store

    async def run(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``fn(*args, **kwargs)`` in the store's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def write(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)``, a write of the store, committed with whatever else queued meanwhile;
        returns (or raises) once it is committed (or failed)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[_T] = loop.create_future()
        with self._lock:
            self._queued.append((fn, args, done))
            start = not self._flush_due
            self._flush_due = True
        if start:
            self._pool.submit(self._flush, loop)
        return await done

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            batch, self._queued = self._queued, []
            self._flush_due = False
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.store.batched():
                for fn, args, _ in batch:
                    outcomes.append((True, fn(*args)))
        except Exception:
            # The batch rolled back: each write again on its own, so each gets its own result or
            # error, as it would have alone.
            outcomes = [self._alone(fn, args) for fn, args, _ in batch]
        try:
            loop.call_soon_threadsafe(_settle, [done for _, _, done in batch], outcomes)
        except RuntimeError:
            pass  # the loop is closed: nobody waits any more

    def _alone(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
        try:
            with self.store.batched():
                return True, fn(*args)
        except Exception as exc:
            return False, exc

    async def close(self) -> None:
        """Close the store (in its thread) and stop the thread."""
        try:
            if self._store is not None:
                await self.run(self._store.close)
        finally:
            self._store = None
            self._pool.shutdown(wait=False)


def _settle(waiting: list[asyncio.Future[Any]], outcomes: list[tuple[bool, Any]]) -> None:
    for done, (ok, value) in zip(waiting, outcomes, strict=True):
        if done.done():
            continue  # its caller was cancelled; the write happened all the same
        if ok:
            done.set_result(value)
        else:
            done.set_exception(value)
