"""The checkpoint store: every answer made durable the moment it arrives (SQLite, WAL).

The store lives beside the output as ``<output>.checkpoint.sqlite``. It holds one row per distinct
number with the latest answer, the *job* that produced it, and the numbers in flight. A job is one
logical pass over a list: a run that ends with rows still not final (interrupted, killed, stopped by
the daily quota) leaves its job open, and the next run of the same output resumes it; a run that
ends with every row final closes the job, and the next run starts a new one.

WAL with ``synchronous=NORMAL``: a committed answer survives a crash or ``kill -9``; a power cut may
lose the last few, which are then asked again (at-least-once). One commit per answer keeps the
window of re-asked numbers to the calls in flight. The store is used from the event loop thread
only; at 20 answers a second a commit costs tens of microseconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from batchverify.errors import BusyError, CheckpointError
from batchverify.models import RowResult, Status

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    closed_at TEXT,
    runs INTEGER NOT NULL DEFAULT 0,
    last_state TEXT NOT NULL DEFAULT 'running'
);
CREATE TABLE IF NOT EXISTS answers (
    number INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_code INTEGER,
    result_code TEXT,
    billable INTEGER NOT NULL,
    description TEXT NOT NULL,
    request_id TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    error TEXT NOT NULL,
    final INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inflight (
    number INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, sent_at TEXT NOT NULL
);
"""


def checkpoint_path(output: Path) -> Path:
    """Where the store for ``output`` lives."""
    return output.with_name(output.name + ".checkpoint.sqlite")


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """An answer as stored, with the job that produced it."""

    job_id: int
    result: RowResult

    @property
    def final(self) -> bool:
        return self.result.status.is_final


@dataclass(frozen=True, slots=True)
class JobInfo:
    """The job a run works on."""

    job_id: int
    resumed: bool
    started_at: str
    orphaned_inflight: int  # calls sent by a run that died before their answer arrived


class Store(Protocol):
    """What the engine needs from a checkpoint store. ``Checkpoint`` (SQLite) is the one in use.

    Every method is synchronous and may block on disk: the engine calls them from one worker
    thread (``AsyncStore``), never from its event loop.
    """

    def bind_endpoint(self, identity: str) -> None: ...
    def bound_endpoint(self) -> str | None: ...
    def open_job(self, *, now: str, restart: bool) -> JobInfo: ...
    def peek_job(self) -> tuple[int, str] | None: ...
    def end_run(self, *, state: str, now: str, close_job: bool) -> None: ...
    def mark_inflight(self, number: int, now: str) -> None: ...
    def clear_inflight(self, number: int) -> None: ...
    def record(self, number: int, result: RowResult) -> None: ...
    def finals(self, job_id: int | None, reuse_since: str | None) -> Iterator[int]: ...
    def lookup(self, numbers: Iterable[int]) -> dict[int, StoredAnswer]: ...
    def answer_count(self) -> int: ...
    def close(self) -> None: ...


def _storage_error(path: Path, exc: sqlite3.DatabaseError) -> CheckpointError:
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


class _Guarded:
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
            raise _storage_error(self._path, exc) from None

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


class Checkpoint:
    """The durable store of one output. Use ``Checkpoint.open`` and close it (or use ``with``)."""

    def __init__(self, path: Path, con: sqlite3.Connection, lock_fd: int | None) -> None:
        self.path = path
        self._con: Any = _Guarded(path, con)
        self._lock_fd = lock_fd
        self.job_id = 0

    @classmethod
    def memory(cls) -> Checkpoint:
        """A store that lives only as long as this object (a DataFrame run without a checkpoint)."""
        con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        con.executescript(_SCHEMA)
        con.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        return cls(Path(":memory:"), con, None)

    @classmethod
    def open(cls, path: Path, *, lock: bool = True, create: bool = True) -> Checkpoint:
        """Open (creating if needed) the store and, with ``lock``, take the output's run lock.

        Raises BusyError when another run holds the lock, CheckpointError when the file is not
        a usable store.
        """
        if not create and not path.exists():
            raise CheckpointError(f"no checkpoint store at {path}")
        lock_fd = _take_lock(path) if lock else None
        try:
            con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=5000")
            if create:
                con.executescript(_SCHEMA)
            row = con.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None and not create:
                raise sqlite3.DatabaseError("no batchverify schema")
            if row is None:
                con.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise CheckpointError(f"{path} was written by another batchverify version (schema {row[0]})")
        except sqlite3.DatabaseError as exc:
            _release_lock(lock_fd)
            raise CheckpointError(f"{path} is not a usable checkpoint store ({exc}); move it away") from None
        except BaseException:
            _release_lock(lock_fd)
            raise
        return cls(path, con, lock_fd)

    def close(self) -> None:
        """Close the database and release the run lock."""
        with contextlib.suppress(sqlite3.Error):
            self._con.close()
        _release_lock(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bound_endpoint(self) -> str | None:
        """The endpoint this store is tied to, if any."""
        row = self._con.execute("SELECT value FROM meta WHERE key='endpoint'").fetchone()
        return None if row is None else str(row[0])

    def bind_endpoint(self, identity: str) -> None:
        """Tie the store to one API endpoint, so answers of a simulator never fill a real run.

        Raises CheckpointError when the store already holds answers from another endpoint.
        """
        bound = self.bound_endpoint()
        if bound is None:
            self._con.execute("INSERT INTO meta VALUES ('endpoint', ?)", (identity,))
        else:
            check_endpoint(self.path, bound, identity)

    # --- jobs ----------------------------------------------------------------------------------

    def open_job(self, *, now: str, restart: bool) -> JobInfo:
        """Resume the open job, or start a new one (always with ``restart``)."""
        con = self._con
        row = con.execute(
            "SELECT id, started_at FROM jobs WHERE closed_at IS NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        with self._transaction():
            if row is not None and restart:
                con.execute("UPDATE jobs SET closed_at=?, last_state='abandoned' WHERE id=?", (now, row[0]))
                row = None
            if row is None:
                job_id = con.execute("INSERT INTO jobs (started_at) VALUES (?)", (now,)).lastrowid
                assert job_id is not None
                started_at, resumed = now, False
            else:
                job_id, started_at, resumed = int(row[0]), str(row[1]), True
            orphans = con.execute("SELECT COUNT(*) FROM inflight").fetchone()[0]
            con.execute("DELETE FROM inflight")
            con.execute("UPDATE jobs SET runs=runs+1, last_state='running' WHERE id=?", (job_id,))
        self.job_id = job_id
        return JobInfo(job_id=job_id, resumed=resumed, started_at=started_at, orphaned_inflight=orphans)

    def peek_job(self) -> tuple[int, str] | None:
        """The open job a run would resume and when it started, without changing anything."""
        row = self._con.execute(
            "SELECT id, started_at FROM jobs WHERE closed_at IS NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def answer_count(self) -> int:
        """How many numbers have a stored answer."""
        return int(self._con.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def end_run(self, *, state: str, now: str, close_job: bool) -> None:
        """Record how the run ended; ``close_job`` when every row has a final answer."""
        with self._transaction():
            self._con.execute(
                "UPDATE jobs SET last_state=?, closed_at=? WHERE id=?",
                (state, now if close_job else None, self.job_id),
            )

    # --- answers -------------------------------------------------------------------------------

    def mark_inflight(self, number: int, now: str) -> None:
        """Record that a call for ``number`` is about to be sent (before it is sent)."""
        try:
            self._con.execute("INSERT OR REPLACE INTO inflight VALUES (?, ?, ?)", (number, self.job_id, now))
        except sqlite3.Error as exc:
            raise CheckpointError(f"cannot write checkpoint {self.path}: {exc}") from None

    def clear_inflight(self, number: int) -> None:
        """The call for ``number`` came back certainly unbilled (throttled, busy, refused...)."""
        try:
            self._con.execute("DELETE FROM inflight WHERE number=?", (number,))
        except sqlite3.Error as exc:
            raise CheckpointError(f"cannot write checkpoint {self.path}: {exc}") from None

    def record(self, number: int, result: RowResult) -> None:
        """Store ``result`` as the current answer for ``number`` and clear its in-flight mark."""
        with self._transaction():
            self._con.execute(
                "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    number,
                    self.job_id,
                    result.status.value,
                    result.status_code,
                    result.result_code,
                    int(result.billable),
                    result.description,
                    result.request_id,
                    result.checked_at,
                    result.error,
                    int(result.status.is_final),
                ),
            )
            self._con.execute("DELETE FROM inflight WHERE number=?", (number,))

    def finals(self, job_id: int | None, reuse_since: str | None) -> Iterator[int]:
        """Numbers whose stored final answer a run may use: from ``job_id``, or checked at or after
        ``reuse_since`` (ISO UTC, so text order is time order)."""
        sql = "SELECT number FROM answers WHERE final=1 AND (job_id=? OR checked_at>=?)"
        for (number,) in self._con.stream(sql, (-1 if job_id is None else job_id, reuse_since or "~")):
            yield int(number)

    def lookup(self, numbers: Iterable[int]) -> dict[int, StoredAnswer]:
        """The stored answers for ``numbers`` (those that have one)."""
        found: dict[int, StoredAnswer] = {}
        batch = list(dict.fromkeys(numbers))
        for start in range(0, len(batch), 500):
            chunk = batch[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._con.execute(f"SELECT * FROM answers WHERE number IN ({marks})", chunk)
            for row in rows:
                found[int(row[0])] = StoredAnswer(job_id=int(row[1]), result=_row_result(row))
        return found

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._con.execute("BEGIN IMMEDIATE")
            yield
            self._con.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back by itself (a full disk); a second ROLLBACK would then fail
            # and hide the real error.
            raw = self._con._con
            if raw.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    raw.execute("ROLLBACK")
            raise


def check_endpoint(path: Path, bound: str, identity: str) -> None:
    """Refuse to mix answers of two endpoints in one store."""
    if bound != identity:
        raise CheckpointError(
            f"{path.name} holds answers from {bound}, not {identity}; "
            "choose another -o, or delete that file to start from nothing"
        )


def _row_result(row: tuple[object, ...]) -> RowResult:
    _, _, status, status_code, result_code, billable, description, request_id, checked_at, error, _ = row
    return RowResult(
        status=Status(str(status)),
        status_code=None if status_code is None else int(str(status_code)),
        result_code=None if result_code is None else str(result_code),
        billable=bool(billable),
        description=str(description),
        request_id=str(request_id),
        checked_at=str(checked_at),
        error=str(error),
    )


def _take_lock(path: Path) -> int:
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


def _release_lock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
