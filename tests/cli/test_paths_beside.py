"""The paths beside a job are checked, not trusted: nothing a run writes lands on a file of its own
job or of another (its lock, its checkpoint, the answer store), by any name; what it writes is
created whole and private; a checkpoint whose creation failed never blocks the next run."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from batchverify.engine.sqlitebase import take_lock
from batchverify.errors import BusyError, CheckpointError
from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import answers_in, cli_env, run_cli, start_cli
from tests.support.tables import spread_numbers, write_csv


def _list(tmp_path: Path, n: int, name: str = "list.csv") -> Path:
    src = tmp_path / name
    write_csv(src, [["name", "mobile"]] + [[f"n{i}", number] for i, number in enumerate(spread_numbers(n))])
    return src


@pytest.mark.timeout(300)
def test_a_summary_aimed_at_a_busy_runs_lock_is_refused_and_the_lock_keeps_guarding(tmp_path: Path) -> None:
    """A second run, rightly busy, used to write its error JSON over the first run's lock, and a third
    run then ran beside the first (numbers billed twice). Now the second is refused before writing
    anything, the lock is the same file, and a third run is still told the job is busy."""
    with SimulatorServer(SimConfig(rate_limit=20, latency_ms=(10, 30), seed=5)) as sim:
        env = cli_env(sim, tmp_path / "home")
        src = _list(tmp_path, 200)
        store = tmp_path / "list.verified.csv.checkpoint.sqlite"
        lock = store.with_name(store.name + ".lock")
        first = start_cli("run", src, "--yes", env=env)
        try:
            deadline = time.monotonic() + 60
            while answers_in(store) < 5:
                assert time.monotonic() < deadline and first.poll() is None
                time.sleep(0.1)
            inode = lock.stat().st_ino
            second = run_cli("run", src, "--yes", "--summary-json", lock, env=env)
            assert second.returncode == 2 and "lock" in second.stderr, second.stderr
            assert len(second.stderr.strip().splitlines()) == 1
            assert lock.stat().st_ino == inode and lock.read_bytes() == b""
            # A hard link to the lock under another name is the lock too.
            os.link(lock, tmp_path / "report.json")
            linked = run_cli("run", src, "--yes", "--summary-json", tmp_path / "report.json", env=env)
            assert linked.returncode == 2 and "would overwrite" in linked.stderr, linked.stderr
            third = run_cli("run", src, "--yes", env=env)
            assert third.returncode == 2 and "another batchverify run is working" in third.stderr
        finally:
            _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
        ledger = sim.ledger()
    assert ledger["requests"] == 200 and set(ledger["billed_by_number"].values()) == {1}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("option", "target"),
    [
        ("--summary-json", "other.verified.csv.checkpoint.sqlite"),
        ("--summary-json", "other.verified.csv.checkpoint.sqlite-wal"),
        ("--summary-json", "copy-of-the-store.json"),
        ("--summary-json", "answers.sqlite.key"),
        ("--problems", "other.verified.csv.checkpoint.sqlite.lock"),
        ("--changes", "copy-of-the-store.csv"),
    ],
)
def test_no_file_a_run_writes_lands_on_another_jobs_state(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str], option: str, target: str
) -> None:
    other = _list(tmp_path, 3, "other.csv")
    assert run_cli("run", other, "--yes", env=env).returncode == 0
    store = tmp_path / "other.verified.csv.checkpoint.sqlite"
    os.link(store, tmp_path / "copy-of-the-store.json")
    os.link(store, tmp_path / "copy-of-the-store.csv")
    kept = store.read_bytes()
    requests = fast_sim.ledger()["requests"]
    src = _list(tmp_path, 3)
    result = run_cli("run", src, "--yes", option, tmp_path / target, env=env)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert store.read_bytes() == kept and fast_sim.ledger()["requests"] == requests


def test_the_answer_store_of_this_run_is_never_a_target(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    answers = tmp_path / "shared" / "answers.db"
    answers.parent.mkdir()
    src = _list(tmp_path, 3)
    assert run_cli("run", src, "--yes", "--answers", answers, env=env).returncode == 0
    key = answers.with_name("answers.db.key")
    kept = key.read_bytes()
    for target in (answers, key):
        again = run_cli("run", src, "--yes", "--answers", answers, "--summary-json", target, env=env)
        assert again.returncode == 2, again.stderr
        assert "would overwrite" in again.stderr or "is a database" in again.stderr, again.stderr
    assert key.read_bytes() == kept  # not even the refusal was written there
    # Nor a --problems file named again as the summary, nor the store named as the output.
    notes = tmp_path / "notes.csv"
    notes.write_text("the user's notes\n", encoding="utf-8")
    both = run_cli("run", src, "--yes", "--problems", notes, "--summary-json", notes, "--overwrite", env=env)
    assert both.returncode == 2 and notes.read_text(encoding="utf-8") == "the user's notes\n", both.stderr
    onto = run_cli("run", src, "--yes", "--answers", tmp_path / "list.verified.csv", env=env)
    assert onto.returncode == 2 and "answer store" in onto.stderr, onto.stderr


def test_names_with_glob_characters_and_links_that_loop_end_in_words(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = _list(tmp_path, 3)
    starry = run_cli("run", src, "--yes", "-o", tmp_path / "a**b[1].csv", env=env)
    assert starry.returncode == 0 and (tmp_path / "a**b[1].csv").exists(), starry.stderr
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    for flag in ("--summary-json", "--problems", "-o"):
        target = loop if flag != "-o" else tmp_path / "loop.csv"
        if flag == "-o":
            target.symlink_to(target)
        result = run_cli("run", src, "--yes", flag, target, env=env)
        assert result.returncode == 2, (flag, result.stderr)
        assert "loops" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_every_file_holding_numbers_is_private(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    os.umask(0o022)
    src = _list(tmp_path, 5)
    result = run_cli(
        "run", src, "--yes", "--problems", tmp_path / "p.csv", "--summary-json", tmp_path / "s.json", env=env
    )
    assert result.returncode == 0, result.stderr
    store = "list.verified.csv.checkpoint.sqlite"
    for name in ("list.verified.csv", store, store + ".lock", "p.csv", "s.json"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    # A file the user already had keeps the permissions they gave it.
    (tmp_path / "list.verified.csv").chmod(0o640)
    assert run_cli("run", src, "--yes", "--problems", tmp_path / "p.csv", env=env).returncode == 0
    assert stat.S_IMODE((tmp_path / "list.verified.csv").stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_checkpoint_whose_creation_failed_never_blocks_the_next_run(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    """A run killed (or out of disk) while creating the checkpoint leaves an empty file or a
    temporary one: the next run starts as if there were none."""
    src = _list(tmp_path, 4)
    store = tmp_path / "list.verified.csv.checkpoint.sqlite"
    store.write_bytes(b"")
    (tmp_path / f".{store.name}.0badc0de.new").write_bytes(b"SQLite format 3\x00half")
    result = run_cli("run", src, "--yes", env=env)
    assert result.returncode == 0, result.stderr
    assert answers_in(store) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_store_being_created_by_another_run_reads_as_busy_never_as_damaged(tmp_path: Path) -> None:
    """What a run beside a half-made store is told: busy, with the lock's message; never "move it
    away", advice that would delete paid answers."""
    from batchverify.engine.store import Checkpoint

    store = tmp_path / "out.csv.checkpoint.sqlite"
    store.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)  # what another run has written so far
    held = take_lock(store)
    try:
        with pytest.raises(BusyError, match=r"another batchverify run is working on out\.csv"):
            Checkpoint.open(store, lock=False, create=False)
    finally:
        os.close(held)
    with pytest.raises(CheckpointError, match="move it away"):  # nobody at work on it: damaged
        Checkpoint.open(store, lock=False, create=False)
