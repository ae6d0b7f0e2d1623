"""The checkpoint store as the event loop sees it: every call runs in one worker thread.

SQLite commits, and the output writer's lookups, block on the disk (a WAL checkpoint can stall a
commit for tens of milliseconds, a slow disk for longer). One dedicated thread keeps them off the
caller's loop and keeps them in order, so the store's connection is only ever used by one thread at
a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from batchverify.engine.store import Store

_P = ParamSpec("_P")
_T = TypeVar("_T")


class AsyncStore:
    """Runs a ``Store``'s methods (and any function of it) in the store's own thread."""

    def __init__(self, opener: Callable[[], Store]) -> None:
        self._opener = opener
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="bv-store")
        self._store: Store | None = None

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

    async def close(self) -> None:
        """Close the store (in its thread) and stop the thread."""
        try:
            if self._store is not None:
                await self.run(self._store.close)
        finally:
            self._store = None
            self._pool.shutdown(wait=False)
