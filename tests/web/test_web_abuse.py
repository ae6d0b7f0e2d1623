"""The upload server's HTTP surface under a hostile client, over real sockets: a malformed or cut
short multipart body, an upload that stalls, many uploads at once. Every such request gets a 4xx
with the API's JSON error, and nothing of it is kept on disk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from batchverify.web import upload as upload_module
from batchverify.web.routes import MANAGER as MANAGER_KEY
from tests.support.web import AUTH, TOKEN, make_client, numbers_csv, upload, wait_done, wait_state, web_sim

__all__ = ["make_client", "web_sim"]  # fixtures used below

pytestmark = pytest.mark.timeout(120)

BOUNDARY = "XyZ"


async def _raw(
    client: Any, body: bytes, *, length: int | None = None, pause: float = 0.0
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to /api/jobs over a socket of our own (so it can lie, stall or stop short)."""
    server = client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = (
        f"POST /api/jobs HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        f"Authorization: {AUTH['Authorization']}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
    ).encode()
    writer.write(head + body)
    await writer.drain()
    if pause:
        await asyncio.sleep(pause)
    raw = await asyncio.wait_for(reader.read(), timeout=60)
    writer.close()
    status = int(raw.split(b" ", 2)[1])
    headers, _, payload = raw.partition(b"\r\n\r\n")
    assert b"application/json" in headers or b"application/problem+json" in headers, raw[:400]
    return status, json.loads(payload)


def _part(name: str, data: bytes, filename: str | None = None, extra: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{extra}\r\n".encode() + data + b"\r\n"


def _jobs_left(tmp_path: Path) -> list[str]:
    root = tmp_path / "data" / "jobs"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


async def test_a_part_header_over_the_line_limit_is_a_json_400(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    body = _part("file", b"phone\n13800138000\n", "list.csv", extra=f"X-Padding: {'a' * 20_000}\r\n")
    status, doc = await _raw(client, body + f"--{BOUNDARY}--\r\n".encode())
    assert status == 400 and doc["code"] == "bad_multipart", doc
    assert _jobs_left(tmp_path) == []


async def test_a_body_without_its_closing_boundary_is_a_json_400(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    body = _part("file", b"phone\n13800138000\n" * 100, "list.csv")  # never closed
    status, doc = await _raw(client, body)
    assert status == 400 and doc["code"] in ("bad_multipart", "no_file"), doc
    assert _jobs_left(tmp_path) == []


async def test_an_upload_that_stalls_is_dropped_and_leaves_nothing(
    make_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload_module, "IDLE_SECONDS", 1.0)
    client = await make_client()
    body = _part("file", b"phone\n13800138000\n", "list.csv")
    # Says 10,000 bytes are coming, sends a few dozen, then nothing.
    status, doc = await _raw(client, body, length=10_000)
    assert status == 400 and doc["code"] == "upload_too_slow", doc
    assert _jobs_left(tmp_path) == []


async def test_uploads_beyond_the_cap_are_told_to_come_back(make_client: Any, tmp_path: Path) -> None:
    """Two stalled uploads from one client hold its share; a third is 429 with Retry-After, at once."""
    client = await make_client()
    server = client.server
    stalled = []
    for _ in range(2):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        body = _part("file", b"phone\n13800138000\n", "list.csv")
        writer.write(
            (
                f"POST /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 100000\r\n\r\n"
            ).encode()
            + body
        )
        await writer.drain()
        stalled.append((reader, writer))
    await asyncio.sleep(0.5)
    form_body = _part("file", b"phone\n13800138000\n", "list.csv") + f"--{BOUNDARY}--\r\n".encode()
    status, doc = await _raw(client, form_body)
    assert status == 429 and doc["code"] == "busy_uploads", doc
    for _, writer in stalled:
        writer.close()
    await asyncio.sleep(0.5)
    status, doc = await _raw(client, form_body)  # the stalled ones gave their places back
    assert status == 201, doc


@pytest.mark.parametrize("damage", [b"", b"[]", b'{"id": "truncat'])
async def test_a_job_whose_record_is_damaged_is_listed_and_its_answers_kept(
    make_client: Any, web_sim: Any, tmp_path: Path, damage: bytes
) -> None:
    """After a restart, a job whose job.json is truncated or replaced is listed as damaged (and
    logged), its result still downloads, and starting it again pays for nothing."""
    client = await make_client()
    listed = numbers_csv(tmp_path / "list.csv", 8)
    job_id = (await (await upload(client, listed)).json())["id"]
    assert (await client.post(f"/api/jobs/{job_id}/start", headers=AUTH)).status == 202
    await wait_state(client, job_id, ("finished",))
    billed = web_sim.ledger()["billed"]
    await client.close()
    (tmp_path / "data" / "jobs" / job_id / "job.json").write_bytes(damage)

    again = await make_client()
    jobs = (await (await again.get("/api/jobs", headers=AUTH)).json())["jobs"]
    [doc] = [j for j in jobs if j["id"] == job_id]
    assert doc["state"] == "finished" and "damaged" in doc["error"]
    result = await again.get(f"/api/jobs/{job_id}/result", headers=AUTH)
    assert result.status == 200 and b"normal" in await result.read()
    # Every number has its answer: starting it again would pay again, so it is refused.
    assert (await again.post(f"/api/jobs/{job_id}/start", headers=AUTH)).status == 409
    assert web_sim.ledger()["billed"] == billed


async def test_an_interrupted_job_whose_record_is_damaged_resumes_without_paying_twice(
    make_client: Any, web_sim: Any, tmp_path: Path
) -> None:
    client = await make_client()
    listed = numbers_csv(tmp_path / "list.csv", 60)
    job_id = (await (await upload(client, listed)).json())["id"]
    assert (await client.post(f"/api/jobs/{job_id}/start", headers=AUTH)).status == 202
    await wait_done(client, job_id, 10)
    await client.post(f"/api/jobs/{job_id}/stop", headers=AUTH)
    await wait_state(client, job_id, ("stopped",))
    await client.close()
    (tmp_path / "data" / "jobs" / job_id / "job.json").write_bytes(b"[]")
    again = await make_client()
    doc = await (await again.get(f"/api/jobs/{job_id}", headers=AUTH)).json()
    assert doc["state"] == "stopped" and "damaged" in doc["error"]
    assert (await again.post(f"/api/jobs/{job_id}/start", headers=AUTH)).status == 202
    await wait_state(again, job_id, ("finished",))
    billed = web_sim.ledger()["billed_by_number"]
    assert len(billed) == 60 and set(billed.values()) == {1}


async def test_a_job_being_deleted_cannot_be_started_again(make_client: Any, tmp_path: Path) -> None:
    client = await make_client(rate=5.0)
    job_id = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 40))).json())["id"]
    await client.post(f"/api/jobs/{job_id}/start", headers=AUTH)
    await wait_done(client, job_id, 2)
    deleting = asyncio.ensure_future(client.delete(f"/api/jobs/{job_id}", headers=AUTH))
    await asyncio.sleep(0.05)
    restart = await client.post(f"/api/jobs/{job_id}/start", headers=AUTH)
    assert restart.status == 404
    assert (await deleting).status == 204
    await asyncio.sleep(1.0)
    assert _jobs_left(tmp_path) == []


async def test_slow_headers_and_too_many_connections_cost_nothing(tmp_path: Path, web_sim: Any) -> None:
    """A client that sends a header byte every half second is cut at the header deadline; one
    address holding more connections than allowed gets the next one closed at once."""
    from aiohttp import web

    from batchverify.web.app import create_app
    from batchverify.web.guard import guard_connections
    from tests.support.web import settings_for

    runner = web.AppRunner(create_app(settings_for(web_sim, tmp_path / "data")))
    await runner.setup()
    assert runner.server is not None
    guard_connections(runner.server, header_seconds=1.5, per_client=3)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = asyncio.get_running_loop().time()
        closed_at = None
        for byte in b"GET /api/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                closed_at = asyncio.get_running_loop().time()
                break
            if reader.at_eof() or (await _closed(reader)):
                closed_at = asyncio.get_running_loop().time()
                break
            await asyncio.sleep(0.5)
        assert closed_at is not None and closed_at - started < 4.0
        writer.close()
        # One quick request, then a second one never finished on the same connection: cut too.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\nGET /login HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), timeout=6)  # the first answer, then the close
        assert rest.startswith(b"HTTP/1.1 200") and rest.count(b"HTTP/1.1") == 1
        writer.close()
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(extra_reader.read(), timeout=5) == b""  # closed at once
        extra_writer.close()
        for _, w in held:
            w.close()
        await asyncio.sleep(0.3)
        ok_reader, ok_writer = await asyncio.open_connection("127.0.0.1", port)  # places given back
        ok_writer.write(b"GET /api/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(ok_reader.read(), timeout=5)).startswith(b"HTTP/1.1 401")
        ok_writer.close()
    finally:
        await runner.cleanup()


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(1), timeout=0.01)
    except TimeoutError:
        return False
    return data == b""


async def test_a_record_with_a_field_of_the_wrong_type_is_rebuilt_not_fatal(
    make_client: Any, tmp_path: Path
) -> None:
    client = await make_client()
    job_id = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 3))).json())["id"]
    await client.close()
    record = tmp_path / "data" / "jobs" / job_id / "job.json"
    doc = json.loads(record.read_text())
    doc["created_at"] = 5  # valid JSON, wrong type
    record.write_text(json.dumps(doc))
    again = await make_client()
    listed = (await (await again.get("/api/jobs", headers=AUTH)).json())["jobs"]
    assert [j["id"] for j in listed] == [job_id] and "damaged" in listed[0]["error"]


async def test_odd_bytes_in_credentials_are_a_wrong_token_never_a_500(make_client: Any) -> None:
    client = await make_client()
    server = client.server
    for header in (b"Authorization: Bearer \xff\xfe", b"Cookie: batchverify_session=\xff\xfe"):
        for path in (b"/", b"/login", b"/api/jobs"):
            reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(
                b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n"
            )
            raw = await asyncio.wait_for(reader.read(), timeout=10)
            writer.close()
            status = int(raw.split(b" ", 2)[1])
            assert status in (200, 303, 401), (header, path, raw[:200])


async def test_a_new_token_ends_every_session_and_logout_ends_open_streams(
    make_client: Any, tmp_path: Path
) -> None:
    client = await make_client()
    await client.post("/login", data={"token": TOKEN})
    cookie = {c.key: c.value for c in client.session.cookie_jar}["batchverify_session"]
    job_id = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 3))).json())["id"]
    own = f"http://{client.server.host}:{client.server.port}"
    async with client.get(f"/api/jobs/{job_id}/events") as stream:
        assert (await asyncio.wait_for(stream.content.readline(), 10)).startswith(b"event: job")
        await client.post("/logout", headers={"Origin": own})
        for job in client.server.app[MANAGER_KEY].jobs.values():
            job.notify()
        rest = await asyncio.wait_for(stream.content.read(), 10)  # the stream ends
        assert b"event: job" not in rest
    await client.close()
    rotated = await make_client(token="another-token-0123456789abcdef0123456789")
    assert (await rotated.get("/api/jobs", headers={"Cookie": f"batchverify_session={cookie}"})).status == 401


async def test_behind_a_trusted_proxy_the_brake_holds_each_client_not_everyone(make_client: Any) -> None:
    """Behind the proxy every request comes from 127.0.0.1: with --trusted-proxy the brake counts the
    client X-Forwarded-For names, so one stranger's guesses do not lock the others out. From anyone
    else the header is ignored (a forged one never escapes the brake)."""
    client = await make_client(trusted_proxies=frozenset({"127.0.0.1"}))
    stranger = {"X-Forwarded-For": "198.51.100.66, 203.0.113.5"}  # what the proxy appends comes last
    guesses = [
        (await client.post("/login", data={"token": f"g{i}"}, headers=stranger, allow_redirects=False)).status
        for i in range(7)
    ]
    assert guesses[-1] == 429
    colleague = {"X-Forwarded-For": "203.0.113.9"}
    ok = await client.post("/login", data={"token": TOKEN}, headers=colleague, allow_redirects=False)
    assert ok.status == 303
    await client.close()

    direct = await make_client()  # no trusted proxy: the header is anybody's word, and ignored
    forged = [
        (
            await direct.post(
                "/login",
                data={"token": f"g{i}"},
                headers={"X-Forwarded-For": f"192.0.2.{i}"},
                allow_redirects=False,
            )
        ).status
        for i in range(7)
    ]
    assert forged[-1] == 429
