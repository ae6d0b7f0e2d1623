"""The real command line against the real simulator: round trips, resume, stops, broken inputs."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import time
from pathlib import Path

import openpyxl
import pytest

from batchverify.engine.store import Checkpoint
from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import answers_in, cli_env, run_cli, start_cli
from tests.support.tables import read_rows, spread_numbers, write_csv

VOLATILE = {"mobile_request_id", "mobile_checked_at"}


def stable(rows: list[list[str]]) -> list[list[str]]:
    """Rows without the columns that differ between two correct runs (request ids, timestamps)."""
    header = rows[0]
    keep = [i for i, name in enumerate(header) if name not in VOLATILE]
    return [[row[i] for i in keep] for row in rows]


def test_gbk_csv_round_trip_keeps_every_cell(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    numbers = spread_numbers(30)
    rows = [["客户编号", "姓名", "手机号码", "备注"]]
    for i, number in enumerate(numbers + numbers[:10]):  # 10 duplicate rows
        rows.append(
            [f"{i:03d}", f"客户{i}", f"{number[:3]}-{number[3:7]}-{number[7:]}", "NA" if i % 3 else "null"]
        )
    src = tmp_path / "客户.csv"
    write_csv(src, rows, encoding="gbk")
    result = run_cli("run", src, "--yes", "--summary-json", tmp_path / "s.json", env=env)
    assert result.returncode == 0, result.stderr
    out = read_rows(tmp_path / "客户.verified.csv", encoding="gbk")
    assert [row[:4] for row in out] == rows  # every original cell, in order
    header = out[0]
    assert header[4:] == [
        "mobile_normalized",
        "mobile_status",
        "mobile_status_label",
        "mobile_action",
        "mobile_previous_status",
        "mobile_previous_status_label",
        "mobile_status_code",
        "mobile_result_code",
        "mobile_billable",
        "mobile_description",
        "mobile_request_id",
        "mobile_checked_at",
        "mobile_error",
        "mobile_source",
    ]
    col = {name: i for i, name in enumerate(header)}
    for row in out[1:]:
        assert row[col["mobile_normalized"]] == row[2].replace("-", "")
        assert row[col["mobile_status"]] not in ("pending", "error", "")
        assert len(row[col["mobile_request_id"]]) == 36
        assert row[col["mobile_checked_at"]].endswith("Z")
    ledger = fast_sim.ledger()
    calls = ledger["calls_by_number"]
    assert isinstance(calls, dict)
    assert sorted(calls) == sorted(numbers) and set(calls.values()) == {1}  # duplicates cost one call
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["duplicates_saved"] == 10 and summary["requests"] == 30 and summary["exit_code"] == 0
    assert summary["billable_calls"] == ledger["billed"]


def test_xlsx_with_numeric_cells_round_trip(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "customers.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "客户"
    ws.append(["编号", "手机", "余额", "备注"])
    numbers = spread_numbers(8)
    for i, number in enumerate(numbers):
        ws.append([f"00{i}", int(number), 12.5 * i, "=1+1" if i == 0 else None])
    ws.append(["009", "+86 138 0013 8000", 0, "NA"])
    notes = wb.create_sheet("说明")
    notes["A1"] = "keep me"
    wb.save(src)
    result = run_cli("run", src, "--yes", env=env)
    assert result.returncode == 0, result.stderr
    out = openpyxl.load_workbook(tmp_path / "customers.verified.xlsx")
    assert out.sheetnames == ["客户", "说明", "batchverify summary"]
    assert out["说明"]["A1"].value == "keep me"
    sheet = out["客户"]
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["编号", "手机", "余额", "备注"]
    norm_col = header.index("mobile_normalized") + 1
    billable_col = header.index("mobile_billable") + 1
    for r, number in enumerate(numbers, start=2):
        phone = sheet.cell(r, 2)
        assert phone.value == int(number) and phone.data_type == "n"  # the customer's cell untouched
        assert sheet.cell(r, 1).value == f"00{r - 2}"
        normalized = sheet.cell(r, norm_col)
        assert normalized.value == number and normalized.data_type == "s"  # text, never 1.38E+10
        assert isinstance(sheet.cell(r, billable_col).value, bool)
    assert sheet.cell(2, 4).value == "=1+1"  # the customer's own formula stays a formula
    assert sheet.cell(10, norm_col).value == "13800138000"


def test_every_status_and_resume_of_non_final_rows(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    expected = {
        "13800000000": "normal",
        "13800138000": "out_of_service",
        "13800000002": "cancelled",
        "13800000004": "offline",
        "13800000005": "unavailable",
        "13800000099": "unknown",
        "13900000001": "not_found",
        "16137688175": "invalid_number",
        "13900000013": "unsupported_range",
        "13900000009": "unrecognized",
        "13900000004": "daily_limit",
        "13700000001": "error",
        "13900000033": "normal",  # busy twice, then answered within the retry budget
        "13700000006": "normal",  # dropped once (uncertain), then answered
        "1.38001E+10": "invalid_number",
        "": "empty",
    }
    src = tmp_path / "all.csv"
    write_csv(src, [["phone", "name"]] + [[n, f"customer {i}"] for i, n in enumerate(expected)])
    first = run_cli("run", src, "--yes", "--summary-json", tmp_path / "s.json", env=env)
    assert first.returncode == 1, first.stderr  # daily_limit and error rows are not final
    out = read_rows(tmp_path / "all.verified.csv")
    col = out[0].index("mobile_status")
    assert {row[0]: row[col] for row in out[1:]} == expected
    err_col = out[0].index("mobile_error")
    errors = {row[0]: row[err_col] for row in out[1:]}
    assert errors["13700000001"].startswith("InvalidParameterValue")
    assert "scientific" in errors["1.38001E+10"]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["uncertain_calls"] == 1 and summary["retries"] >= 3
    calls_before = dict(fast_sim.ledger()["calls_by_number"])  # type: ignore[call-overload]
    # The next run only asks again for the rows that are not final.
    second = run_cli("run", src, "--yes", env=env)
    assert second.returncode == 1
    calls_after = fast_sim.ledger()["calls_by_number"]
    asked_again = {n for n in calls_after if calls_after[n] != calls_before.get(n)}  # type: ignore[index]
    assert asked_again == {"13900000004", "13700000001"}


def test_uncertain_calls_are_retried_twice_then_the_row_is_an_error(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "drops.csv"
    others = spread_numbers(8)  # enough numbers for the plan's allowance of repeats (5)
    write_csv(src, [["phone"], ["13700000007"], ["13700000006"], *([n] for n in others)])
    done = run_cli("run", src, "--yes", "--summary-json", tmp_path / "s.json", env=env)
    assert done.returncode == 1, done.stderr  # the row whose every reply is dropped is not final
    out = read_rows(tmp_path / "drops.verified.csv")
    status, error = out[0].index("mobile_status"), out[0].index("mobile_error")
    assert [(row[status], row[error].split(":")[0]) for row in out[1:3]] == [
        ("error", "uncertain"),
        ("normal", ""),
    ]
    calls = fast_sim.ledger()["calls_by_number"]
    assert calls["13700000007"] == 3 and calls["13700000006"] == 2  # type: ignore[index]
    assert json.loads((tmp_path / "s.json").read_text())["uncertain_calls"] == 4


def test_repeats_of_lost_answers_stop_at_the_plans_bound(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "drops.csv"
    write_csv(src, [["phone"], ["13700000007"], ["13700000006"]])
    done = run_cli("run", src, "--yes", "--summary-json", tmp_path / "s.json", env=env)
    assert done.returncode == 1, done.stderr
    assert "at most 4 billable (2 numbers, and up to 2 repeats" in done.stdout
    summary = json.loads((tmp_path / "s.json").read_text())
    ledger = fast_sim.ledger()
    # Counting every lost answer as billed, the run never passes its bound of 4.
    assert summary["billable_calls"] + summary["maybe_billed"] <= summary["max_billable"] == 4
    assert (
        summary["billable_calls"] <= ledger["billed"] <= summary["billable_calls"] + summary["maybe_billed"]
    )
    out = read_rows(tmp_path / "drops.verified.csv")
    assert "the run's bound on billing" in out[1][out[0].index("mobile_error")]


def _kill_mid_run(tmp_path: Path, how: signal.Signals) -> None:
    with SimulatorServer(SimConfig(rate_limit=0, latency_ms=(40, 80), seed=5)) as sim:
        env = cli_env(sim, tmp_path / "home")
        numbers = spread_numbers(80)
        src = tmp_path / "list.csv"
        write_csv(src, [["name", "mobile"]] + [[f"n{i}", n] for i, n in enumerate(numbers + numbers[:20])])
        reference = run_cli("run", src, "-o", tmp_path / "reference.csv", "--yes", "--rate", "200", env=env)
        assert reference.returncode == 0, reference.stderr
        sim.reset()
        out = tmp_path / "list.verified.csv"
        store = out.with_name(out.name + ".checkpoint.sqlite")
        proc = start_cli("run", src, "--yes", "--rate", "25", "--concurrency", "8", env=env)
        deadline = time.monotonic() + 240
        while answers_in(store) < 20:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(how)
        stdout, stderr = proc.communicate(timeout=30)
        if how is signal.SIGKILL:
            assert proc.returncode == -9
        else:
            assert proc.returncode == 130, stderr
            # The stop names the signal that came, and the summary says how to resume.
            again = "Ctrl-C again" if how is signal.SIGINT else f"{signal.Signals(how).name} again"
            assert again in stderr, stderr
            assert "run the same command again to resume job 1" in stdout
            partial = read_rows(out)
            statuses = [row[partial[0].index("mobile_status")] for row in partial[1:]]
            assert "pending" in statuses and len(partial) == len(numbers) + 21
        first_part = dict(sim.ledger()["billed_by_number"])  # type: ignore[call-overload]
        resumed = run_cli("run", src, "--yes", "--rate", "200", env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert stable(read_rows(out)) == stable(read_rows(tmp_path / "reference.csv"))
        billed = sim.ledger()["billed_by_number"]
        twice = [n for n, count in billed.items() if count > 1]  # type: ignore[union-attr]
        assert len(twice) <= 8  # at most the calls that were in flight at the kill
        assert set(twice) <= set(first_part)
        assert len(billed) == sum(1 for n in numbers if n in billed)  # type: ignore[arg-type]


@pytest.mark.timeout(400)
def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    _kill_mid_run(tmp_path, signal.SIGKILL)


@pytest.mark.timeout(400)
def test_ctrl_c_writes_partial_output_then_resume_completes(tmp_path: Path) -> None:
    _kill_mid_run(tmp_path, signal.SIGINT)


@pytest.mark.timeout(400)
def test_sigterm_writes_partial_output_like_ctrl_c(tmp_path: Path) -> None:
    _kill_mid_run(tmp_path, signal.SIGTERM)


@pytest.mark.timeout(400)
def test_sighup_writes_partial_output_like_ctrl_c(tmp_path: Path) -> None:
    _kill_mid_run(tmp_path, signal.SIGHUP)


def test_fatal_error_stops_the_job_with_exit_3(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "list.csv"
    write_csv(src, [["mobile"]] + [[n] for n in spread_numbers(200)])
    bad_env = dict(env, TENCENTCLOUD_SECRET_KEY="wrong-key")
    result = run_cli("run", src, "--yes", "--rate", "50", env=bad_env)
    assert result.returncode == 3
    assert "AuthFailure.SignatureFailure" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert fast_sim.ledger()["requests"] <= 60  # stopped within about a second
    out = read_rows(tmp_path / "list.verified.csv")
    assert {row[out[0].index("mobile_status")] for row in out[1:]} == {"pending"}


def test_arrears_in_the_middle_stops_the_job(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    numbers = [*spread_numbers(10), "13700000009", *spread_numbers(100, start=13600000000)]
    src = tmp_path / "list.csv"
    write_csv(src, [["mobile"]] + [[n] for n in numbers])
    result = run_cli("run", src, "--yes", "--rate", "20", "--concurrency", "2", env=env)
    assert result.returncode == 3
    assert "UnauthorizedOperation.Arrears" in result.stdout + result.stderr
    assert fast_sim.ledger()["requests"] < 40


def test_a_burst_of_daily_limit_answers_stops_with_exit_6(tmp_path: Path) -> None:
    with SimulatorServer(SimConfig(rate_limit=0, daily_quota=5)) as sim:
        src = tmp_path / "list.csv"
        write_csv(src, [["mobile"]] + [[n] for n in spread_numbers(300)])
        result = run_cli(
            "run", src, "--yes", "--rate", "100", "--concurrency", "4", env=cli_env(sim, tmp_path / "h")
        )
        assert result.returncode == 6, result.stderr  # the quota: tomorrow, not "some rows later"
        assert "daily quota" in result.stdout
        assert sim.ledger()["requests"] < 5 + 20 + 10  # stopped right after the streak of -4


BROKEN: dict[str, bytes] = {
    "empty.csv": b"",
    "nophone.csv": b"name,city\nAlice,Beijing\nBob,Shanghai\n",
    "corrupt.xlsx": b"PK\x03\x04 this is not really a zip archive",
    "junk.csv": bytes(range(256)) * 40,
}


@pytest.mark.parametrize("name", [*BROKEN, "missing.csv"])
def test_broken_inputs_exit_2_with_one_line(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str], name: str
) -> None:
    src = tmp_path / name
    if name in BROKEN:
        src.write_bytes(BROKEN[name])
    result = run_cli("run", src, "--yes", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0], result.stderr
    assert fast_sim.ledger()["requests"] == 0
    assert not list(tmp_path.glob("*.verified.*"))


def test_second_run_on_a_busy_output_is_refused(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "in.csv"
    write_csv(src, [["mobile"], ["13800138000"]])
    out = tmp_path / "in.verified.csv"
    out.write_text("earlier output\n")
    with Checkpoint.open(out.with_name(out.name + ".checkpoint.sqlite")):
        result = run_cli("run", src, "--yes", env=env)
    assert result.returncode == 2
    assert "in.verified.csv" in result.stderr and "another batchverify run" in result.stderr
    assert out.read_text() == "earlier output\n"  # untouched
    assert fast_sim.ledger()["requests"] == 0


def test_dry_run_sends_and_writes_nothing(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "in.csv"
    write_csv(src, [["mobile"], ["13800138000"], ["13800138000"], ["bad"], [""]])
    result = run_cli("run", src, "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    # The row with nothing in it is blank: written back, never counted.
    assert "3 rows (header row 1, phone column A 'mobile'), 1 distinct number," in result.stdout
    assert "1 to send" in result.stdout
    assert fast_sim.ledger()["requests"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "in.csv"]


def test_finished_job_starts_fresh_unless_max_age(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "in.csv"
    write_csv(src, [["mobile"]] + [[n] for n in spread_numbers(5)])
    assert run_cli("run", src, "--yes", env=env).returncode == 0
    assert fast_sim.ledger()["requests"] == 5
    reused = run_cli("run", src, "--yes", "--max-age", "1h", env=env)
    assert reused.returncode == 0 and fast_sim.ledger()["requests"] == 5  # nothing paid again
    out = read_rows(tmp_path / "in.verified.csv")
    assert {row[out[0].index("mobile_source")] for row in out[1:]} == {"reused"}
    fresh = run_cli("run", src, "--yes", env=env)
    assert fresh.returncode == 0 and fast_sim.ledger()["requests"] == 10


def test_previous_output_fed_back_replaces_columns(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "in.csv"
    write_csv(src, [["mobile", "note"], ["13800138000", "x"]])
    assert run_cli("run", src, "--yes", env=env).returncode == 0
    again = run_cli("run", tmp_path / "in.verified.csv", "--yes", env=env)
    assert again.returncode == 0, again.stderr
    header = read_rows(tmp_path / "in.verified.verified.csv")[0]
    assert header.count("mobile_status") == 1 and header[:2] == ["mobile", "note"]


def test_output_equal_to_input_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    src = tmp_path / "in.csv"
    write_csv(src, [["mobile"], ["13800138000"]])
    result = run_cli("run", src, "-o", src, "--yes", env=env)
    assert result.returncode == 2 and "is the input itself" in result.stderr
    assert read_rows(src) == [["mobile"], ["13800138000"]]


def test_missing_credentials_name_both_places(tmp_path: Path, env: dict[str, str]) -> None:
    src = tmp_path / "in.csv"
    write_csv(src, [["mobile"], ["13800138000"]])
    bare = {k: v for k, v in env.items() if not k.startswith("TENCENTCLOUD_")}
    result = run_cli("run", src, "--yes", env=bare)
    assert result.returncode == 2
    assert "TENCENTCLOUD_SECRET_ID" in result.stderr and "~/.tencentcloud/credentials" in result.stderr


def test_profile_file_credentials_and_no_secret_in_output(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    bare = {k: v for k, v in env.items() if not k.startswith("TENCENTCLOUD_")}
    creds = Path(bare["HOME"]) / ".tencentcloud" / "credentials"
    creds.parent.mkdir(parents=True)
    creds.write_text(
        f"[default]\nsecret_id = nobody\nsecret_key = nothing\n\n"
        f"[ops]\nsecret_id = {fast_sim.cfg.secret_id}\nsecret_key = {fast_sim.cfg.secret_key}\n"
    )
    src = tmp_path / "in.csv"
    write_csv(src, [["mobile"], ["13800138000"]])
    result = run_cli("run", src, "--yes", "--profile", "ops", env=bare)
    assert result.returncode == 0, result.stderr
    everything = result.stdout + result.stderr + (tmp_path / "in.verified.csv").read_text()
    assert fast_sim.cfg.secret_key not in everything


def test_simulator_flag_runs_the_demo(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("mobile\n13800138000\n16137688175\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    env.pop("BATCHVERIFY_ENDPOINT", None)
    result = run_cli("run", src, "--simulator", "--yes", "--encrypt", "sm4-gcm", env=env)
    assert result.returncode == 0, result.stderr
    text = io.StringIO((tmp_path / "in.verified.csv").read_text())
    rows = list(csv.reader(text))
    assert [r[rows[0].index("mobile_status")] for r in rows[1:]] == ["out_of_service", "invalid_number"]


def test_every_count_reads_right_in_the_singular(tmp_path: Path, env: dict[str, str]) -> None:
    src = tmp_path / "one.csv"
    write_csv(src, [["name", "phone"], ["a", "13800000002"]])
    result = run_cli("run", src, "--yes", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1 row (header row 1" in out and "1 distinct number," in out and "(1 number, and up to" in out
    assert ": 1 run, billable" in out and "complete: 1 row written" in out
    assert " 1 rows" not in out and "1 runs" not in out and "1 distinct numbers" not in out
