"""Signals at each phase of a run, and the processes around it: a signal while planning ends in 130
with a word; no child outlives its run (a second SIGTERM, kill -9), nothing is written after it."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from batchverify.engine.output import PARENT_ENV
from batchverify.simulator import SimulatorServer
from tests.support.cli import run_cli, start_cli


def _writers_of(parent: int) -> list[int]:
    """Live writer children started by ``parent`` (found by the marker in their environment)."""
    marker = f"{PARENT_ENV}={parent}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def _big_list(tmp_path: Path) -> Path:
    # 150,000 rows of 20 numbers: the answers take a second, the workbook a few.
    src = tmp_path / "list.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "mobile"])
        writer.writerows([f"n{i}", f"138001380{i % 20:02d}"] for i in range(150_000))
    return src


def _while_writing(proc: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
        children = _writers_of(proc.pid)
        if children:
            return children[0]
        time.sleep(0.05)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["second SIGTERM", "kill -9"])
def test_the_writer_never_outlives_its_run(
    how: str, tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = _big_list(tmp_path)
    out = tmp_path / "out.xlsx"
    summary = tmp_path / "s.json"
    summary.write_text('{"outcome": "complete", "exit_code": 0}')  # last night's
    proc = start_cli("run", src, "-o", out, "--yes", "--summary-json", summary, env=env)
    child = _while_writing(proc)
    if how == "kill -9":
        proc.kill()
    else:
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == (130 if how != "kill -9" else -9), err
    if how != "kill -9":
        assert "quit now" in err and "Traceback" not in err
        assert json.loads(summary.read_text())["outcome"] == "interrupted"  # never last night's
    deadline = time.monotonic() + 5
    while _writers_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _writers_of(proc.pid) == [] and _gone(child)
    time.sleep(2.0)  # long enough for an orphaned writer to have finished
    assert not out.exists()
    # The next run writes the output from the checkpoint (nothing asked again) and leaves no temps.
    again = run_cli("run", src, "-o", out, "--yes", env=env)
    assert again.returncode == 0, again.stderr
    assert out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    billed = fast_sim.ledger()["billed_by_number"]
    assert set(billed.values()) == {1}  # type: ignore[union-attr]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_planning_ends_with_130_and_a_word(
    sig: signal.Signals, tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    """The terminal closing (SIGHUP), a service stop or Ctrl-C while a big list is read: exit 130,
    one line saying so, a summary saying so, nothing sent, nothing left behind."""
    src = tmp_path / "list.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "mobile"])
        writer.writerows([f"n{i}", f"1380{i:07d}"] for i in range(1_000_000))
    summary = tmp_path / "s.json"
    proc = start_cli("run", src, "--yes", "--summary-json", summary, env=env)
    time.sleep(1.0)  # reading and normalising a million rows takes longer than this (plus start-up)
    assert proc.poll() is None
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert json.loads(summary.read_text())["outcome"] == "interrupted"
    assert fast_sim.ledger()["requests"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "list.csv", "s.json"]
