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
