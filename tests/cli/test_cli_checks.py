"""Everything that can be checked is checked before the first request: exit 2 then truly means that
nothing was sent (the simulator's ledger says so) and nothing the user had was touched."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import answers_in, cli_env, run_cli, start_cli
from tests.support.tables import read_rows, spread_numbers, write_csv


def _list(tmp_path: Path, n: int = 5, header: str = "mobile") -> Path:
    src = tmp_path / "list.csv"
    write_csv(src, [["name", header]] + [[f"n{i}", number] for i, number in enumerate(spread_numbers(n))])
    return src


def _refused(result: object, sim: SimulatorServer, needle: str) -> None:
    assert getattr(result, "returncode") == 2, getattr(result, "stderr")  # noqa: B009
    stderr = str(getattr(result, "stderr"))  # noqa: B009
    assert needle in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert sim.ledger()["requests"] == 0


CASES = [
    ("output is a directory", lambda d, s: ["-o", str(_dir(d))], "is a directory"),
    ("output is a hard link to the input", lambda d, s: ["-o", str(_link(d, s))], "is the input itself"),
    ("unknown output encoding", lambda d, s: ["--output-encoding", "bogus"], "unknown --output-encoding"),
    (
        "summary in a missing folder",
        lambda d, s: ["--summary-json", str(d / "no" / "s.json")],
        "does not exist",
    ),
    ("summary onto the input", lambda d, s: ["--summary-json", str(s)], "would overwrite"),
    (
        "summary onto the output",
        lambda d, s: ["--summary-json", str(d / "list.verified.csv")],
        "would overwrite",
    ),
    ("endpoint port out of range", lambda d, s: ["--endpoint", "http://127.0.0.1:99999"], "1 to 65535"),
    ("duration that does not fit", lambda d, s: ["--max-age", "9999999w"], "at most 3650d"),
    ("timeout too short", lambda d, s: ["--timeout", "0.1"], "--timeout"),
]


def _dir(d: Path) -> Path:
    out = d / "out.csv"
    out.mkdir()
    return out


def _link(d: Path, src: Path) -> Path:
    out = d / "link.csv"
    os.link(src, out)
    return out


@pytest.mark.parametrize(("name", "args", "needle"), CASES, ids=[c[0] for c in CASES])
def test_refused_before_anything_is_sent(
    name: str, args: object, needle: str, tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = _list(tmp_path)
    before = src.read_bytes()
    extra = args(tmp_path, src)  # type: ignore[operator]
    if "--endpoint" in extra:
        env = {k: v for k, v in env.items() if k != "BATCHVERIFY_ENDPOINT"}
    result = run_cli("run", src, "--yes", *extra, env=env)
    _refused(result, fast_sim, needle)
    assert src.read_bytes() == before
    assert not (tmp_path / "list.verified.csv.checkpoint.sqlite").exists()


def test_an_encoding_that_cannot_hold_the_data_is_refused_before_sending(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = _list(tmp_path, header="手机号码")
    _refused(run_cli("run", src, "--yes", "--output-encoding", "ascii", env=env), fast_sim, "cannot hold")


def test_a_file_batchverify_did_not_write_needs_overwrite(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = _list(tmp_path)
    mine = tmp_path / "list.verified.csv"
    mine.write_text("my own notes\n", encoding="utf-8")
    _refused(run_cli("run", src, "--yes", env=env), fast_sim, "--overwrite")
    assert mine.read_text(encoding="utf-8") == "my own notes\n"
    result = run_cli("run", src, "--yes", "--overwrite", env=env)
    assert result.returncode == 0, result.stderr
    assert read_rows(mine)[0][-1] == "mobile_source"
    again = run_cli("run", src, "--yes", env=env)  # its own output now: no --overwrite needed
    assert again.returncode == 0, again.stderr


def test_dry_run_never_writes_the_summary_over_the_input(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = _list(tmp_path)
    before = src.read_bytes()
    _refused(run_cli("run", src, "--dry-run", "--summary-json", src, env=env), fast_sim, "would overwrite")
    assert src.read_bytes() == before


def test_a_fifo_input_is_refused_without_hanging(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    fifo = tmp_path / "list.csv"
    os.mkfifo(fifo)
    _refused(run_cli("run", fifo, "--yes", env=env, timeout=30), fast_sim, "not a regular file")


def test_a_session_token_with_a_line_break_is_refused(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = _list(tmp_path)
    env = {**env, "TENCENTCLOUD_SESSION_TOKEN": "abc\ndef"}
    result = run_cli("run", src, "--yes", env=env)
    _refused(result, fast_sim, "line break")
    assert "abc" not in result.stderr  # the secret is never echoed


@pytest.mark.timeout(400)
def test_repeated_kill_9_then_a_run_to_the_end_bills_twice_only_what_was_in_flight(tmp_path: Path) -> None:
    with SimulatorServer(SimConfig(rate_limit=0, latency_ms=(40, 80), seed=8)) as sim:
        env = cli_env(sim, tmp_path / "home")
        src = _list(tmp_path, 150)
        store = tmp_path / "list.verified.csv.checkpoint.sqlite"
        kills = 0
        for target in (15, 35, 55, 75, 95, 115):
            proc = start_cli("run", src, "--yes", "--rate", "25", "--concurrency", "4", env=env)
            deadline = time.monotonic() + 120
            while answers_in(store) < target and proc.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            kills += 1
        final = run_cli("run", src, "--yes", "--summary-json", tmp_path / "s.json", env=env)
        assert final.returncode == 0, final.stderr
        billed = sim.ledger()["billed_by_number"]
    twice = sum(count - 1 for count in billed.values() if count > 1)  # type: ignore[union-attr]
    assert twice <= 4 * kills  # at most the calls in flight (concurrency 4) at each kill
    rows = read_rows(tmp_path / "list.verified.csv")
    assert "pending" not in {row[rows[0].index("mobile_status")] for row in rows[1:]}


def test_a_misspelt_host_name_is_named_before_anything_is_sent(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = _list(tmp_path)
    env = {**env, "BATCHVERIFY_ENDPOINT": "https://faceid.tencentcloudapi.invalid"}
    result = run_cli("run", src, "--yes", env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "cannot be resolved" in result.stderr and "Traceback" not in result.stderr


def test_a_csv_with_an_unclosed_quote_is_refused_with_its_line(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    """One stray quote would read the rest of the file as one cell and the run would say "complete"
    on 2 rows of 400: refused before sending, the line where it breaks named."""
    src = tmp_path / "list.csv"
    lines = ["name,mobile"] + [f"n{i},{number}" for i, number in enumerate(spread_numbers(400))]
    lines[3] = '"' + lines[3]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _refused(run_cli("run", src, "--yes", env=env), fast_sim, "quote opened on line 4 is never closed")
    assert not (tmp_path / "list.verified.csv").exists()
