"""The command line against a rate-limited simulator: throttling end to end, a declined prompt on a
terminal, and a second Ctrl-C that leaves at once."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import answers_in, cli_env, run_cli, start_cli
from tests.support.tables import read_rows, spread_numbers, write_csv


def _list(tmp_path: Path, n: int) -> Path:
    src = tmp_path / "list.csv"
    write_csv(src, [["name", "mobile"]] + [[f"n{i}", number] for i, number in enumerate(spread_numbers(n))])
    return src


@pytest.mark.timeout(300)
def test_too_fast_a_rate_is_throttled_and_every_row_still_ends_final(tmp_path: Path) -> None:
    # --rate 40 against a strict 20/s server: the server rejects, the gate widens its margin and
    # holds, every rejected call is asked again, and nothing is billed twice.
    with SimulatorServer(SimConfig(rate_limit=20, latency_ms=(10, 30), seed=2)) as sim:
        env = cli_env(sim, tmp_path / "home")
        src = _list(tmp_path, 120)
        result = run_cli("run", src, "--yes", "--rate", "40", "--summary-json", tmp_path / "s.json", env=env)
        ledger = sim.ledger()
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["rate_limited"] > 0 and summary["rate_limited"] == ledger["rate_limited"]
    assert summary["requests"] == 120 + summary["rate_limited"]
    assert set(ledger["billed_by_number"].values()) == {1}  # type: ignore[union-attr]
    assert "above the API's limit" in result.stderr  # warned before sending
    out = read_rows(tmp_path / "list.verified.csv")
    assert "pending" not in {row[out[0].index("mobile_status")] for row in out[1:]}


def _read_until(fd: int, needle: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        assert time.monotonic() < deadline, seen
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


@pytest.mark.timeout(120)
def test_enter_at_the_prompt_on_a_terminal_sends_and_writes_nothing(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = _list(tmp_path, 5)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchverify", "run", str(src)],
        env=env,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    try:
        _read_until(master, b"[y/N]")  # sends are paid for: the answer defaults to no
        os.write(master, b"\n")
        stdout, _ = proc.communicate(timeout=60)
    finally:
        os.close(master)
    assert proc.returncode == 2
    assert "plan: 5 rows" in stdout and "nothing sent" in stdout
    assert fast_sim.ledger()["requests"] == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["list.csv"]


@pytest.mark.timeout(300)
def test_a_second_ctrl_c_leaves_at_once_and_a_rerun_resumes(tmp_path: Path) -> None:
    with SimulatorServer(SimConfig(rate_limit=20, latency_ms=(200, 400), seed=4)) as sim:
        env = cli_env(sim, tmp_path / "home")
        src = _list(tmp_path, 200)
        store = tmp_path / "list.verified.csv.checkpoint.sqlite"
        proc = start_cli("run", src, "--yes", env=env)
        deadline = time.monotonic() + 120
        while answers_in(store) < 10:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 130, stderr
        assert not (tmp_path / "list.verified.csv").exists()  # left at once: no output written
        kept = answers_in(store)
        assert kept >= 10
        resumed = run_cli("run", src, "--yes", "--summary-json", tmp_path / "s.json", env=env)
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads((tmp_path / "s.json").read_text())
        assert summary["already_answered"] == kept
        billed = sim.ledger()["billed_by_number"]
        twice = [n for n, count in billed.items() if count > 1]  # type: ignore[union-attr]
        assert len(twice) <= 10  # at most the calls that were in flight when it left
