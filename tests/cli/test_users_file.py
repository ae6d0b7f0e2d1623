"""The output is the user's file once they change it, and a job is the list it was asked about: an
edited or sorted output is never replaced silently, a touched one is still judged by what it holds,
and another phone column never resumes a job (its answers would vanish)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import cli_env, run_cli, start_cli
from tests.support.tables import read_rows, spread_numbers, write_csv, write_list


def test_an_output_edited_in_excel_is_never_replaced_silently(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = cli_env(fast_sim, tmp_path / "home")
    source = write_list(tmp_path / "l.csv", spread_numbers(6))
    assert run_cli("run", source, "--yes", env=env).returncode == 0
    out = tmp_path / "l.verified.csv"
    rows = read_rows(out)
    edited = [[*rows[0], "跟进备注"], *sorted(([*r, "已回访"] for r in rows[1:]), reverse=True)]
    write_csv(out, edited)  # a column added by hand and a sort, as saving in Excel would
    kept = out.read_bytes()
    again = run_cli("run", source, "--yes", "--max-age", "7d", env=env)
    assert again.returncode == 2, again.stdout + again.stderr
    assert "was changed since batchverify wrote it" in again.stderr and "--overwrite" in again.stderr
    assert out.read_bytes() == kept and fast_sim.ledger()["requests"] == 6
    elsewhere = run_cli("run", source, "-o", tmp_path / "new.csv", "--yes", "--max-age", "7d", env=env)
    assert elsewhere.returncode == 0 and out.read_bytes() == kept
    replaced = run_cli("run", source, "--yes", "--overwrite", "--max-age", "7d", env=env)
    assert replaced.returncode == 0 and "跟进备注" not in out.read_text(encoding="utf-8")


def test_a_touched_output_is_still_never_shown_less(tmp_path: Path) -> None:
    """touch (or a copy of the same bytes) changes the time, not what the file holds: a following
    run that is stopped by its budget keeps the complete output in place."""
    with SimulatorServer(SimConfig(rate_limit=0, seed=7)) as sim:
        env = cli_env(sim, tmp_path / "home")
        source = write_list(tmp_path / "l.csv", spread_numbers(30))
        assert run_cli("run", source, "--yes", env=env).returncode == 0
        out = tmp_path / "l.verified.csv"
        complete = out.read_bytes()
        later = time.time() + 60
        os.utime(out, (later, later))
        budget = run_cli("run", source, "--yes", "--max-billable", "5", env=env)  # a new job: the last closed
        assert budget.returncode == 5, budget.stdout
        assert out.read_bytes() == complete, "the complete output stays in place"
        assert "pending" not in {r[2] for r in read_rows(out)[1:]}


def test_another_column_never_resumes_the_job_of_the_first(fast_sim: SimulatorServer, tmp_path: Path) -> None:
    env = cli_env(fast_sim, tmp_path / "home")
    main, backup = spread_numbers(40), spread_numbers(40, start=13600000000)
    source = tmp_path / "l.csv"
    rows = [[f"c{i}", m, b] for i, (m, b) in enumerate(zip(main, backup, strict=True))]
    write_csv(source, [["姓名", "手机", "备用电话"], *rows])
    # An open job on 手机: stopped by its budget after 12 answers.
    first = run_cli("run", source, "--yes", "--column", "手机", "--max-billable", "12", env=env)
    assert first.returncode == 5, first.stdout
    other = run_cli("run", source, "--yes", "--column", "备用电话", env=env)
    assert other.returncode == 2, other.stdout + other.stderr
    assert "open job 1 reads column B '手机'" in other.stderr and "column C '备用电话'" in other.stderr
    assert fast_sim.ledger()["requests"] == 12
    resumed = run_cli("run", source, "--yes", "--column", "手机", env=env)
    assert resumed.returncode == 0 and "12 already answered, 0 reused, 28 to send" in resumed.stdout, (
        resumed.stdout
    )
    assert fast_sim.ledger()["requests"] == 40


def test_another_sheet_never_resumes_the_job_of_the_first(fast_sim: SimulatorServer, tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    first, second = book.active, book.create_sheet("二月")
    first.title = "一月"
    first.append(["姓名", "手机"])
    second.append(["姓名", "手机"])
    for i, (a, b) in enumerate(zip(spread_numbers(20), spread_numbers(20, 13600000000), strict=True)):
        first.append([f"a{i}", a])
        second.append([f"b{i}", b])
    book.save(tmp_path / "l.xlsx")
    env = cli_env(fast_sim, tmp_path / "home")
    started = run_cli("run", tmp_path / "l.xlsx", "--yes", "--sheet", "一月", "--max-billable", "6", env=env)
    assert started.returncode == 5, started.stdout
    other = run_cli("run", tmp_path / "l.xlsx", "--yes", "--sheet", "二月", env=env)
    assert other.returncode == 2 and "of sheet '一月'" in other.stderr and "of sheet '二月'" in other.stderr
    assert fast_sim.ledger()["requests"] == 6


def test_the_job_follows_its_column_by_name_not_by_position(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = cli_env(fast_sim, tmp_path / "home")
    main, backup = spread_numbers(20), spread_numbers(20, start=13600000000)
    source = tmp_path / "l.csv"
    write_csv(
        source,
        [
            ["name", "手机号", "备用电话"],
            *([f"c{i}", m, b] for i, (m, b) in enumerate(zip(main, backup, strict=True))),
        ],
    )
    started = run_cli("run", source, "--yes", "--column", "手机号", "--max-billable", "6", env=env)
    assert started.returncode == 5, started.stdout
    # The next day's file has a column inserted before the phone column: the same list, resumed.
    moved = [
        ["编号", "name", "手机号", "备用电话"],
        *([str(i), f"c{i}", m, b] for i, (m, b) in enumerate(zip(main, backup, strict=True))),
    ]
    write_csv(source, moved)
    resumed = run_cli("run", source, "--yes", "--column", "手机号", env=env)
    assert resumed.returncode == 0 and "6 already answered" in resumed.stdout, resumed.stdout + resumed.stderr
    # The columns swapped and the other one asked for by name: never resumes the first job's answers.
    again = run_cli("run", source, "--yes", "--column", "手机号", "--max-billable", "3", "--restart", env=env)
    assert again.returncode == 5
    swapped = [
        ["name", "备用电话", "手机号"],
        *([f"c{i}", b, m] for i, (m, b) in enumerate(zip(main, backup, strict=True))),
    ]
    write_csv(source, swapped)
    other = run_cli("run", source, "--yes", "--column", "备用电话", env=env)
    assert other.returncode == 2 and "'手机号'" in other.stderr and "'备用电话'" in other.stderr, other.stderr


def test_an_output_saved_while_the_run_sends_is_kept_and_the_result_put_beside_it(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = cli_env(fast_sim, tmp_path / "home")
    source = write_list(tmp_path / "l.csv", spread_numbers(12))
    assert run_cli("run", source, "--yes", env=env).returncode == 0
    out = tmp_path / "l.verified.csv"
    proc = start_cli("run", source, "--yes", "--rate", "4", env=env)  # a new job: about 3 s of sending
    time.sleep(1.0)
    with out.open("a", encoding="utf-8") as f:
        f.write("saved in Excel meanwhile\n")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stdout + stderr
    assert "changed while this run was working" in stdout + stderr
    assert "run again to write it" not in stdout + stderr  # it is written: beside the edited one
    assert out.read_text(encoding="utf-8").endswith("saved in Excel meanwhile\n")
    assert (tmp_path / "l.verified.batchverify-new.csv").exists()


def test_a_problems_file_marked_up_while_the_run_sends_is_kept_and_nothing_else_is_overwritten(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    """The side files are the user's too: one marked up during the run is kept, the new one goes
    beside it, and a file already at the "beside" name is never overwritten."""
    env = cli_env(fast_sim, tmp_path / "home")
    source = write_list(tmp_path / "l.csv", [*spread_numbers(11), "12345"])
    problems = tmp_path / "p.csv"
    assert run_cli("run", source, "--yes", "--problems", problems, env=env).returncode == 0
    taken = tmp_path / "p.batchverify-new.csv"
    taken.write_text("the user's own file\n", encoding="utf-8")
    proc = start_cli("run", source, "--yes", "--rate", "4", "--problems", problems, env=env)  # about 3 s
    time.sleep(1.5)
    with problems.open("a", encoding="utf-8") as f:
        f.write("called back, wrong number\n")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stdout + stderr
    assert "changed while this run was working" in stdout + stderr
    assert problems.read_text(encoding="utf-8").endswith("called back, wrong number\n")
    assert taken.read_text(encoding="utf-8") == "the user's own file\n"
    assert "12345" in (tmp_path / "p.batchverify-new-2.csv").read_text(encoding="utf-8")
    assert (tmp_path / "l.verified.csv").exists()  # the output itself was not touched: replaced


def test_a_marked_up_problems_file_and_an_earlier_releases_output_are_kept(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = cli_env(fast_sim, tmp_path / "home")
    source = write_list(tmp_path / "l.csv", [*spread_numbers(5), "12345"])
    problems = tmp_path / "todo.csv"
    assert run_cli("run", source, "--yes", "--problems", problems, env=env).returncode == 0
    with problems.open("a", encoding="utf-8") as f:
        f.write("called them: moved away\n")
    again = run_cli("run", source, "--yes", "--problems", problems, env=env)
    assert again.returncode == 2 and "todo.csv was changed since batchverify wrote it" in again.stderr
    assert problems.read_text(encoding="utf-8").endswith("moved away\n")
    # An output stamped by the release before (size and time), then edited: never replaced either.
    store = tmp_path / "l.verified.csv.checkpoint.sqlite"
    out = tmp_path / "l.verified.csv"
    with sqlite3.connect(store) as con:
        st = out.stat()
        con.execute("UPDATE meta SET value=? WHERE key='output_stamp'", (f"{st.st_size}:{st.st_mtime_ns}",))
    con.close()
    with out.open("a", encoding="utf-8") as f:
        f.write("my note\n")
    legacy = run_cli("run", source, "--yes", env=env)
    assert legacy.returncode == 2 and "was changed since batchverify wrote it" in legacy.stderr
