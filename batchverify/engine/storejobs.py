"""The checkpoint store's job bookkeeping: which job a run belongs to, how each run ended, and the
statuses a finished job leaves for the next one to compare with. The answers are ``store.py``'s."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from batchverify.engine.sqlitebase import transaction
from batchverify.engine.storetypes import JobInfo


class JobBook:
    """Mixed into ``Checkpoint``: its connection, its transaction, and the job and run it is in."""

    _con: Any
    job_id: int
    run_id: int

    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        return transaction(self._con)

    def open_job(self, *, now: str, restart: bool, expire_before: str | None = None) -> JobInfo:
        """Resume the open job, or start a new one: always with ``restart``, and when the open job
        started before ``expire_before`` (older than ``--max-age``: its answers are too old to show)."""
        con = self._con
        row = con.execute(
            "SELECT id, started_at FROM jobs WHERE closed_at IS NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        expired = None
        with self._transaction():
            if row is not None and (restart or (expire_before is not None and str(row[1]) < expire_before)):
                state = "abandoned" if restart else "expired"
                con.execute("UPDATE jobs SET closed_at=?, last_state=? WHERE id=?", (now, state, row[0]))
                expired = None if restart else int(row[0])
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
            run_id = con.execute(
                "INSERT INTO runs (job_id, started_at) VALUES (?, ?)", (job_id, now)
            ).lastrowid
            assert run_id is not None
        self.job_id, self.run_id = job_id, run_id
        return JobInfo(job_id, resumed, started_at, orphans, run_id, expired)

    def peek_job(self) -> tuple[int, str] | None:
        """The open job a run would resume and when it started, without changing anything."""
        row = self._con.execute(
            "SELECT id, started_at FROM jobs WHERE closed_at IS NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def end_run(
        self,
        *,
        state: str,
        now: str,
        close_job: bool,
        numbers: Iterable[int] = (),
        requests: int = 0,
        billable: int = 0,
    ) -> None:
        """Record how the run ended; ``close_job`` when the job is done (every row final, or the
        rest given up). A closed job keeps the status of each of ``numbers`` (the list's distinct
        numbers), so the next job can say what changed; only the two latest are kept."""
        con = self._con
        with self._transaction():
            con.execute(
                "UPDATE jobs SET last_state=?, closed_at=? WHERE id=?",
                (state, now if close_job else None, self.job_id),
            )
            con.execute(
                "UPDATE runs SET ended_at=?, state=?, requests=?, billable=? WHERE id=?",
                (now, state, requests, billable, self.run_id),
            )
            if close_job:
                # One join over a temporary table: a million numbers in IN-lists of 500 took seconds.
                con.execute("CREATE TEMP TABLE IF NOT EXISTS closing (number INTEGER PRIMARY KEY)")
                con.execute("DELETE FROM temp.closing")
                con.executemany("INSERT OR IGNORE INTO temp.closing VALUES (?)", ((n,) for n in numbers))
                con.execute(
                    "INSERT OR REPLACE INTO job_status SELECT ?, a.number, a.status "
                    "FROM temp.closing AS c JOIN answers AS a ON a.number = c.number",
                    (self.job_id,),
                )
                con.execute("DELETE FROM temp.closing")
                con.execute(
                    "DELETE FROM job_status WHERE job_id NOT IN "
                    "(SELECT DISTINCT job_id FROM job_status ORDER BY job_id DESC LIMIT 2)"
                )

    def previous_job(self, job_id: int) -> int | None:
        """The latest finished job before ``job_id`` whose statuses were kept."""
        row = self._con.execute("SELECT MAX(job_id) FROM job_status WHERE job_id < ?", (job_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def statuses(self, job_id: int, numbers: Iterable[int]) -> dict[int, str]:
        """The status each of ``numbers`` had when job ``job_id`` finished."""
        found: dict[int, str] = {}
        batch = list(dict.fromkeys(numbers))
        for start in range(0, len(batch), 500):
            chunk = batch[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._con.execute(
                f"SELECT number, status FROM job_status WHERE job_id=? AND number IN ({marks})",
                [job_id, *chunk],
            )
            found.update((int(n), str(st)) for n, st in rows)
        return found

    def job_totals(self, job_id: int) -> tuple[int, int, int]:
        """(runs, requests, billable answers) of the runs of ``job_id`` that have ended."""
        row = self._con.execute(
            "SELECT COUNT(*), COALESCE(SUM(requests), 0), COALESCE(SUM(billable), 0) FROM runs "
            "WHERE job_id=? AND ended_at IS NOT NULL",
            (job_id,),
        ).fetchone()
        return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
