"""SQLite plumbing of the checkpoint store: a connection whose every failure is one
``CheckpointError`` naming the file, and the output's run lock (flock, released by the kernel when
the process dies, so a kill -9 never leaves a stale lock)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from batchverify.errors import BusyError, CheckpointError

__all__ = ["Guarded", "release_lock", "storage_error", "take_lock"]


def storage_error(path: Path, exc: sqlite3.DatabaseError) -> CheckpointError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("full" in text or "I/O" in text or "disk" in text):
        return CheckpointError(f"cannot write the checkpoint {path}: {text}")
    return CheckpointError(
        f"the checkpoint {path} cannot be read or written ({text}); if it is damaged, "
        "move it away (its answers will then be asked again)"
    )


class _Rows(list[tuple[Any, ...]]):
    """Fetched rows that answer like a cursor."""

    def fetchone(self) -> tuple[Any, ...] | None:
        return self[0] if self else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self)


class Guarded:
    """The store's connection, with every SQLite failure (a damaged page, a full disk, an I/O
    error) turned into one ``CheckpointError`` that names the file."""

    def __init__(self, path: Path, con: sqlite3.Connection) -> None:
        self._path = path
        self._con = con

    def execute(self, sql: str, params: Iterable[object] = ()) -> Any:
        try:
            cursor = self._con.execute(sql, tuple(params))
            # Reads are fetched here, so a damaged page fails inside this try, not in a caller's loop.
            if sql.lstrip().upper().startswith(("SELECT", "PRAGMA")):
                return _Rows(cursor.fetchall())
            return cursor
        except sqlite3.DatabaseError as exc:
            raise storage_error(self._path, exc) from None

    def stream(self, sql: str, params: Iterable[object] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows one by one (a million answers need not sit in memory at once)."""
        try:
            yield from self._con.execute(sql, tuple(params))
        except sqlite3.DatabaseError as exc:
            raise CheckpointError(
                f"the checkpoint {self._path} cannot be read ({exc}); if it is damaged, move it away "
                "(its answers will then be asked again)"
            ) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def take_lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CheckpointError(f"cannot create {lock_path}: {exc.strerror}") from None
    try:
        # flock is released by the kernel when the process dies, so a kill -9 never leaves a stale lock.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        output = path.name.removesuffix(".checkpoint.sqlite")
        raise BusyError(f"another batchverify run is working on {output} (lock {lock_path.name})") from None
    return fd


def release_lock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
