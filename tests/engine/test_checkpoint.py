"""The checkpoint store: durable answers, job resume, the run lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchverify.engine.store import Checkpoint, checkpoint_path
from batchverify.errors import BusyError, CheckpointError
from batchverify.models import RowResult, Status

T0 = "2026-11-26T10:00:00Z"
T1 = "2026-11-26T12:00:00Z"


def answer(status: Status, at: str = T0) -> RowResult:
    return RowResult(
        status=status, status_code=0, result_code="0", billable=True, request_id="rid", checked_at=at
    )


def test_reopen_remembers_answers(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path / "out.csv")
    assert path.name == "out.csv.checkpoint.sqlite"
    with Checkpoint.open(path) as store:
        job = store.open_job(now=T0, restart=False)
        assert not job.resumed
        store.record(13800000000, answer(Status.NORMAL))
        store.record(13800000001, answer(Status.BUSY))
    with Checkpoint.open(path) as store:
        job2 = store.open_job(now=T1, restart=False)
        assert job2.resumed and job2.job_id == job.job_id and job2.started_at == job.started_at
        assert set(store.finals(job2.job_id, None)) == {13800000000}
        got = store.lookup([13800000000, 13800000001, 13900000000])
        assert got[13800000000].result == answer(Status.NORMAL)
        assert got[13800000001].result.status is Status.BUSY
        assert 13900000000 not in got


def test_closed_job_starts_fresh_and_max_age_reuses(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Checkpoint.open(path) as store:
        first = store.open_job(now=T0, restart=False)
        store.record(13800000000, answer(Status.NORMAL, T0))
        store.end_run(state="complete", now=T0, close_job=True)
        second = store.open_job(now=T1, restart=False)
        assert second.job_id != first.job_id and not second.resumed
        assert list(store.finals(second.job_id, None)) == []
        assert list(store.finals(None, "2026-11-26T09:00:00Z")) == [13800000000]
        assert list(store.finals(None, "2026-11-26T11:00:00Z")) == []


def test_restart_abandons_the_open_job(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Checkpoint.open(path) as store:
        first = store.open_job(now=T0, restart=False)
        store.record(13800000000, answer(Status.NORMAL))
    with Checkpoint.open(path) as store:
        again = store.open_job(now=T1, restart=True)
        assert again.job_id != first.job_id and not again.resumed


def test_inflight_calls_of_a_dead_run_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Checkpoint.open(path) as store:
        store.open_job(now=T0, restart=False)
        store.mark_inflight(13800000000, T0)
        store.mark_inflight(13800000001, T0)
        store.record(13800000001, answer(Status.NORMAL))
    with Checkpoint.open(path) as store:
        assert store.open_job(now=T1, restart=False).orphaned_inflight == 1


def test_second_run_on_the_same_output_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx.checkpoint.sqlite"
    with Checkpoint.open(path), pytest.raises(BusyError, match=r"out\.xlsx"):
        Checkpoint.open(path)
    with Checkpoint.open(path):  # released on close
        pass


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(CheckpointError, match="not a usable checkpoint"):
        Checkpoint.open(path)
    # the lock is released after the failure
    path.unlink()
    Checkpoint.open(path).close()


def test_store_is_tied_to_one_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Checkpoint.open(path) as store:
        store.bind_endpoint("the built-in simulator")
        store.bind_endpoint("the built-in simulator")
    with (
        Checkpoint.open(path) as store,
        pytest.raises(CheckpointError, match="holds answers from the built-in"),
    ):
        store.bind_endpoint("faceid.intl.tencentcloudapi.com")


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE jobs (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, closed_at TEXT,
    runs INTEGER NOT NULL DEFAULT 0, last_state TEXT NOT NULL DEFAULT 'running');
CREATE TABLE answers (number INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, status TEXT NOT NULL,
    status_code INTEGER, result_code TEXT, billable INTEGER NOT NULL, description TEXT NOT NULL,
    request_id TEXT NOT NULL, checked_at TEXT NOT NULL, error TEXT NOT NULL, final INTEGER NOT NULL);
CREATE TABLE inflight (number INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, sent_at TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '1');
INSERT INTO jobs (id, started_at, runs) VALUES (1, '2026-11-26T10:00:00Z', 1);
INSERT INTO answers VALUES
    (13800000000, 1, 'normal', 0, '0', 1, 'Success', 'rid', '2026-11-26T10:00:00Z', '', 1);
"""


def test_a_first_release_store_is_read_as_it_is_and_migrated_by_the_next_run(tmp_path: Path) -> None:
    import sqlite3

    path = checkpoint_path(tmp_path / "out.csv")
    with sqlite3.connect(path) as con:
        con.executescript(V1_SCHEMA)
    with Checkpoint.open(path, lock=False, create=False) as store:  # the plan: reads, changes nothing
        assert store.peek_job() == (1, T0)
        assert list(store.finals(1, None)) == [13800000000]
    with Checkpoint.open(path) as store:  # a run: migrates, resumes the open job, keeps the answer
        job = store.open_job(now=T1, restart=False)
        assert job.resumed and job.job_id == 1 and job.run_id == 1
        assert store.lookup([13800000000])[13800000000].result.status is Status.NORMAL
        store.record(13800000001, answer(Status.BUSY))
        assert store.lookup([13800000001])[13800000001].tries == 1
        store.end_run(state="complete", now=T1, close_job=True, numbers=[13800000000, 13800000001])
        assert store.statuses(1, [13800000000, 13800000001]) == {13800000000: "normal", 13800000001: "busy"}
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("2",)


def test_a_number_without_a_final_answer_counts_runs_not_calls(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path / "out.csv")
    with Checkpoint.open(path) as store:
        for run in range(3):
            store.open_job(now=T0, restart=False)
            store.record(13900000003, answer(Status.BUSY))
            store.record(13900000003, answer(Status.BUSY))  # retried within the run: still one run
            found = store.lookup([13900000003])[13900000003]
            assert found.tries == run + 1 and found.given_up == (run == 2)
            store.end_run(state="incomplete", now=T0, close_job=False)
        store.record(13900000004, answer(Status.DAILY_LIMIT))
        assert not store.lookup([13900000004])[13900000004].given_up  # the quota says nothing of a number
