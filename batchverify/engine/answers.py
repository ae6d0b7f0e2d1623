"""The answer store: every final answer any front end was paid for, shared by every job and list, so
``max_age`` can reuse it across lists, jobs, the command line, the upload server and notebooks.

It holds no phone number in the clear: a number is kept as HMAC-SHA256 under a random key of the
store's own (created with the store, readable by its owner only), bound to the endpoint it was
asked at, so the simulator's answers never stand in for Tencent's. SQLite in WAL mode with a busy
timeout: several processes may read and write it at once. Answers older than the retention limit
are removed whenever a run writes to it, and ``batchverify answers forget`` removes them on demand.
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from batchverify.core.timeutil import fresh_until
from batchverify.engine.sqlitebase import PAGE_CACHE
from batchverify.engine.storeschema import AnswerValues, answer_values
from batchverify.errors import CheckpointError
from batchverify.models import RowResult, Status

__all__ = ["AnswerStore", "StoreStats", "default_answers_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    key BLOB PRIMARY KEY,
    endpoint TEXT NOT NULL,
    status TEXT NOT NULL,
    status_code INTEGER,
    result_code TEXT,
    billable INTEGER NOT NULL,
    description TEXT NOT NULL,
    request_id TEXT NOT NULL,
    checked_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS answers_checked ON answers (checked_at);
"""


_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS incoming (key BLOB, endpoint TEXT, status TEXT, status_code INTEGER, "
    "result_code TEXT, billable INTEGER, description TEXT, request_id TEXT, checked_at TEXT)"
)
# In key order, so that slices of rowids are slices of the key index.
_SORT = "CREATE TEMP TABLE sorted AS SELECT * FROM temp.incoming ORDER BY key"
# A newer answer replaces an older one, never the reverse; any answer replaces one stamped in the
# future (which no reader takes as fresh). (An upsert after a SELECT needs a WHERE.)
_UPSERT = (
    "INSERT INTO answers SELECT * FROM temp.sorted WHERE rowid BETWEEN ? AND ? "
    "ON CONFLICT(key) DO UPDATE SET "
    "status=excluded.status, status_code=excluded.status_code, result_code=excluded.result_code, "
    "billable=excluded.billable, description=excluded.description, "
    "request_id=excluded.request_id, checked_at=excluded.checked_at "
    "WHERE excluded.checked_at > answers.checked_at OR answers.checked_at > ?"
)
_INSERT_STAGED = "INSERT INTO temp.incoming VALUES (?,?,?,?,?,?,?,?,?)"
_SLICE = 100_000  # answers a write transaction: others wait for one slice at most, never a whole job
_FINAL = frozenset(status.value for status in Status if status.is_final)
_KIND = "batchverify answers 1"  # what makes a file an answer store (and its schema's version)


def _create_private(path: Path) -> bool:
    """Create the store's file (0600, in a 0700 folder when batchverify makes the folder); True when
    it is new (or empty: a create that was cut off)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)  # the umask may have loosened it
    elif path.parent == default_answers_path().parent and path.parent.stat().st_uid == os.getuid():
        path.parent.chmod(0o700)  # batchverify's own folder (serve may have made it first)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        return True
    except FileExistsError:
        return path.stat().st_size == 0


def _key(path: Path, create: bool) -> bytes:
    """The store's HMAC key, kept in a file of its own beside it (0600): the store alone, copied or
    sent somewhere, cannot be tested against candidate numbers without it. A store whose key is
    gone reuses nothing; a new key is made for what is written next."""
    key_path = path.with_name(path.name + ".key")
    try:
        return bytes.fromhex(key_path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        if not create:
            return secrets.token_bytes(32)  # matches nothing stored: nothing is reused
    key = secrets.token_hex(32)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key + "\n")
    return bytes.fromhex(key)


def default_answers_path() -> Path:
    """``$XDG_DATA_HOME/batchverify/answers.sqlite`` (``~/.local/share/batchverify/answers.sqlite``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "batchverify" / "answers.sqlite"


@dataclass(frozen=True)
class StoreStats:
    path: Path
    answers: int
    oldest: str | None
    newest: str | None
    by_status: dict[str, int]
    by_endpoint: dict[str, int]


class AnswerStore:
    """One answer store file. Open with ``AnswerStore.open(path)``; close it (or use ``with``)."""

    def __init__(self, path: Path, con: sqlite3.Connection, key: bytes) -> None:
        self.path = path
        self._con = con
        self._key = key

    @classmethod
    def open(cls, path: Path, *, create: bool = True, wait: float = 10.0) -> AnswerStore:
        """Open the store at ``path``; with ``create``, make it (and its folder and key) when missing.

        Without ``create`` nothing is written: a reader never waits on a writer's schema change.
        ``wait``: how long to wait for another process's write. A file that is not an answer store
        (a checkpoint, anything else) is refused, never changed.
        """
        if not create and not path.exists():
            raise CheckpointError("no answer store at {path}", code="no_answer_store", path=str(path))
        try:
            if create:
                fresh = _create_private(path)
            con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=wait)
            if create and fresh:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
                con.execute("INSERT OR IGNORE INTO meta VALUES ('kind', ?)", (_KIND,))
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(PAGE_CACHE)
            row = con.execute("SELECT value FROM meta WHERE key='kind'").fetchone()
            if row is None or row[0] != _KIND:
                con.close()
                raise sqlite3.DatabaseError("it is not a batchverify answer store")
            return cls(path, con, _key(path, create))
        except (sqlite3.DatabaseError, OSError, ValueError) as exc:
            raise CheckpointError(
                "the answer store {path} cannot be used ({why}); name another with {o[answers]}, or none",
                code="answer_store",
                option="answers",
                path=str(path),
                why=str(exc),
            ) from None

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> AnswerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identity(self) -> str:
        """This store's own name: a random id kept in it, made when first asked, with a fingerprint
        of its key. A checkpoint notes up to which run its answers reached the store of that name;
        a store made again, or whose key was lost (its answers then match nothing), is another."""
        row = self._select_meta("id")
        if row is None:
            with self._transaction():
                self._con.execute("INSERT OR IGNORE INTO meta VALUES ('id', ?)", (secrets.token_hex(16),))
            row = self._select_meta("id")
        fingerprint = hmac.digest(self._key, b"batchverify answer store", "sha256")[:8].hex()
        return f"{row}.{fingerprint}"

    def shared_through(self, mark: str) -> int | None:
        """The run up to which the checkpoint ``mark`` names put its answers here (None: unknown)."""
        value = self._select_meta("from:" + mark)
        return int(value) if value is not None and value.isdigit() else None

    def _select_meta(self, key: str) -> str | None:
        with self._reading():
            row = self._con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _hash(self, endpoint: str, number: int) -> bytes:
        # The one-shot digest is OpenSSL's own: hmac.new built a Python object for each number
        # (4.5 µs a number, 4 s of a million answers shared).
        return hmac.digest(self._key, f"{endpoint}\0{number}".encode(), "sha256")

    def fresh(self, endpoint: str, numbers: Iterable[int], since: str, until: str) -> dict[int, RowResult]:
        """The final answers for ``numbers`` at ``endpoint`` checked between ``since`` and ``until``
        (ISO UTC texts): an answer stamped after ``until`` (a clock that was ahead) is never fresh."""
        found: dict[int, RowResult] = {}
        them = iter(numbers)
        try:
            # A chunk's keys at a time: two million numbers' keys at once held 280 MB.
            while chunk_numbers := list(itertools.islice(them, 500)):
                wanted = {self._hash(endpoint, n): n for n in chunk_numbers}
                chunk = list(wanted)
                marks = ",".join("?" * len(chunk))
                rows = self._con.execute(
                    "SELECT key, status, status_code, result_code, billable, description, request_id, "
                    f"checked_at FROM answers WHERE key IN ({marks}) AND checked_at >= ? AND checked_at <= ?",
                    (*chunk, since, until),
                )
                for key, status, code, result, billable, description, request_id, checked in rows:
                    found[wanted[key]] = RowResult(
                        status=Status(status),
                        status_code=code,
                        result_code=result,
                        billable=bool(billable),
                        description=description,
                        request_id=request_id,
                        checked_at=checked,
                    )
        except sqlite3.DatabaseError:
            return {}  # a shared store that cannot be read only means nothing is reused
        return found

    def put(self, endpoint: str, answers: Iterable[tuple[int, RowResult]]) -> int:
        """Keep the final ``answers``: a newer answer replaces an older one, never the reverse, and any
        answer replaces one stamped in the future (which no reader takes as fresh)."""
        return self.put_values(
            endpoint, ((n, *answer_values(r)) for n, r in answers if r.status.is_final and r.checked_at)
        )

    def put_values(
        self, endpoint: str, answers: Iterable[AnswerValues], mark: tuple[str, int] | None = None
    ) -> int:
        """``put`` for final answers as the checkpoint holds them (``Checkpoint.final_answers``): no
        object made for each of a million answers on their way from one store to the other. With
        ``mark`` (a checkpoint's name, a run), note with the last of them that they came up to that run."""
        hash_ = self._hash
        rows = (
            (hash_(endpoint, number), endpoint, *values)
            for number, *values in answers
            if values[0] in _FINAL and values[-1]  # final, and stamped: no reader takes others
        )
        con = self._con
        with self._reading("write"):
            # Staged in a temporary table (appended; spilled to a temporary file when large), then
            # upserted in key order a slice at a time: upserts in the answers' own order jumped
            # about the key index (14 s for 880,000 answers into a new store).
            try:
                con.execute(_STAGE)
                con.execute("BEGIN")  # only the temporary tables: no lock on the store
                con.execute("DELETE FROM temp.incoming")
                staged = max(con.executemany(_INSERT_STAGED, rows).rowcount, 0)
                con.execute("DROP TABLE IF EXISTS temp.sorted")
                con.execute(_SORT)
                con.execute("DELETE FROM temp.incoming")
                con.execute("COMMIT")
                until = fresh_until()
                for first in range(1, staged + 1, _SLICE):
                    with self._transaction():
                        con.execute(_UPSERT, (first, first + _SLICE - 1, until))
                        if mark is not None and first + _SLICE > staged:
                            con.execute(
                                "INSERT OR REPLACE INTO meta VALUES (?, ?)", ("from:" + mark[0], str(mark[1]))
                            )
            finally:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                con.execute("DROP TABLE IF EXISTS temp.sorted")
        return staged

    def forget(self, before: str | None = None) -> int:
        """Remove the answers checked before ``before`` (every answer when None); returns how many."""
        with self._transaction():
            if before is None:
                cursor = self._con.execute("DELETE FROM answers")
            else:
                cursor = self._con.execute("DELETE FROM answers WHERE checked_at < ?", (before,))
        return int(cursor.rowcount)

    def forget_numbers(self, numbers: Iterable[int]) -> int:
        """Remove every answer about ``numbers``, at every endpoint; returns how many."""
        with self._reading():
            endpoints = [str(e) for (e,) in self._con.execute("SELECT DISTINCT endpoint FROM answers")]
        keys = [(self._hash(e, n),) for n in numbers for e in endpoints]
        removed = 0
        with self._transaction():
            for key in keys:
                removed += int(self._con.execute("DELETE FROM answers WHERE key=?", key).rowcount)
        return removed

    def stats(self) -> StoreStats:
        with self._reading():
            count, oldest, newest = self._con.execute(
                "SELECT count(*), min(checked_at), max(checked_at) FROM answers"
            ).fetchone()
            by_status = self._con.execute(
                "SELECT status, count(*) FROM answers GROUP BY status ORDER BY 1"
            ).fetchall()
            by_endpoint = self._con.execute(
                "SELECT endpoint, count(*) FROM answers GROUP BY endpoint ORDER BY 1"
            ).fetchall()
        return StoreStats(
            self.path,
            int(count),
            oldest,
            newest,
            {str(k): int(v) for k, v in by_status},
            {str(k): int(v) for k, v in by_endpoint},
        )

    @contextlib.contextmanager
    def _reading(self, verb: str = "read") -> Iterator[None]:
        """Every SQLite failure as one ``CheckpointError`` naming the store."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise CheckpointError(
                "cannot {verb} the answer store {path}: {why}",
                code="answer_store",
                verb=verb,
                path=str(self.path),
                why=str(exc),
            ) from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._reading("write"):
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
