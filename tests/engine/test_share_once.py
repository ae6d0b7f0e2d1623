"""Each final answer reaches an answer store once, and none is left out: a run shares what was
recorded since the last share to that store (by any job of the checkpoint), and a store that lost
what it was given (made again, its key lost, restored from a backup) gets it again."""

from __future__ import annotations

import shutil
from pathlib import Path

from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.answers import AnswerStore
from batchverify.engine.events import AnswerRecorded, Event
from batchverify.engine.gate import StrictGate
from batchverify.engine.job import Job, plan
from tests.support.script import TARGET, Script, numbers, request

LIST = numbers(40)


async def _run(
    tmp_path: Path, script: Script, answers: Path, stop_at: int | None, phones: list[str] = LIST
) -> int:
    made = await plan(request(tmp_path, phones, answers=answers), endpoint_identity="scripted")
    job: Job

    def stop(event: Event) -> None:
        if stop_at is not None and isinstance(event, AnswerRecorded) and event.done == stop_at:
            job.stop()

    job = Job(made, TARGET, verifier=script, gate=StrictGate(400), events=stop)
    return (await job.run()).requests


def _found(path: Path, phones: list[str] = LIST) -> int:
    """How many of ``phones`` the store can give back (an answer under a lost key matches nothing)."""
    with AnswerStore.open(path) as store:
        return len(store.fresh("scripted", [int(p) for p in phones], "2000-01-01T00:00:00Z", utc_now_iso()))


async def test_a_run_shares_only_what_came_since_the_last_share(tmp_path: Path) -> None:
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    script = Script(delay=0.005)
    sent = await _run(tmp_path, script, first, 10)
    with AnswerStore.open(first) as store:
        assert store.stats().answers == sent
        assert store.forget_numbers([int(LIST[0])]) == 1
    sent += await _run(tmp_path, script, first, 10)
    with AnswerStore.open(first) as store:
        assert store.stats().answers == sent - 1, "the forgotten number was shared again"
    await _run(tmp_path, script, second, None)
    assert set(script.calls.values()) == {1} and len(script.calls) == 40
    assert _found(second) == 40  # another store gets every answer


async def test_a_store_whose_key_was_lost_gets_every_answer_again(tmp_path: Path) -> None:
    store = tmp_path / "a.sqlite"
    script = Script(delay=0.005)
    first = await _run(tmp_path, script, store, 10)
    assert _found(store) == first
    store.with_name("a.sqlite.key").unlink()  # what it holds now matches nothing
    await _run(tmp_path, script, store, None)
    assert _found(store) == 40


async def test_a_store_restored_from_a_backup_gets_what_came_after_it(tmp_path: Path) -> None:
    store, backup = tmp_path / "a.sqlite", tmp_path / "backup.sqlite"
    script = Script(delay=0.005)
    first = await _run(tmp_path, script, store, 10)
    shutil.copyfile(store, backup)
    second = first + await _run(tmp_path, script, store, 10)
    assert _found(store) == second > first
    shutil.copyfile(backup, store)
    for leftover in tmp_path.glob("a.sqlite-*"):  # its write-ahead log belonged to the newer file
        leftover.unlink()
    assert _found(store) == first
    await _run(tmp_path, script, store, None)
    assert _found(store) == 40


async def test_a_closed_jobs_answers_reach_a_store_that_could_not_take_them(tmp_path: Path) -> None:
    store = tmp_path / "a.sqlite"
    store.write_text("not an answer store")  # refused: the first job's answers stay in its checkpoint
    script = Script()
    assert await _run(tmp_path, script, store, None, LIST[:10]) == 10
    store.unlink()
    # The first job is finished; the next, over another list into the same output, is a new job.
    assert await _run(tmp_path, script, store, None, LIST[10:15]) == 5
    assert _found(store, LIST[:15]) == 15
