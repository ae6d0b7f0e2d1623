"""The Python API against the real simulator: files, DataFrames, a running loop, interruption, and
three concurrent jobs on one account holding the cap together."""

from __future__ import annotations

import _thread
import asyncio
import importlib
import re
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

import batchverify
from batchverify import Simulator, averify_file, shared_gate, verify_dataframe, verify_file
from batchverify.engine.events import AnswerRecorded, Event
from batchverify.errors import FatalApiError, UsageError
from batchverify.tencent.credentials import Credentials
from tests.support.tables import write_list as write_any


def write_list(path: Path, phones: list[str]) -> Path:
    return write_any(path, phones, header=("客户", "手机号"))


PYTHON_API_DOC = (Path(__file__).parents[2] / "docs" / "python-api.md").read_text(encoding="utf-8")


def numbers(n: int, start: int = 13600000000) -> list[str]:
    return [str(start + i * 7919) for i in range(n)]


def test_public_names_are_exported_documented_and_importable() -> None:
    expected = {
        "AnswerRecorded", "Credentials", "Event", "EventSink", "Job", "JobStarted", "OutputWritten",
        "Options", "Plan", "PlanReady", "RateGate", "Retrying", "RunRequest", "SendingEnded", "Simulator",
        "StopReason", "Stopped", "StrictGate", "Summary", "Target", "Throttled", "__version__",
        "averify_dataframe", "averify_file", "errors", "execute", "load_credentials", "plan", "shared_gate",
        "verify_dataframe", "verify_file",
    }  # fmt: skip
    assert set(batchverify.__all__) == expected
    section = PYTHON_API_DOC
    for name in expected - {"__version__", "errors"}:
        home = importlib.import_module(batchverify._EXPORTS[name])
        assert getattr(batchverify, name) is getattr(home, name), f"{name} is not its module's own"
        assert re.search(rf"\b{name}\b", section), f"{name} is not in docs/python-api.md"
    with pytest.raises(AttributeError):
        _ = batchverify.not_a_name  # type: ignore[attr-defined]


def test_command_line_start_up_does_not_import_pandas_or_the_simulator() -> None:
    code = "import sys, batchverify.cli; print(sorted({'pandas', 'aiohttp.web'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_verify_file_with_the_simulator_and_resume(tmp_path: Path) -> None:
    src = write_list(tmp_path / "list.csv", numbers(12) + numbers(3))
    with Simulator(rate_limit=0) as sim:
        summary = verify_file(src, endpoint=sim)
        assert summary.outcome == "complete" and summary.rows == 15 and summary.billable_calls == 12
        assert Path(summary.output or "") == tmp_path / "list.verified.csv"
        again = verify_file(src, endpoint=sim, max_age="1h")
        assert again.billable_calls == 0 and again.reused == 12
        assert sim.ledger()["billed"] == 12


def test_a_refused_key_raises_fatal_api_error_with_the_summary(tmp_path: Path) -> None:
    src = write_list(tmp_path / "list.csv", numbers(5))
    with Simulator(rate_limit=0) as sim:
        bad = Credentials("AKIDnotaknownkey0000000000", "nope")
        with pytest.raises(FatalApiError) as info:
            verify_file(src, endpoint=sim, credentials=bad)
    assert info.value.code.startswith("AuthFailure")
    summary = info.value.summary
    assert isinstance(summary, batchverify.Summary) and summary.outcome == "fatal"


def test_bad_arguments_raise_usage_error_before_anything_is_sent(tmp_path: Path) -> None:
    df = pd.DataFrame({"phone": numbers(2)})
    with Simulator(rate_limit=0) as sim:
        with pytest.raises(UsageError):
            verify_dataframe(df, "no such column", endpoint=sim, progress=False)
        with pytest.raises(UsageError):
            verify_dataframe(df, "phone", endpoint=sim, rate=0, progress=False)
        assert sim.ledger()["requests"] == 0


def test_dataframe_keeps_index_and_columns_and_types_the_results() -> None:
    phones: list[object] = [numbers(1)[0], 13900000000 + 7, None, "+86 139 0000 0007", "abc", float("nan")]
    df = pd.DataFrame({"name": list("abcdef"), "phone": phones}, index=[10, 20, 30, 40, 50, 60])
    before = df.copy()
    with Simulator(rate_limit=0) as sim:
        out = verify_dataframe(df, "phone", endpoint=sim, progress=False)
        assert sim.ledger()["requests"] == 2  # two distinct valid numbers, each asked once
    pd.testing.assert_frame_equal(df, before)  # the input is not modified
    assert list(out.index) == [10, 20, 30, 40, 50, 60]
    assert list(out.columns[:2]) == ["name", "phone"]
    assert out["mobile_normalized"].tolist()[:2] == [numbers(1)[0], "13900000007"]
    assert out.loc[40, "mobile_normalized"] == "13900000007"
    assert out.loc[30, "mobile_status"] == "empty" and out.loc[50, "mobile_status"] == "invalid_number"
    assert str(out["mobile_billable"].dtype) == "boolean"
    assert str(out["mobile_status_code"].dtype) == "Int64"
    assert str(out["mobile_checked_at"].dtype).startswith("datetime64") and "UTC" in str(
        out["mobile_checked_at"].dtype
    )
    assert bool(out.loc[10, "mobile_billable"]) and not bool(out.loc[30, "mobile_billable"])
    assert pd.isna(out.loc[30, "mobile_checked_at"]) and not pd.isna(out.loc[10, "mobile_checked_at"])


async def test_verify_dataframe_works_inside_a_running_event_loop() -> None:
    asyncio.get_running_loop()  # this test body runs on a loop, as a notebook cell does
    df = pd.DataFrame({"phone": numbers(4)})
    with Simulator(rate_limit=0) as sim:
        out = verify_dataframe(df, "phone", endpoint=sim, progress=False)
    assert out["mobile_status"].notna().all() and len(out) == 4


def test_an_interrupted_dataframe_run_pays_for_nothing_twice(tmp_path: Path) -> None:
    df = pd.DataFrame({"phone": numbers(60)})
    store = tmp_path / "answers.sqlite"
    with Simulator(rate_limit=20, latency_ms=(20, 60)) as sim:
        interrupted = threading.Event()

        def interrupt_after_15(event: Event) -> None:
            if isinstance(event, AnswerRecorded) and event.done == 15 and not interrupted.is_set():
                interrupted.set()
                _thread.interrupt_main()  # what the notebook's stop button does

        with pytest.raises(KeyboardInterrupt):
            verify_dataframe(df, "phone", endpoint=sim, checkpoint=store, progress=interrupt_after_15)
        first = sim.ledger()
        assert 15 <= first["billed"] < 60
        out = verify_dataframe(df, "phone", endpoint=sim, checkpoint=store, progress=False)
        ledger = sim.ledger()
    assert (out["mobile_status"] != "pending").all()
    assert ledger["billed"] == 60
    assert set(ledger["billed_by_number"].values()) == {1}


async def test_three_concurrent_jobs_on_one_account_hold_the_cap_together(tmp_path: Path) -> None:
    with Simulator(rate_limit=20, latency_ms=(50, 250), seed=3) as sim:
        gate = shared_gate(sim.credentials.secret_id, "the built-in simulator", 20)
        sends_before = gate.sends
        lists = [write_list(tmp_path / f"list{i}.csv", numbers(40, 13710000000 + i * 97)) for i in range(3)]
        summaries = await asyncio.gather(*(averify_file(src, endpoint=sim) for src in lists))
        ledger = sim.ledger()
    assert [s.outcome for s in summaries] == ["complete"] * 3, [s.by_status for s in summaries]
    # All three went through the account's one gate: every request the server saw passed it.
    assert gate.sends - sends_before == ledger["requests"] == 120 + sum(s.rate_limited for s in summaries)
    # The gate lets at most 20 leave in any 1.005 s; a loaded machine can still delay one on the way
    # so that it lands in the server's window early (make bench measures 0 on a quiet machine),
    # and that one is retried, never lost.
    assert ledger["rate_limited"] <= 1 and ledger["max_in_any_second"] <= 21
    assert ledger["billed"] == sum(s.billable_calls for s in summaries)


def test_verify_file_never_replaces_a_file_it_did_not_write_unless_asked(tmp_path: Path) -> None:
    from batchverify.errors import OutputError

    src = write_list(tmp_path / "list.csv", numbers(3))
    theirs = tmp_path / "list.verified.csv"
    theirs.write_text("keep me\n", encoding="utf-8")
    with Simulator(rate_limit=0) as sim:
        with pytest.raises(OutputError, match="overwrite="):
            verify_file(src, endpoint=sim)
        assert theirs.read_text(encoding="utf-8") == "keep me\n" and sim.ledger()["requests"] == 0
        assert verify_file(src, endpoint=sim, overwrite=True).outcome == "complete"


def test_a_script_without_a_main_guard_runs_its_jobs_once(tmp_path: Path) -> None:
    # The workbook is written by a child interpreter; it must never import the caller's script.
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["手机号"])
    for number in numbers(4, 13800200000):
        book.active.append([number])
    book.save(tmp_path / "b.xlsx")
    write_list(tmp_path / "a.csv", numbers(3, 13800100000))
    script = tmp_path / "no_guard.py"
    script.write_text(
        "from batchverify import Simulator, verify_file\n"
        "with Simulator(rate_limit=0) as sim:\n"
        "    verify_file('a.csv', endpoint=sim)\n"
        "    verify_file('b.xlsx', endpoint=sim)\n"
        "    print(sim.ledger()['requests'])\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7"
    assert openpyxl.load_workbook(tmp_path / "b.verified.xlsx").active["B1"].value == "mobile_normalized"


def test_every_ending_has_the_command_lines_exit_code_on_the_summary(tmp_path: Path) -> None:
    """The Python API returns what the command line would exit with: one table for both."""
    src = write_list(tmp_path / "list.csv", numbers(30))
    with Simulator(rate_limit=0) as sim:
        budget = verify_file(src, endpoint=sim, max_billable=4)
        assert (budget.outcome, budget.stop_reason, budget.exit_code) == ("incomplete", "budget", 5)
        assert budget.error is None and budget.stop_message and "budget" in budget.stop_message
        done = verify_file(src, endpoint=sim)
        assert (done.outcome, done.exit_code) == ("complete", 0)
    with Simulator(rate_limit=0, daily_quota=2) as quota:
        spent = verify_file(src, endpoint=quota, restart=True, output=tmp_path / "q.csv")
        assert (spent.stop_reason, spent.exit_code) == ("daily_limit", 6)
    with Simulator(rate_limit=0) as refusing:
        with pytest.raises(FatalApiError) as info:
            verify_file(src, endpoint=refusing, credentials=Credentials("AKIDnotaknownkey0000000000", "x"),
                        output=tmp_path / "f.csv")  # fmt: skip
        assert info.value.exit_code == 3 and info.value.summary is not None
        assert info.value.summary.exit_code == 3
    with pytest.raises(UsageError) as bad:
        verify_file(src, simulator_night=2)  # a night is the built-in simulator's
    assert bad.value.exit_code == 2 and bad.value.option == "simulator_night"


def test_a_frame_of_an_earlier_chinese_output_keeps_the_customers_own_columns() -> None:
    """A Chinese output read back with pandas (a repeated header becomes 状态代码.1): the result
    columns side by side are replaced, the customer's own 状态代码 and 核验时间 stay."""
    from batchverify.core.labels import column_header
    from batchverify.models import OUTPUT_COLUMNS

    results = [column_header(c, "zh-CN") for c in OUTPUT_COLUMNS]
    seen: set[str] = set()
    labels = ["姓名", "手机", "状态代码", "核验时间"]
    seen.update(labels)
    for name in results:
        labels.append(f"{name}.1" if name in seen else name)
        seen.add(name)
    df = pd.DataFrame(
        [["张三", numbers(1)[0], "VIP", "2024-01-01", *(["old"] * len(results))]], columns=labels
    )
    with Simulator(rate_limit=0) as sim:
        out = verify_dataframe(df, "手机", endpoint=sim, progress=False)
    assert list(out.columns) == ["姓名", "手机", "状态代码", "核验时间", *OUTPUT_COLUMNS]
    assert out.loc[0, "状态代码"] == "VIP" and out.loc[0, "核验时间"] == "2024-01-01"
    with pytest.raises(UsageError):
        verify_dataframe(df, "手机", endpoint="http://127.0.0.1:9", time_zone="Asia/Shanghai", progress=False)
