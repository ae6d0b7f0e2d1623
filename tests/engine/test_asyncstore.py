"""The store's thread: writes that queue together commit together, each answered for itself."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from batchverify.engine.asyncstore import AsyncStore
from batchverify.engine.store import Checkpoint, checkpoint_path
from batchverify.errors import CheckpointError
from batchverify.models import RowResult, Status

T0 = "2026-12-07T10:00:00Z"


def _answer(status: Status) -> RowResult:
    return RowResult(
        status=status, status_code=0, result_code="0", billable=True, request_id="r", checked_at=T0
    )


def _committed(path: Path, table: str) -> set[int]:
    """What another connection sees: only committed rows."""
    con = sqlite3.connect(path)
    try:
        return {int(row[0]) for row in con.execute(f"SELECT number FROM {table}")}
    finally:
        con.close()


def test_each_write_is_committed_when_its_caller_resumes(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path / "out.csv")

    async def main() -> list[int]:
        store = AsyncStore(lambda: Checkpoint.open(path))
        await store.open()
        await store.run(store.store.open_job, now=T0, restart=False)
        seen_when_resumed: list[int] = []

        async def mark(number: int) -> None:
            await store.write(store.store.mark_inflight, number, T0)
            # Nothing may be sent for a number before its mark is on disk.
            seen_when_resumed.append(int(number in _committed(path, "inflight")))

        await asyncio.gather(*(mark(13800000000 + i) for i in range(200)))
        await store.write(store.store.record, 13800000000, _answer(Status.NORMAL))
        assert 13800000000 in _committed(path, "answers")
        assert 13800000000 not in _committed(path, "inflight")
        await store.close()
        return seen_when_resumed

    seen = asyncio.run(main())
    assert seen == [1] * 200


def test_a_failing_write_fails_alone_and_the_others_of_its_batch_commit(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path / "out.csv")

    def refuse(number: int) -> None:
        raise CheckpointError(f"cannot write {number}")

    async def main() -> list[object]:
        store = AsyncStore(lambda: Checkpoint.open(path))
        await store.open()
        await store.run(store.store.open_job, now=T0, restart=False)
        # The thread held busy while the writes queue, so all 21 are one batch.
        release = threading.Event()
        held = asyncio.ensure_future(store.run(release.wait))
        writes = [store.write(store.store.mark_inflight, 13800000000 + i, T0) for i in range(20)]
        writes.insert(10, store.write(refuse, 1))
        queued = [asyncio.ensure_future(w) for w in writes]
        await asyncio.sleep(0.05)
        assert len(store._queued) == 21
        release.set()
        await held
        outcomes = await asyncio.gather(*queued, return_exceptions=True)
        await store.close()
        return outcomes

    outcomes = asyncio.run(main())
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 1 and "cannot write 1" in str(failed[0])
    assert _committed(path, "inflight") == {13800000000 + i for i in range(20)}


def test_a_cancelled_writer_does_not_lose_the_write_or_break_the_others(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path / "out.csv")

    async def main() -> None:
        store = AsyncStore(lambda: Checkpoint.open(path))
        await store.open()
        await store.run(store.store.open_job, now=T0, restart=False)
        gone = asyncio.create_task(store.write(store.store.mark_inflight, 13800000001, T0))
        kept = asyncio.create_task(store.write(store.store.mark_inflight, 13800000002, T0))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        await kept
        await store.run(lambda: None)  # after the batch
        await store.close()

    asyncio.run(main())
    assert _committed(path, "inflight") == {13800000001, 13800000002}
