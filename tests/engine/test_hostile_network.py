"""A run against servers that are not what they claim: answers are evidence, never trusted.

Each test runs a whole job (the real client, the real gate) against an aiohttp server on 127.0.0.1
that misbehaves in one way, and checks what the job sends, stores and writes."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from batchverify import Options
from batchverify.build import connect, prepare
from batchverify.engine.gate import StrictGate
from batchverify.engine.summary import Summary
from batchverify.tencent.credentials import Credentials
from tests.support.tables import spread_numbers, write_list

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/"))

    yield start
    for server in servers:
        await server.close()


def tencent_error(code: str, message: str, request_id: str = "r-1") -> web.Response:
    body = {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}
    return web.json_response(body)


async def run_job(
    url: str, source: Path, *, throttle_bound: float | None = None, **values: object
) -> Summary:
    options = Options(endpoint=url, credentials=Credentials("AKIDtest", "key"), rate_store="memory", **values)
    with connect(options) as target:
        if throttle_bound is not None:
            send = dataclasses.replace(target.send, throttle_bound=throttle_bound)
            target = dataclasses.replace(target, send=send)
        job = await prepare(options, target, source, gate=StrictGate(20))
        return await job.run()


async def test_throttling_that_never_clears_backs_off_and_stops_within_its_bound(
    tmp_path: Path, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    """A server that answers RequestLimitExceeded to everything: the sends slow down (growing pauses,
    the gate held longer) and the run stops at the bound with every row pending, instead of knocking
    at the limit for ever."""
    sent: list[float] = []

    async def throttle(request: web.Request) -> web.Response:
        await request.read()
        sent.append(time.monotonic())
        return tencent_error("RequestLimitExceeded", "too many requests")

    url = await serve(throttle)
    source = write_list(tmp_path / "in.csv", spread_numbers(200))
    started = time.monotonic()
    summary = await run_job(url, source, throttle_bound=4.0)
    took = time.monotonic() - started
    assert summary.stop_reason == "throttled" and summary.outcome == "incomplete"
    assert summary.exit_code == 8 and summary.to_dict()["exit_code"] == 8  # the command line's too
    assert summary.error is not None and "RequestLimitExceeded for 4 s" in summary.error
    assert summary.by_status.get("pending") == 200 and summary.billable_calls == 0
    assert 4.0 <= took < 12.0
    # Knocking slows down: a handful of sends in the whole time (one 0.25 s hold per refusal would
    # allow four a second), the pauses growing to a second and more.
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert 3 <= len(sent) <= 20 and max(gaps) >= 1.0, (len(sent), gaps)


HOSTILE_TEXT = "正常😀\x1b]0;owned\x07\x1b[2J\r\n2026-12-07T00:00:00Z batchverify INFO forged\u202eevil\x00"


async def test_api_text_is_written_holdable_and_without_control_characters(
    tmp_path: Path, serve: Callable[[Handler], Awaitable[str]], caplog: pytest.LogCaptureFixture
) -> None:
    """A Description and an error Message carrying an emoji (into a GBK CSV), terminal escapes, a
    bare CR and a newline that forges a log line: the output is written, readable as GBK, one line
    per row, with no control character from the server, and the next run is complete from it."""
    phones = spread_numbers(6)

    async def hostile(request: web.Request) -> web.Response:
        number = json.loads(await request.read())["Mobile"]
        if number == phones[0]:
            return tencent_error("InvalidParameterValue", HOSTILE_TEXT)
        body = {"Result": "0", "StatusCode": 1, "Description": HOSTILE_TEXT, "RequestId": f"r-{number}"}
        return web.json_response({"Response": body})

    url = await serve(hostile)
    source = tmp_path / "in.csv"
    source.write_bytes(
        "name,phone\n".encode("gbk") + "".join(f"客户{i},{p}\n" for i, p in enumerate(phones)).encode("gbk")
    )
    summary = await run_job(url, source, encoding="gbk", output_encoding="gbk")
    assert summary.outcome == "incomplete" and summary.billable_calls == 5
    out = tmp_path / "in.verified.csv"
    text = out.read_bytes().decode("gbk")
    lines = text.split("\n")
    assert len([line for line in lines if line]) == 7
    forbidden = [ch for ch in text if not ch.isprintable() and ch not in "\n\r"]
    assert forbidden == []
    assert "\r" not in text.replace("\r\n", "")
    assert "正常?" in text and "\ufffd" not in text.encode("gbk", "replace").decode("gbk")
    for record in caplog.records:
        message = record.getMessage()
        assert "\x1b" not in message and "\n" not in message and "\r" not in message
    again = await run_job(url, source, encoding="gbk", output_encoding="gbk")
    assert again.output_error is None and again.billable_calls == 0
