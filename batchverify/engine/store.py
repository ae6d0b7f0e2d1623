"""The checkpoint store: every answer made durable the moment it arrives (SQLite, WAL).

The store lives beside the output as ``<output>.checkpoint.sqlite``. It holds one row per distinct
number with the latest answer, the *job* that produced it, and the numbers in flight. A job is one
logical pass over a list: a run that ends with rows still not final (interrupted, killed, stopped by
the daily quota) leaves its job open, and the next run of the same output resumes it; a run that
ends with every row final closes the job, and the next run starts a new one.

WAL with ``synchronous=NORMAL``: a committed answer survives a crash or ``kill -9``; a power cut may
lose the last few, which are then asked again (at-least-once). An answer is committed before the
sender goes on with it, so the window of re-asked numbers is the calls in flight. The store is used
from one worker thread (``AsyncStore``), which commits the writes that queued while it was busy
together (each its own savepoint).
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from batchverify.core.timeutil import fresh_until
from batchverify.engine.sqlitebase import (
    PAGE_CACHE,
    Guarded,
    busy,
    create_whole,
    lock_held,
    release_lock,
    take_lock,
)
from batchverify.engine.storejobs import JobBook
from batchverify.engine.storeschema import (
    ANSWER_COLUMNS,
    MIGRATE_FROM_1,
    QUALIFIED_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    AnswerValues,
    answer_values,
)
from batchverify.engine.storetypes import (
    GIVE_UP_AFTER,
    Attempt,
    JobInfo,
    Store,
    StoredAnswer,
    check_endpoint,
    row_result,
)
from batchverify.errors import CheckpointError
from batchverify.models import RowResult

__all__ = [
    "GIVE_UP_AFTER",
    "Checkpoint",
    "JobInfo",
    "Store",
    "StoredAnswer",
    "check_endpoint",
    "checkpoint_path",
]


def checkpoint_path(output: Path) -> Path:
    """Where the store for ``output`` lives."""
    return output.with_name(output.name + ".checkpoint.sqlite")


class Checkpoint(JobBook):
    """The durable store of one output. Use ``Checkpoint.open`` and close it (or use ``with``)."""

    def __init__(self, path: Path, con: sqlite3.Connection, lock_fd: int | None) -> None:
        self.path = path
        self._con: Any = Guarded(path, con)
        self._lock_fd = lock_fd
        self.job_id = 0
        self.run_id = 0

    @classmethod
    def memory(cls) -> Checkpoint:
        """A store that lives only as long as this object (a DataFrame run without a checkpoint)."""
        con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        con.executescript(SCHEMA)
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
        lock_fd = take_lock(path) if lock else None
        try:
            if create:
                create_whole(path, SCHEMA + f"INSERT INTO meta VALUES ('schema', '{SCHEMA_VERSION}');")
            con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(PAGE_CACHE)
            con.execute("PRAGMA busy_timeout=5000")
            row = (
                con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
                and con.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            )
            if create and row and row[0] == "1":
                con.executescript(MIGRATE_FROM_1)
            if create:
                con.executescript(SCHEMA)
            row = con.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None and not create:
                raise sqlite3.DatabaseError("no batchverify schema")
            if row is None:
                con.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] == "1" and not create:
                pass  # a first-release store, read as it is; the next run migrates it
            elif row[0] != SCHEMA_VERSION:
                raise CheckpointError(f"{path} was written by another batchverify version (schema {row[0]})")
        except sqlite3.DatabaseError as exc:
            release_lock(lock_fd)
            if lock_fd is None and lock_held(path):
                raise busy(path) from None  # a run is at work on it: never "move it away"
            raise CheckpointError(f"{path} is not a usable checkpoint store ({exc}); move it away") from None
        except BaseException:
            release_lock(lock_fd)
            raise
        return cls(path, con, lock_fd)

    def close(self) -> None:
        """Close the database and release the run lock."""
        with contextlib.suppress(sqlite3.Error):
            self._con.close()
        release_lock(self._lock_fd)
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

    def answer_count(self) -> int:
        """How many numbers have a stored answer."""
        return int(self._con.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def get_meta(self, key: str) -> str | None:
        row = self._con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

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
        """Store ``result`` as the current answer for ``number`` and clear its in-flight mark.

        A result that is not final counts one more run of this job in which the number got no
        final answer (once per run, however many calls the run made for it)."""
        con = self._con
        with self._transaction():
            tries = 0
            if not result.status.is_final and self._keep_final(number, result):
                return  # the final answer stays; the failed recheck is noted beside it
            if not result.status.is_final:
                tries = self._tries("answers", number)
            con.execute(
                f"INSERT OR REPLACE INTO answers ({ANSWER_COLUMNS}, tried_run) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    number,
                    self.job_id,
                    *answer_values(result),
                    result.error,
                    int(result.status.is_final),
                    tries,
                    self.run_id or None,
                ),
            )
            con.execute("DELETE FROM inflight WHERE number=?", (number,))
            if result.status.is_final:
                con.execute("DELETE FROM attempts WHERE number=?", (number,))

    def _tries(self, table: str, number: int) -> int:
        """Runs of this job in which ``number`` got no final answer, this one included (counted once
        per run, however many calls the run made)."""
        row = self._con.execute(
            f"SELECT job_id, tries, tried_run FROM {table} WHERE number=?", (number,)
        ).fetchone()
        same_job = row is not None and int(row[0]) == self.job_id
        tries = int(row[1]) if row is not None and same_job else 0
        return tries if row is not None and same_job and row[2] == self.run_id else tries + 1

    def _keep_final(self, number: int, result: RowResult) -> bool:
        """A final answer is never replaced by a result that is not: the failed recheck is noted
        beside it (with its runs, as a job counts them). True when the answer was kept."""
        con = self._con
        row = con.execute("SELECT final FROM answers WHERE number=?", (number,)).fetchone()
        if row is None or not row[0]:
            return False
        tries = self._tries("attempts", number)
        con.execute(
            "INSERT OR REPLACE INTO attempts VALUES (?,?,?,?,?,?,?)",
            (
                number,
                self.job_id,
                result.checked_at,
                result.status.value,
                result.error,
                tries,
                self.run_id or None,
            ),
        )
        con.execute("DELETE FROM inflight WHERE number=?", (number,))
        return True

    def finals(self, job_id: int | None, reuse_since: str | None, until: str = "~") -> Iterator[int]:
        """Numbers whose stored final answer a run may use: from ``job_id``, or checked between
        ``reuse_since`` and ``until`` (ISO UTC, so text order is time order; a stamp past ``until``
        came from a clock that was ahead)."""
        sql = "SELECT number FROM answers WHERE final=1 AND (job_id=? OR (checked_at>=? AND checked_at<=?))"
        params = (-1 if job_id is None else job_id, reuse_since or "~", until)
        for (number,) in self._con.stream(sql, params):
            yield int(number)

    def final_answers(self, after_run: int | None = None) -> Iterator[AnswerValues]:
        """The final answers the API gave this checkpoint's jobs (not those taken from the answer
        store), one at a time, as their columns (``AnswerValues``); with ``after_run``, only those
        later runs recorded. Every job's: a job closed while the answer store was busy still has
        answers to give it."""
        sql = (
            "SELECT number, status, status_code, result_code, billable, description, request_id, "
            "checked_at FROM answers WHERE final=1 AND job_id<>0"
        )
        if after_run is None:
            yield from self._con.stream(sql)
        else:
            yield from self._con.stream(sql + " AND tried_run > ?", (after_run,))

    def identity(self) -> str:
        """This checkpoint's own random name, made when first asked (an answer store notes up to
        which run the answers of the checkpoint of that name reached it)."""
        name = self.get_meta("id")
        if name is None:
            name = secrets.token_hex(16)
            self._con.execute("INSERT OR IGNORE INTO meta VALUES ('id', ?)", (name,))
            name = self.get_meta("id") or name
        return name

    def adopt(self, number: int, result: RowResult) -> None:
        """Keep ``result``, a final answer from the answer store, as no job's own (it is shown as
        reused), unless this checkpoint holds a newer answer for ``number``."""
        with self._transaction():
            self._con.execute(
                f"INSERT INTO answers ({ANSWER_COLUMNS}, tried_run) VALUES (?,0,?,?,?,?,?,?,?,?,1,0,NULL) "
                "ON CONFLICT(number) DO UPDATE SET job_id=0, status=excluded.status, "
                "status_code=excluded.status_code, result_code=excluded.result_code, "
                "billable=excluded.billable, description=excluded.description, "
                "request_id=excluded.request_id, checked_at=excluded.checked_at, error='', final=1, tries=0 "
                "WHERE excluded.checked_at > answers.checked_at OR answers.final=0 OR answers.checked_at > ?",
                (
                    number,
                    *answer_values(result),
                    "",
                    fresh_until(),  # an answer stamped in the future (a clock that was ahead) gives way
                ),
            )
            # A newer answer than the recheck that failed: that attempt no longer says anything.
            self._con.execute(
                "DELETE FROM attempts WHERE number=? AND at <= "
                "(SELECT checked_at FROM answers WHERE number=?)",
                (number, number),
            )

    def lookup(self, numbers: Iterable[int]) -> dict[int, StoredAnswer]:
        """The stored answers for ``numbers`` (those that have one)."""
        found: dict[int, StoredAnswer] = {}
        them = iter(numbers)
        # Most stores hold no failed recheck: then the join finds nothing, at a fifth of the cost.
        joined = self._con.execute("SELECT 1 FROM attempts LIMIT 1").fetchone() is not None
        attempts = (
            ", t.job_id, t.at, t.status, t.error, t.tries FROM answers AS a "
            "LEFT JOIN attempts AS t ON t.number = a.number"
            if joined
            else " FROM answers AS a"
        )
        # 500 at a time, never all of them in a list first: two million were 100 MB more.
        while chunk := list(dict.fromkeys(itertools.islice(them, 500))):
            marks = ",".join("?" * len(chunk))
            rows = self._con.execute(
                f"SELECT {QUALIFIED_COLUMNS}{attempts} WHERE a.number IN ({marks})", chunk
            )
            for row in rows:
                attempt = None
                if joined and row[12] is not None:
                    attempt = Attempt(int(row[12]), str(row[13]), str(row[14]), str(row[15]), int(row[16]))
                found[int(row[0])] = StoredAnswer(int(row[1]), row_result(row), int(row[11]), attempt)
        return found

    def batched(self) -> contextlib.AbstractContextManager[None]:
        """One commit for several writes (``AsyncStore.write``): each write inside is a savepoint."""
        return self._transaction()
