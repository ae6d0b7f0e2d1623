"""One answer store behind every front end: a number answered through the command line is reused
by the Python API, the upload server and the DataFrame API within ``max_age``; the store holds no
number in the clear, is private to its owner, and never takes an answer stamped in the future for
a fresh one."""

from __future__ import annotations

import csv
import datetime
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from batchverify import verify_dataframe, verify_file
from batchverify.build import connect
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.answers import AnswerStore, default_answers_path
from batchverify.engine.options import Options
from batchverify.models import RowResult, Status
from batchverify.simulator import SimulatorServer
from batchverify.tencent.credentials import Credentials
from batchverify.web.app import create_app
from batchverify.web.manager import ServeSettings
from tests.support.cli import answers_in, cli_env, run_cli, start_cli
from tests.support.tables import read_dicts, write_list
from tests.support.web import AUTH, TOKEN, upload, wait_state


def customers(path: Path, numbers: range) -> Path:
    return write_list(path, [BASE + i for i in numbers], header=("id", "mobile"), label="{i}")


BASE = 13512340000


def requests(sim: SimulatorServer) -> int:
    return int(sim.ledger()["requests"])  # type: ignore[call-overload]


def keys(sim: SimulatorServer) -> Credentials:
    return Credentials(sim.cfg.secret_id, sim.cfg.secret_key)


async def test_an_answer_paid_once_is_reused_by_every_front_end(
    fast_sim: SimulatorServer, tmp_path: Path, aiohttp_client: Any
) -> None:
    # The command line pays for 0-19.
    done = run_cli(
        "run", customers(tmp_path / "a.csv", range(20)), "--yes", env=cli_env(fast_sim, tmp_path / "home")
    )
    assert done.returncode == 0, done.stderr
    assert requests(fast_sim) == 20

    # The Python API, on an overlapping list, pays only for the numbers it has not seen (20-29).
    summary = await _verify_file(customers(tmp_path / "b.csv", range(10, 30)), fast_sim)
    assert (summary.reused, summary.reused_from_answers, summary.requests) == (10, 10, 10)
    assert requests(fast_sim) == 30
    rows = list(csv.DictReader((tmp_path / "b.verified.csv").read_text(encoding="utf-8-sig").splitlines()))
    sources = {int(r["mobile"]) - BASE: r["mobile_source"] for r in rows}
    assert all(sources[i] == "reused" for i in range(10, 20)) and all(
        sources[i] == "api" for i in range(20, 30)
    )
    assert all(r["mobile_request_id"] and r["mobile_checked_at"] for r in rows), "reused rows stay traceable"

    # The upload page: without a window it offers reuse, and what reusing would save; chosen, it pays
    # only for 30-39.
    with connect(Options(endpoint=fast_sim.url, credentials=keys(fast_sim), rate_store="memory")) as target:
        settings = ServeSettings(data_dir=tmp_path / "serve", target=target, token=TOKEN, options=Options())
        client = await aiohttp_client(create_app(settings))
        offered = await (await upload(client, customers(tmp_path / "c.csv", range(20, 40)))).json()
        assert offered["plan"]["reuse_offer"] == {"max_age": "7d", "numbers": 10, "saved_calls": 10}
        assert offered["plan"]["reused"] == 0 and offered["plan"]["to_send"] == 20
        chosen = await client.post(f"/api/jobs/{offered['id']}/plan", json={"max_age": "7d"}, headers=AUTH)
        job = await chosen.json()
        assert job["max_age"] == "7d" and job["plan"]["reused"] == 10 and job["plan"]["to_send"] == 10
        assert (await client.post(f"/api/jobs/{job['id']}/start", headers=AUTH)).status == 202
        finished = await wait_state(client, job["id"], ("finished", "failed"))
        assert finished["state"] == "finished" and finished["done"] == 20
    assert requests(fast_sim) == 40

    # A notebook: every number of 0-39 is known, so nothing is paid.
    frame = pd.DataFrame({"phone": [str(BASE + i) for i in range(40)]})
    checked = verify_dataframe(
        frame, "phone", endpoint=fast_sim.url, credentials=keys(fast_sim), max_age="1d", progress=False
    )
    assert requests(fast_sim) == 40
    assert checked["mobile_source"].eq("reused").all()
    assert checked.attrs["summary"]["reused"] == 40 and checked.attrs["summary"]["requests"] == 0


async def _verify_file(path: Path, sim: SimulatorServer, **values: Any) -> Any:
    from batchverify import averify_file

    return await averify_file(path, endpoint=sim.url, credentials=keys(sim), max_age="1d", **values)


def test_without_max_age_nothing_is_reused_and_answers_none_keeps_nothing(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    source = customers(tmp_path / "a.csv", range(5))
    verify_file(source, tmp_path / "one.csv", endpoint=fast_sim.url, credentials=keys(fast_sim))
    verify_file(source, tmp_path / "two.csv", endpoint=fast_sim.url, credentials=keys(fast_sim))
    assert requests(fast_sim) == 10, "a new output without max_age checks every number again"
    private = tmp_path / "private.sqlite"
    verify_file(
        source, tmp_path / "three.csv", endpoint=fast_sim.url, credentials=keys(fast_sim), answers="none"
    )
    verify_file(
        source, tmp_path / "four.csv", endpoint=fast_sim.url, credentials=keys(fast_sim), answers=private
    )
    summary = verify_file(
        source,
        tmp_path / "five.csv",
        endpoint=fast_sim.url,
        credentials=keys(fast_sim),
        answers=private,
        max_age="1h",
    )
    assert summary.reused == 5 and requests(fast_sim) == 20
    with AnswerStore.open(private, create=False) as store:
        assert store.stats().answers == 5


def test_a_dataframe_called_again_with_its_checkpoint_pays_nothing(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    frame = pd.DataFrame({"phone": [str(BASE + i) for i in range(8)]})
    where = {"endpoint": fast_sim.url, "credentials": keys(fast_sim), "progress": False}
    first = verify_dataframe(frame, "phone", checkpoint=tmp_path / "nb.sqlite", answers="none", **where)
    again = verify_dataframe(frame, "phone", checkpoint=tmp_path / "nb.sqlite", answers="none", **where)
    assert requests(fast_sim) == 8
    assert again.attrs["summary"]["requests"] == 0
    pd.testing.assert_series_equal(first["mobile_status"], again["mobile_status"])
    verify_dataframe(frame, "phone", checkpoint=tmp_path / "nb.sqlite", answers="none", restart=True, **where)
    assert requests(fast_sim) == 16, "restart=True asks every number again"


def test_the_store_holds_no_number_in_the_clear_and_is_private(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    numbers = range(30)
    verify_file(customers(tmp_path / "a.csv", numbers), endpoint=fast_sim.url, credentials=keys(fast_sim))
    path = default_answers_path()
    assert path.is_relative_to(Path(os.environ["XDG_DATA_HOME"]))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        dump = "\n".join(con.iterdump())
    assert con is not None
    raw = path.read_bytes()
    for i in numbers:
        number = str(BASE + i)
        assert number not in dump and number.encode() not in raw
        assert number[-8:] not in dump, "not even the last digits"
    with AnswerStore.open(path, create=False) as store:
        figures = store.stats()
    assert figures.answers == 30
    # Another store's key does not match these hashes: the same number is not recognisable across stores.
    other = tmp_path / "other.sqlite"
    with AnswerStore.open(other) as fresh, AnswerStore.open(path, create=False) as kept:
        assert fresh._hash("x", BASE) != kept._hash("x", BASE)


@pytest.mark.skipif(shutil.which("faketime") is None and not os.environ.get("CI"), reason="needs faketime")
def test_an_answer_stamped_in_the_future_is_never_fresh(tmp_path: Path) -> None:
    """A run whose clock was 30 days ahead stored its answers; with the clock right again, --max-age 1h
    reuses none of them (from the answer store or the checkpoint), and the new answers replace them."""
    assert shutil.which("faketime"), "faketime is installed by .ci/run"
    source = customers(tmp_path / "a.csv", range(6))
    env = {**os.environ, "BATCHVERIFY_LANGUAGE": "en"}
    ahead = subprocess.run(
        [
            "faketime",
            "-f",
            "+30d",
            sys.executable,
            "-m",
            "batchverify",
            "run",
            str(source),
            "--simulator",
            "--yes",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ahead.returncode == 0, ahead.stderr
    with AnswerStore.open(default_answers_path(), create=False) as store:
        assert store.stats().newest > "2026-12-31" or store.stats().newest > _now_plus_days(20)

    # The checkpoint's own future answers (the answer store left out), then the answer store's.
    for output, store in (("a.verified.csv", "none"), ("elsewhere.csv", str(default_answers_path()))):
        args = ("-o", tmp_path / output, "--simulator", "--yes", "--max-age", "1h", "--answers", store)
        again = run_cli("run", source, *args, env=env)
        assert again.returncode == 0, again.stderr
        assert "0 reused, 6 to send" in again.stdout, again.stdout
    last = run_cli(
        "run", source, "-o", tmp_path / "third.csv", "--simulator", "--yes", "--max-age", "1h", env=env
    )
    assert "6 reused, 0 to send" in last.stdout, "answers with a right clock replace the future ones"


def _now_plus_days(days: int) -> str:
    import datetime

    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def test_answers_stats_and_forget(fast_sim: SimulatorServer, tmp_path: Path) -> None:
    env = cli_env(fast_sim, tmp_path / "home")
    run_cli("run", customers(tmp_path / "a.csv", range(4)), "--yes", env=env)
    shown = run_cli("answers", "stats", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert '"answers": 4' in shown.stdout
    forgot = run_cli("answers", "forget", str(BASE + 1), env=env)
    assert forgot.returncode == 0 and "forgot 1 answer" in forgot.stdout
    refused = run_cli("answers", "forget", env=env)
    assert refused.returncode == 2 and "name the answers to forget" in refused.stderr
    everything = run_cli("answers", "forget", "--all", env=env)
    assert "forgot 3 answers" in everything.stdout


def test_an_age_per_status_reuses_a_cancelled_number_longer_than_a_live_one(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    """Answers ten days old: with max_age 7d and cancelled=90d, the cancelled one is reused, the live
    one is asked again; the command line takes the same windows as --max-age cancelled=90d."""
    live, gone = BASE + 1, BASE + 2
    ten_days_ago = utc_now_iso(datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=10))
    with AnswerStore.open(default_answers_path()) as store:
        identity = fast_sim.url.split("//")[1].rstrip("/")
        store.put(
            identity,
            [
                (live, RowResult(Status.NORMAL, 0, "0", True, "normal", "req-live", ten_days_ago)),
                (gone, RowResult(Status.CANCELLED, 2, "0", True, "cancelled", "req-gone", ten_days_ago)),
            ],
        )
    source = write_list(tmp_path / "two.csv", [live, gone])
    summary = verify_file(
        source,
        tmp_path / "py.csv",
        endpoint=fast_sim.url,
        credentials=keys(fast_sim),
        max_age="7d",
        max_age_by_status={"cancelled": "90d"},
    )
    assert (summary.reused, summary.requests) == (1, 1)
    rows = {r["phone"]: r for r in read_dicts(tmp_path / "py.csv", "utf-8-sig")}
    assert rows[str(gone)]["mobile_request_id"] == "req-gone" and rows[str(gone)]["mobile_source"] == "reused"
    assert rows[str(live)]["mobile_source"] == "api"

    with AnswerStore.open(default_answers_path()) as store:  # the live number's answer is new again
        store.forget_numbers([live])
        store.put(identity, [(live, RowResult(Status.NORMAL, 0, "0", True, "", "req-old", ten_days_ago))])
    env = cli_env(fast_sim, tmp_path / "home")
    windows = ("--max-age", "7d", "--max-age", "cancelled=90d")
    done = run_cli("run", source, "-o", tmp_path / "cli.csv", "--yes", *windows, env=env)
    assert done.returncode == 0, done.stderr
    assert "1 reused, 1 to send" in done.stdout
    refused = run_cli("run", source, "--yes", "--max-age", "busy=1d", env=env)
    assert refused.returncode == 2
    assert "--max-age STATUS=DURATION: 'busy' is not a final status" in refused.stderr


def test_a_window_for_one_status_only_still_shows_and_keeps_what_the_job_paid_for(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    """--max-age cancelled=90d alone: the job's own answers of other statuses are shown (not pending),
    and the job is complete (a run that showed them pending would pay for them again)."""
    source = customers(tmp_path / "l.csv", range(6))
    env = cli_env(fast_sim, tmp_path / "home")
    first = run_cli("run", source, "--yes", "--max-age", "cancelled=90d", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    statuses = {r["mobile_status"] for r in read_dicts(tmp_path / "l.verified.csv", "utf-8-sig")}
    assert "pending" not in statuses and "complete" in first.stdout
    assert requests(fast_sim) == 6


def test_a_busy_or_damaged_answer_store_never_fails_a_run_or_an_upload(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    source = customers(tmp_path / "l.csv", range(3))
    env = cli_env(fast_sim, tmp_path / "home")
    assert run_cli("run", source, "--yes", env=env).returncode == 0
    path = default_answers_path()
    holder = sqlite3.connect(path, timeout=1)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than a writer waits
    try:
        busy = run_cli("run", source, "-o", tmp_path / "b.csv", "--yes", "--max-age", "1d", env=env)
    finally:
        holder.rollback()
        holder.close()
    assert busy.returncode == 0, busy.stderr  # readers are not blocked (WAL); the write gives up
    assert "3 reused, 0 to send" in busy.stdout
    assert "database is locked; this run's answers are kept in its checkpoint only" in busy.stderr
    path.write_bytes(b"not a database at all" * 100)
    damaged = run_cli("run", source, "-o", tmp_path / "d.csv", "--yes", "--max-age", "1d", env=env)
    assert damaged.returncode == 0, damaged.stderr
    assert "answer store" in damaged.stderr and "internal error" not in damaged.stderr


def test_answers_of_a_killed_run_reach_the_store_when_the_job_resumes(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    source = customers(tmp_path / "l.csv", range(40))
    env = cli_env(fast_sim, tmp_path / "home")
    proc = start_cli("run", source, "--yes", "--rate", "10", env=env)
    store = tmp_path / "l.verified.csv.checkpoint.sqlite"
    deadline = time.monotonic() + 30
    while answers_in(store) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    assert (
        not default_answers_path().exists() or AnswerStore.open(default_answers_path()).stats().answers == 0
    )
    resumed = run_cli("run", source, "--yes", env=env)
    assert resumed.returncode == 0, resumed.stderr
    with AnswerStore.open(default_answers_path(), create=False) as kept:
        assert kept.stats().answers == 40, "the killed run's paid answers are shared too"


def test_the_store_alone_does_not_hold_its_key_and_answers_none_holds(
    fast_sim: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verify_file(customers(tmp_path / "a.csv", range(3)), endpoint=fast_sim.url, credentials=keys(fast_sim))
    path = default_answers_path()
    key = path.with_name(path.name + ".key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) == 64
    with sqlite3.connect(path) as con:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        assert {k for k in meta if not k.startswith("from:")} == {"id", "kind"}  # and marks of shares
        assert not any(key.read_text().strip() in f"{k} {v}" for k, v in meta.items())
    con.close()
    monkeypatch.setenv("BATCHVERIFY_ANSWERS", "none")  # the Python API reads it as the command line does
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("XDG_DATA_HOME", str(other))
    verify_file(customers(tmp_path / "b.csv", range(3)), endpoint=fast_sim.url, credentials=keys(fast_sim))
    assert not other.exists()


def test_answers_refuses_a_file_that_is_not_an_answer_store(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = cli_env(fast_sim, tmp_path / "home")
    assert run_cli("run", customers(tmp_path / "l.csv", range(3)), "--yes", env=env).returncode == 0
    checkpoint = tmp_path / "l.verified.csv.checkpoint.sqlite"
    before = answers_in(checkpoint)
    for args in (("stats",), ("forget", "--all")):
        done = run_cli("answers", *args, "--answers", checkpoint, env=env)
        assert done.returncode == 2 and "not a batchverify answer store" in done.stderr, done.stderr
    assert answers_in(checkpoint) == before == 3
    zero = run_cli("answers", "forget", "--older-than", "0s", env=env)
    assert zero.returncode == 2 and "--older-than must be longer than 0" in zero.stderr


def test_a_dataframe_without_max_age_reuses_its_checkpoint_only(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = cli_env(fast_sim, tmp_path / "home")
    assert run_cli("run", customers(tmp_path / "l.csv", range(4)), "--yes", env=env).returncode == 0
    frame = pd.DataFrame({"phone": [str(BASE + i) for i in range(4)]})
    verify_dataframe(
        frame, "phone", endpoint=fast_sim.url, credentials=keys(fast_sim), checkpoint=tmp_path / "nb.sqlite"
    )
    assert requests(fast_sim) == 8, "another list's answers are reused only when max_age says so"


def test_a_workbook_written_by_the_writer_child_shows_reused_answers(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    """The workbook writer runs in a child process: the reuse window travels to it whole."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["姓名", "手机号"])
    for i in range(5):
        book.active.append([f"c{i}", str(BASE + i)])
    book.save(tmp_path / "list.xlsx")
    env = cli_env(fast_sim, tmp_path / "home")
    assert run_cli("run", tmp_path / "list.xlsx", "--yes", env=env).returncode == 0
    again = run_cli(
        "run", tmp_path / "list.xlsx", "-o", tmp_path / "again.xlsx", "--yes", "--max-age", "1d", env=env
    )
    assert again.returncode == 0, again.stderr
    assert "5 reused, 0 to send" in again.stdout
    rows = list(openpyxl.load_workbook(tmp_path / "again.xlsx", read_only=True).worksheets[0].values)
    source = rows[0].index("mobile_source")
    assert [r[source] for r in rows[1:]] == ["reused"] * 5
    assert requests(fast_sim) == 5
