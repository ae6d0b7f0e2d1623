"""Checkpoint stores seeded directly, so §4 can write or resume a 1,000,000-row job without sending it.

The store is what ``batchverify run`` itself would have left after a run that was stopped with the
job still open: one final answer per number, the job not closed. A run on it then resumes that job.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.store import Checkpoint, checkpoint_path

_CHECKED_AT = "2026-11-26T22:00:00Z"


def _rows(job_id: int, numbers: Iterable[int]) -> Iterator[tuple[object, ...]]:
    for number in numbers:
        yield (number, job_id, "normal", 0, "0", 1, "Success", str(uuid.uuid4()), _CHECKED_AT, "", 1)


def remove_store(path: Path) -> None:
    """The store file and its WAL, shared-memory and lock files."""
    for suffix in ("", "-wal", "-shm", ".lock"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def seed_store(path: Path, numbers: Iterable[int]) -> int:
    """A fresh store at ``path`` whose open job has a final answer for every one of ``numbers``."""
    remove_store(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Checkpoint.open(path, lock=False) as store:
        info = store.open_job(now=utc_now_iso(), restart=False)
        con = store._con
        con.execute("BEGIN IMMEDIATE")
        con.executemany(
            "INSERT OR REPLACE INTO answers (number, job_id, status, status_code, result_code, billable, "
            "description, request_id, checked_at, error, final) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            _rows(info.job_id, numbers),
        )
        con.execute("COMMIT")
        count = int(con.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
        store.end_run(state="interrupted", now=utc_now_iso(), close_job=False)
    return count


def install_store(template: Path, output: Path) -> Path:
    """Copy ``template`` to where ``batchverify run`` looks for the store of ``output``."""
    target = checkpoint_path(output)
    remove_store(target)
    shutil.copyfile(template, target)
    return target
