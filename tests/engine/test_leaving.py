"""A request counts from when its bytes leave, not from when the gate let it start: a send that left
late (a descheduled process, a new connection's handshake) is moved in the window's log, so the
server's window and ours count it from the same moment. Real files, a real aiohttp server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from batchverify.engine.gate import StrictGate
from batchverify.engine.ratestore import HostWindow, MemoryWindow
from batchverify.tencent.client import Endpoint, MobileStatusClient, make_session, on_request_leaving
from batchverify.tencent.credentials import Credentials


def test_a_moved_send_counts_from_when_it_left_in_memory() -> None:
    now = [0.0]
    window = MemoryWindow(clock=lambda: now[0])

    async def steps() -> list[float]:
        waits = []
        _, first = await window.take_stamped(2, 1.0)
        now[0] = 0.1
        await window.take_stamped(2, 1.0)
        await window.moved(first, 0.5)  # the first left at 0.5, not at 0.0
        now[0] = 1.05
        waits.append(await window.take(2, 1.0))  # unmoved, the oldest (0.0) would free a slot at 1.0
        now[0] = 1.2
        waits.append(await window.take(2, 1.0))
        return waits

    waits = asyncio.run(steps())
    assert abs(waits[0] - 0.05) < 1e-9 and waits[1] == 0.0


def test_a_moved_send_is_seen_moved_by_another_process_window(tmp_path: Path) -> None:
    path = tmp_path / "w.window"
    mine, theirs = HostWindow(path), HostWindow(path)

    async def steps() -> tuple[float, float]:
        wait, stamp = await mine.take_stamped(1, 0.5)
        assert wait == 0.0 and isinstance(stamp, float)
        await mine.moved(stamp, 0.3)
        return stamp, await theirs.take(1, 0.5)

    stamp, wait = asyncio.run(steps())
    expected = stamp + 0.3 + 0.5 - time.monotonic()
    assert wait > 0.5 and abs(wait - expected) < 0.05  # the other process waits for the moved send


def test_the_gate_moves_a_late_send_and_leaves_a_prompt_one() -> None:
    now = [10.0]
    window = MemoryWindow(clock=lambda: now[0])
    gate = StrictGate(20, clock=lambda: now[0], store=window)

    async def steps() -> list[float]:
        prompt = await gate.acquire()
        gate.left(prompt)  # no time passed: stays where it was logged
        late = await gate.acquire()
        now[0] += 0.2
        gate.left(late)
        await asyncio.sleep(0)  # the move runs as a task
        await asyncio.gather(*gate._moving)
        return list(window._times)

    times = asyncio.run(steps())
    assert times == [10.0, 10.2]


async def test_the_client_says_once_when_a_request_leaves() -> None:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"Response": {"Result": "0", "StatusCode": 0, "RequestId": "r"}})

    app = web.Application()
    app.router.add_post("/", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    heard: list[float] = []
    try:
        async with make_session(connections=2) as session:
            client = MobileStatusClient(
                session, Endpoint.parse(str(server.make_url("/"))), Credentials("AKIDx", "k")
            )
            token = on_request_leaving.set(lambda: heard.append(time.monotonic()))
            try:
                started = time.monotonic()
                await client.query("13800000000")
                replied = time.monotonic()
            finally:
                on_request_leaving.reset(token)
            await client.query("13800000001")  # nobody listening: nothing heard, nothing breaks
    finally:
        await server.close()
    assert len(heard) == 1 and started <= heard[0] <= replied


def test_a_host_window_that_failed_moves_the_send_its_fallback_logged(tmp_path: Path) -> None:
    window = HostWindow(tmp_path / "w.window")
    assert not window.down
    fallback = window._fail(OSError(5, "Input/output error"))  # what a full disk or a lost folder does
    assert window.down  # what serve's /readyz reports

    async def steps() -> None:
        wait, stamp = await window.take_stamped(20, 1.0)
        assert wait == 0.0
        await window.moved(stamp, 0.2)

    asyncio.run(steps())
    assert len(fallback._times) == 1  # moved, not logged twice
