"""SQLite plumbing of the checkpoint store: a connection whose every failure is one
``CheckpointError`` naming the file, and the output's run lock (flock, released by the kernel when
the process dies, so a kill -9 never leaves a stale lock)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from batchverify.errors import BusyError, CheckpointError

__all__ = [
    "Guarded",
    "busy",
    "create_whole",
    "holds_store",
    "lock_held",
    "release_lock",
    "storage_error",
    "take_lock",
]


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


# 32 MB of pages (the default is 2 MB): a million-row write looks up answers all over the store,
# and each page missed is a read from the kernel.
PAGE_CACHE = "PRAGMA cache_size=-32768"


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

    def executemany(self, sql: str, rows: Iterable[tuple[object, ...]]) -> Any:
        try:
            return self._con.executemany(sql, rows)
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
    """The run lock of the store at ``path`` (its ``.lock`` file), or ``BusyError``.

    The lock guards only while its path names the locked file: one replaced between our open and
    our flock is opened again, so two runs never hold locks on two different files of one name."""
    lock_path = path.with_name(path.name + ".lock")
    for _ in range(5):
        fd = _open_lock(lock_path)
        try:
            # flock is released by the kernel when the process dies: a kill -9 leaves no stale lock.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise busy(path) from None
        try:
            same = lock_path.stat(follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if same:
            return fd
        os.close(fd)
    raise busy(path)


def busy(path: Path) -> BusyError:
    """Another run holds the lock of the store at ``path``."""
    output = path.name.removesuffix(".checkpoint.sqlite")
    return BusyError(f"another batchverify run is working on {output} (lock {path.name}.lock)")


def _open_lock(lock_path: Path) -> int:
    try:
        # Never through a link planted at the lock's name; private like the checkpoint.
        return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise CheckpointError(f"cannot create {lock_path}: {exc.strerror}") from None


def lock_held(path: Path) -> bool:
    """Whether a run holds the lock of the store at ``path`` now (without taking it)."""
    try:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def release_lock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def create_whole(path: Path, script: str) -> None:
    """Create the database at ``path`` (its schema from ``script``) if there is none, all at once.

    It is built at a private temporary name and linked to ``path`` only when complete, readable by
    its owner only: a run killed or out of disk while creating leaves no half-made store that would
    block the next run, and a run reading beside it never sees one. Call it holding the store's lock
    (temporary files left by a killed run are then stale, and removed)."""
    prefix = f".{path.name}."  # compared as text: a name may hold glob characters ("a**b.csv")
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if entry.name.startswith(prefix) and ".new" in entry.name[len(prefix) :]:
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()
    with contextlib.suppress(OSError):
        if path.stat(follow_symlinks=False).st_size == 0:
            path.unlink()  # an empty file holds no answers: one an earlier release left half-made
    if path.exists() or path.is_symlink():
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.executescript(script)
        finally:
            con.close()
        os.link(tmp, path)  # never replaces: only a complete store ever has the store's name
    except FileExistsError:
        pass
    except (OSError, sqlite3.Error) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckpointError(f"cannot create {path}: {why}") from None
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            with contextlib.suppress(OSError):
                leftover.unlink()


def holds_store(path: Path | None) -> bool:
    """Whether ``path`` holds a store to read: not absent, and not the empty file a run killed
    while creating one (by an earlier release) left behind."""
    if path is None:
        return False
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


@contextlib.contextmanager
def transaction(con: Guarded) -> Iterator[None]:
    """One transaction on ``con``; inside another (a batch of writes), a savepoint of it, so a
    write that fails undoes only itself and the batch decides what commits."""
    raw: sqlite3.Connection = con._con
    nested = raw.in_transaction
    try:
        con.execute("SAVEPOINT write" if nested else "BEGIN IMMEDIATE")
        yield
        con.execute("RELEASE write" if nested else "COMMIT")
    except BaseException:
        # SQLite may have rolled back by itself (a full disk); a second ROLLBACK would then fail
        # and hide the real error.
        if raw.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                raw.execute("ROLLBACK TO write" if nested else "ROLLBACK")
                if nested:
                    raw.execute("RELEASE write")
        raise
