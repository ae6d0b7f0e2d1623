"""Nightly operation, end to end against the simulator (its ledger as the oracle): jobs that close,
answers that age, what changed since the last job, never showing less, a budget, and reports a
monitor can trust."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

from batchverify.simulator import SimulatorServer
from tests.support.cli import run_cli
from tests.support.tables import read_dicts, spread_numbers, write_list


def write_numbers(path: Path, numbers: list[str]) -> Path:
    return write_list(path, numbers, header=("id", "phone"), label="{i}")


LIVE, SUSPENDED, BUSY = "13800000000", "13800000001", "13900000003"


def summary_of(path: Path) -> dict[str, object]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def run(
    src: Path, env: dict[str, str], *args: str | Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    report = src.with_name("summary.json")
    result = run_cli("run", src, "--yes", "--summary-json", report, *args, env=env)
    return result, summary_of(report)


def test_a_number_that_never_answers_does_not_hold_the_job_open_for_ever(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = write_numbers(tmp_path / "list.csv", [LIVE, SUSPENDED, BUSY])
    jobs = []
    for night in range(3):
        result, doc = run(src, env)
        if night == 2:
            assert "got no final answer in 3 runs" in result.stdout
        assert result.returncode == 1, result.stderr  # the busy number is never final
        jobs.append((doc["job_id"], doc["resumed"], doc["job_closed"], doc["given_up"]))
        if night == 0:
            assert doc["to_send"] == 3
        else:
            assert doc["to_send"] == 1 and doc["already_answered"] == 2  # the job resumes
    assert jobs == [(1, False, False, 0), (1, True, False, 0), (1, True, True, 1)]
    calls_before = dict(fast_sim.ledger()["calls_by_number"])
    result, doc = run(src, env)
    assert doc["job_id"] == 2 and doc["resumed"] is False and doc["to_send"] == 3
    calls = fast_sim.ledger()["calls_by_number"]
    assert calls[LIVE] == calls_before[LIVE] + 1  # the whole list is checked again


def test_max_age_bounds_the_answers_of_a_resumed_job(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = write_numbers(tmp_path / "list.csv", [LIVE, SUSPENDED, BUSY])
    result, doc = run(src, env)
    assert doc["job_closed"] is False
    time.sleep(2.2)
    result, doc = run(src, env, "--max-age", "2s")
    assert "is older than --max-age, so it is closed and a new job starts" in result.stdout
    assert doc["job_id"] == 2 and doc["already_answered"] == 0 and doc["reused"] == 0 and doc["to_send"] == 3
    rows = read_dicts(tmp_path / "list.verified.csv")
    assert all(r["mobile_source"] == "api" for r in rows if r["phone"] != BUSY)


def test_what_changed_since_the_previous_job(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = write_numbers(tmp_path / "list.csv", [LIVE, SUSPENDED, *spread_numbers(3)])
    result, doc = run(src, env, "--changes", tmp_path / "changes.csv")
    assert result.returncode == 0 and doc["job_closed"] is True
    assert doc["previous_job"] is None and doc["changed"] == 0  # the first job is the baseline
    assert "baseline" in result.stdout
    # Last night, LIVE was cancelled (as the store remembers it): tonight it is normal again.
    store = tmp_path / "list.verified.csv.checkpoint.sqlite"
    with sqlite3.connect(store) as con:
        con.execute("UPDATE job_status SET status='cancelled' WHERE number=?", (int(LIVE),))
    result, doc = run(src, env, "--changes", tmp_path / "changes.csv")
    assert result.returncode == 0, result.stderr
    assert doc["job_id"] == 2 and doc["previous_job"] == 1
    assert doc["changed"] == 1 and doc["transitions"] == {"cancelled -> normal": 1}
    assert "changed since job 1: 1 row (cancelled -> normal: 1)" in result.stdout
    rows = read_dicts(tmp_path / "list.verified.csv")
    previous = {r["phone"]: r["mobile_previous_status"] for r in rows}
    assert previous[LIVE] == "cancelled" and previous[SUSPENDED] == "out_of_service"
    changed = read_dicts(tmp_path / "changes.csv")
    assert [r["phone"] for r in changed] == [LIVE]


def test_a_refused_key_never_replaces_a_good_output(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = write_numbers(tmp_path / "list.csv", [LIVE, SUSPENDED, *spread_numbers(4)])
    result, _ = run(src, env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "list.verified.csv"
    good = out.read_bytes()
    rotated = dict(env, TENCENTCLOUD_SECRET_ID="AKIDrotatedAwayKey000000000000000000")
    result, doc = run(src, rotated)
    assert result.returncode == 3, result.stderr
    assert out.read_bytes() == good  # last night's answers stay visible
    assert doc["output_kept"] is True and doc["output"] is None
    assert "the output in place was kept" in result.stdout
    # --restart says: replace it anyway.
    result, doc = run(src, rotated, "--restart")
    assert result.returncode == 3
    assert {r["mobile_status"] for r in read_dicts(out)} == {"pending"}


def test_a_budget_stops_dispatching_and_the_rest_stays_pending(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = write_numbers(tmp_path / "list.csv", spread_numbers(30))
    result, doc = run(src, env, "--max-billable", "10", "--price", "0.05", "--concurrency", "8")
    assert "costing at most 0.50" in result.stdout
    assert result.returncode == 5, result.stderr  # a stop the user asked for, not "retry later"
    assert doc["error"] is None and "budget" in doc["stop_message"]
    ledger = fast_sim.ledger()
    assert ledger["billed"] <= 10
    assert doc["stop_reason"] == "budget" and doc["billable_calls"] == ledger["billed"]
    assert doc["cost"] == round(0.05 * ledger["billed"], 6)
    rows = read_dicts(tmp_path / "list.verified.csv")
    assert sum(r["mobile_billable"] == "true" for r in rows) == ledger["billed"]
    assert [r["mobile_status"] for r in rows].count("pending") >= 30 - 10 - 2  # a few answers are free
    assert "--max-billable" in result.stdout
    # The next night resumes the job with a new budget.
    result, doc = run(src, env)
    assert result.returncode == 0 and doc["resumed"] is True
    rows = read_dicts(tmp_path / "list.verified.csv")
    assert "pending" not in {r["mobile_status"] for r in rows}
    assert fast_sim.ledger()["billed"] == sum(r["mobile_billable"] == "true" for r in rows)  # none twice


def test_reports_a_monitor_can_trust(tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]) -> None:
    src = write_numbers(tmp_path / "list.csv", [LIVE, SUSPENDED, BUSY])
    result, doc = run(src, env)
    for key in (
        "started_at",
        "finished_at",
        "version",
        "endpoint",
        "job_id",
        "run_id",
        "not_final",
        "stop_reason",
        "already_answered",
        "reused",
        "job_billable",
        "job_requests",
        "changed",
    ):
        assert key in doc, key
    assert Path(str(doc["input"])).is_absolute() and Path(str(doc["output"])).is_absolute()
    assert doc["not_final"] == 1 and str(doc["endpoint"]).startswith("127.0.0.1:")
    lines = result.stdout.splitlines()
    assert all(line[:4].isdigit() and line[19:21] == "Z " for line in lines), lines  # timestamped
    assert "job 1 (new)" in lines[1] and "ended: incomplete, exit 1" in lines[-1]
    # Resumed, the numbers agree: the plan, the text and the JSON count resumed and reused apart.
    result, doc = run(src, env)
    assert "resuming job 1" in result.stdout and "2 already answered" in result.stdout
    assert "resumed 2, reused 0" in result.stdout
    assert doc["already_answered"] == 2 and doc["reused"] == 0
    assert doc["job_runs"] == 2 and doc["job_billable"] == doc["billable_calls"] + 2
