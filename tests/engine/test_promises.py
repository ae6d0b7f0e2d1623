"""Fault injection, in process: hostile replies, servers that never answer or answer HTML, a disk
that fills up, a worker that meets the unexpected, a local clock that is off, and a property over
random fault schedules. The simulator's ledger is the oracle of what was billed.

Servers are real ones on 127.0.0.1 (the simulator, or a small aiohttp app); the store failure is
injected through the engine's ``store`` seam.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchverify.cli.exits import exit_code_of
from batchverify.core.classify import result_from_reply
from batchverify.engine.gate import StrictGate
from batchverify.engine.job import Job, Target, plan
from batchverify.engine.plan import RunRequest
from batchverify.engine.sender import SendConfig
from batchverify.engine.store import Checkpoint
from batchverify.errors import CheckpointError, InputError
from batchverify.files import exceltable
from batchverify.files.readers import open_table
from batchverify.models import BadReply, BusinessReply, Reply, Status
from batchverify.simulator import SimConfig, SimulatorServer
from batchverify.tencent.client import MAX_REPLY_BYTES, Endpoint, parse_reply
from batchverify.tencent.credentials import Credentials
from tests.support.script import Script, fast_gate, numbers, request, statuses

KEYS = Credentials("AKIDpromisestest00000001", "promises-key")


def target_for(url: str, *, timeout: float = 30.0, concurrency: int = 8, identity: str = "") -> Target:
    return Target(
        endpoint=Endpoint.parse(url),
        credentials=KEYS,
        identity=identity,
        send=SendConfig(rate=50, concurrency=concurrency),
        read_timeout=timeout,
    )


# --- hostile replies ------------------------------------------------------------------------------


def test_hostile_bodies_are_bounded() -> None:
    deep = b'{"Response":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert isinstance(parse_reply(200, "application/json", deep), BadReply)
    big = b'{"Response":{"Result":"0","Description":"' + b"x" * MAX_REPLY_BYTES + b'"}}'
    assert isinstance(parse_reply(200, "application/json", big), BadReply)
    assert isinstance(parse_reply(200, "text/html", b"<html>ok</html>"), BadReply)


@pytest.mark.parametrize("code", ["18446744073709551616", "1e30", '"abc"', "true", "[1]"])
def test_a_billed_answer_with_a_bad_status_code_is_recorded_not_retried(code: str) -> None:
    raw = f'{{"Response":{{"Result":"0","StatusCode":{code},"Description":"ok","RequestId":"r"}}}}'
    reply = parse_reply(200, "application/json", raw.encode())
    assert isinstance(reply, BusinessReply) and reply.problem
    result = result_from_reply(reply, "2026-12-01T00:00:00Z")
    assert result.status is Status.UNRECOGNIZED and result.status.is_final and result.billable
    assert "StatusCode" in result.error


def test_lone_surrogates_and_long_texts_are_cleaned() -> None:
    raw = b'{"Response":{"Result":"0","StatusCode":0,"Description":"bad \\ud800 text' + b"y" * 5000 + b'"}}'
    reply = parse_reply(200, "application/json", raw)
    assert isinstance(reply, BusinessReply)
    assert "\ufffd" in reply.description and len(reply.description) <= 1000
    reply.description.encode("utf-8")  # storable


@pytest.fixture
async def hostile_server() -> AsyncIterator[tuple[TestServer, dict[str, Any]]]:
    """An endpoint whose behaviour the test sets: ``mode`` is hang, html or bad_status_code."""
    state: dict[str, Any] = {"mode": "hang", "requests": 0}

    async def handle(request: web.Request) -> web.StreamResponse:
        state["requests"] += 1
        await request.read()
        if state["mode"] == "hang":
            await asyncio.sleep(4)  # far past the client's timeout; short enough to close
        if state["mode"] == "html":
            return web.Response(text="<html><body>Welcome</body></html>", content_type="text/html")
        return web.Response(
            body=b'{"Response":{"Result":"0","StatusCode":99999999999999999999999,"RequestId":"x"}}',
            content_type="application/json",
        )

    app = web.Application()
    app.router.add_post("/", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, state
    finally:
        await server.close()


async def test_a_server_that_never_answers_stops_the_run_early_within_the_bound(
    tmp_path: Path, hostile_server: tuple[TestServer, dict[str, Any]]
) -> None:
    server, state = hostile_server
    made = await plan(request(tmp_path, numbers(60)), endpoint_identity="hostile")
    started = time.monotonic()
    summary = await Job(made, target_for(str(server.make_url("/")), timeout=1.0, concurrency=20)).run()
    assert summary.stop_reason == "no_answer" and summary.outcome == "incomplete"
    assert time.monotonic() - started < 30
    assert summary.requests == state["requests"] < 60
    # Every call may have been billed, and they are all counted so, within the plan's bound.
    assert summary.maybe_billed == summary.requests and summary.billable_calls == 0
    assert summary.requests <= made.max_billable
    assert "no answer" in (summary.error or "")


async def test_an_endpoint_answering_html_stops_early(
    tmp_path: Path, hostile_server: tuple[TestServer, dict[str, Any]]
) -> None:
    server, state = hostile_server
    state["mode"] = "html"
    made = await plan(request(tmp_path, numbers(40)), endpoint_identity="hostile")
    summary = await Job(made, target_for(str(server.make_url("/")), concurrency=4)).run()
    assert summary.stop_reason == "bad_replies"
    assert state["requests"] < 40  # not four requests per number
    # A page that is not the API's may come after the backend answered: counted as maybe billed.
    assert summary.maybe_billed == state["requests"] <= made.max_billable


async def test_an_out_of_range_answer_is_stored_so_it_is_not_paid_for_again(
    tmp_path: Path, hostile_server: tuple[TestServer, dict[str, Any]]
) -> None:
    server, state = hostile_server
    state["mode"] = "bad_status_code"
    req = request(tmp_path, numbers(3))
    target = target_for(str(server.make_url("/")))
    summary = await Job(await plan(req, endpoint_identity="hostile"), target).run()
    assert summary.outcome == "complete" and summary.by_status == {"unrecognized": 3}
    assert exit_code_of(summary) == 0  # final answers: nothing is left to ask again
    reuse = await plan(
        RunRequest(input=req.input, output=req.output, max_age=datetime.timedelta(hours=1)),
        endpoint_identity="hostile",
    )
    assert reuse.to_send == [] and reuse.reused == 3
    assert state["requests"] == 3


# --- billing against the ledger ------------------------------------------------------------------


async def test_timeouts_never_bill_past_the_plan_and_the_summary_accounts_for_the_ledger(
    tmp_path: Path,
) -> None:
    # The server answers (and bills) after 1.5 s; the client gives up after 1 s.
    with SimulatorServer(
        SimConfig(rate_limit=0, latency_ms=(1500, 1500), secret_id=KEYS.secret_id, secret_key=KEYS.secret_key)
    ) as sim:
        made = await plan(request(tmp_path, numbers(40)), endpoint_identity="sim")
        summary = await Job(made, target_for(sim.url, timeout=1.0, concurrency=40)).run()
        await asyncio.sleep(1.0)  # the handlers still running finish and bill
        ledger = sim.ledger()
    assert ledger["billed"] <= made.max_billable
    assert summary.billable_calls <= ledger["billed"] <= summary.billable_calls + summary.maybe_billed
    assert max(ledger["billed_by_number"].values()) <= 2


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(faults=st.sampled_from([0.1, 0.3, 0.6]), seed=st.integers(0, 10_000))
def test_random_fault_schedules_keep_every_promise(tmp_path_factory: Any, faults: float, seed: int) -> None:
    tmp = tmp_path_factory.mktemp("faults")
    cfg = SimConfig(
        rate_limit=0, faults=faults, seed=seed, secret_id=KEYS.secret_id, secret_key=KEYS.secret_key
    )

    async def main() -> tuple[Any, Any, dict[str, Any]]:
        with SimulatorServer(cfg) as sim:
            made = await plan(request(tmp, numbers(30)), endpoint_identity="sim")
            target = target_for(sim.url, timeout=5.0)
            summary = await Job(made, target, gate=fast_gate()).run()
            return made, summary, sim.ledger()

    made, summary, ledger = asyncio.run(main())
    assert sum(summary.by_status.values()) == 30
    assert ledger["billed"] <= made.max_billable
    assert summary.billable_calls <= ledger["billed"] <= summary.billable_calls + summary.maybe_billed
    rows = statuses(tmp / "out.csv")
    assert len(rows) == 30 and dict(Counter(rows)) == summary.by_status, "the output is what the summary says"
    if summary.stop_reason is None:
        assert "pending" not in rows, "a run that was not stopped sends every number"
    else:
        # Only a streak of failures stops a run by itself, and it says so; what it did not send is pending.
        assert summary.stop_reason in ("no_answer", "bad_replies", "network"), summary.stop_reason
        assert summary.outcome == "incomplete" and summary.error


# --- the store, the workers, the clock ------------------------------------------------------------


class FillingDisk(Checkpoint):
    """A checkpoint whose disk is full after ``room`` answers."""

    room = 4

    def record(self, number: int, result: Any) -> None:
        if FillingDisk.room <= 0:
            raise CheckpointError(f"cannot write checkpoint {self.path}: database or disk is full")
        FillingDisk.room -= 1
        super().record(number, result)


async def test_a_full_disk_stops_the_run_cleanly_and_keeps_every_committed_answer(tmp_path: Path) -> None:
    req = request(tmp_path, numbers(30))
    made = await plan(req, endpoint_identity="scripted")
    path = req.store_path
    assert path is not None

    def opener() -> Checkpoint:
        return FillingDisk.open(path)

    FillingDisk.room = 4
    script = Script(delay=0.01)
    target = target_for("http://127.0.0.1:9", identity="scripted")
    summary = await Job(made, target, verifier=script, gate=fast_gate(), store=opener).run()
    assert summary.outcome == "storage_error" and exit_code_of(summary) == 4
    assert summary.stop_reason == "storage" and "disk is full" in (summary.error or "")
    assert summary.answers_not_stored >= 1
    again = await plan(req, endpoint_identity="scripted")
    assert again.already_answered == 4  # every committed answer is there
    await Job(again, target, verifier=script, gate=fast_gate()).run()
    assert statuses(tmp_path / "out.csv") == ["normal"] * 30


class Exploding(Script):
    async def query(self, mobile: str) -> Reply:
        if mobile == numbers(3)[1]:
            raise RuntimeError("something nobody expected")
        return await super().query(mobile)


async def test_an_unexpected_exception_becomes_the_rows_error_not_a_dead_worker(tmp_path: Path) -> None:
    made = await plan(request(tmp_path, numbers(3)), endpoint_identity="scripted")
    target = target_for("http://127.0.0.1:9", identity="scripted")
    summary = await Job(made, target, verifier=Exploding(), gate=fast_gate()).run()
    assert summary.by_status == {"normal": 2, "error": 1} and summary.outcome == "incomplete"
    with (tmp_path / "out.csv").open(encoding="utf-8") as f:
        assert "internal: RuntimeError: something nobody expected" in f.read()


async def test_a_fatal_stop_leaves_no_false_in_flight_marks(tmp_path: Path) -> None:
    with SimulatorServer(
        SimConfig(rate_limit=0, secret_id=KEYS.secret_id, secret_key=KEYS.secret_key)
    ) as sim:
        req = request(tmp_path, numbers(20))
        wrong = Target(endpoint=Endpoint.parse(sim.url), credentials=Credentials(KEYS.secret_id, "wrong"))
        first = await Job(await plan(req, endpoint_identity=wrong.endpoint_identity), wrong).run()
        assert first.outcome == "fatal"
        again = await Job(
            await plan(req, endpoint_identity=wrong.endpoint_identity), target_for(sim.url)
        ).run()
    assert again.uncertain_from_previous_run == 0 and again.outcome == "complete"


async def test_a_local_clock_that_is_off_is_named_with_the_offset(tmp_path: Path) -> None:
    ahead = SimConfig(
        rate_limit=0, clock=lambda: time.time() + 600, secret_id=KEYS.secret_id, secret_key=KEYS.secret_key
    )
    with SimulatorServer(ahead) as sim:
        made = await plan(request(tmp_path, numbers(5)), endpoint_identity="sim")
        summary = await Job(made, target_for(sim.url)).run()
    assert summary.outcome == "fatal" and summary.fatal is not None
    assert summary.fatal.code == "AuthFailure.SignatureExpire"
    assert re.search(r"local clock is about (599|600|601) s behind", str(summary.fatal))


def test_a_workbook_that_would_inflate_past_the_limit_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openpyxl

    path = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["phone"])
    for number in numbers(200):
        book.active.append([number])
    book.save(path)
    monkeypatch.setattr(exceltable, "MAX_PART_BYTES", 1000)
    with pytest.raises(InputError, match="inflates to"):
        open_table(path)


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "list.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        open_table(fifo)


def test_credentials_with_a_line_break_are_refused() -> None:
    from batchverify.errors import CredentialError

    with pytest.raises(CredentialError, match="line break"):
        Credentials("AKIDxxxxxxxx", "key", token="abc\nX-Injected: 1")


def test_a_decimal_cell_is_never_turned_into_a_number(tmp_path: Path) -> None:
    from batchverify.core.normalize import normalize_mobile

    assert normalize_mobile("1380013800.5").number is None
    assert RunRequest(input=tmp_path / "x.csv", output=None).store_path is None


async def test_damaged_checkpoint_pages_are_one_clear_error(tmp_path: Path) -> None:
    req = request(tmp_path, numbers(400))
    target = target_for("http://127.0.0.1:9", identity="scripted")
    script = Script()
    job: Job

    def stop_early(event: Any) -> None:
        from batchverify.engine.events import AnswerRecorded

        if isinstance(event, AnswerRecorded) and event.done == 300:
            job.stop()

    job = Job(
        await plan(req, endpoint_identity="scripted"),
        target,
        verifier=script,
        gate=fast_gate(),
        events=stop_early,
    )
    await job.run()
    path = req.store_path
    assert path is not None
    with Checkpoint.open(path) as store:  # fold the WAL into the file
        store._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    assert len(data) > 4096 * 3
    data[4096 * 2 : 4096 * 3] = b"\xff" * 4096  # a page of answers, garbage now
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"cannot be read|not a usable"):
        await plan(req, endpoint_identity="scripted")


async def test_a_reply_that_arrives_in_pieces_is_read_whole(tmp_path: Path) -> None:
    body = b'{"Response":{"Result":"0","StatusCode":0,"Description":"ok","RequestId":"pieces"}}'

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(body[:20])
        await asyncio.sleep(0.05)
        await resp.write(body[20:])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        made = await plan(request(tmp_path, numbers(2)), endpoint_identity="pieces")
        summary = await Job(made, target_for(str(server.make_url("/")))).run()
    finally:
        await server.close()
    assert summary.by_status == {"normal": 2} and summary.requests == 2


async def test_cancelling_a_job_leaves_no_worker_sending(tmp_path: Path) -> None:
    made = await plan(request(tmp_path, numbers(300)), endpoint_identity="scripted")
    script = Script(delay=0.01)
    target = target_for("http://127.0.0.1:9", identity="scripted")
    task = asyncio.create_task(Job(made, target, verifier=script, gate=StrictGate(100)).run())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    calls = script.calls.total()
    await asyncio.sleep(0.5)
    assert 0 < calls == script.calls.total() < 300
