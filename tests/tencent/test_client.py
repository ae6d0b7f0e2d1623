"""The client against real servers on 127.0.0.1: every way a call can end becomes a typed reply."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from batchverify.core import signing
from batchverify.core.classify import CallKind, classify
from batchverify.errors import FatalApiError, UsageError
from batchverify.models import BadReply, BusinessReply, ErrorReply, TransportFailure
from batchverify.simulator import SimConfig, SimulatorServer
from batchverify.simulator.decrypt import simulator_public_key
from batchverify.tencent import crypto
from batchverify.tencent.client import Endpoint, MobileStatusClient, make_session, parse_reply
from batchverify.tencent.credentials import Credentials

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
def sim() -> SimulatorServer:
    with SimulatorServer(SimConfig(rate_limit=0, seed=3)) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with make_session(connections=8, connect_timeout=5.0, read_timeout=1.0) as s:
        yield s


def client_for(
    session: aiohttp.ClientSession, url: str, creds: Credentials, **kw: object
) -> MobileStatusClient:
    return MobileStatusClient(session, Endpoint.parse(url), creds, **kw)  # type: ignore[arg-type]


def demo(server: SimulatorServer) -> Credentials:
    return Credentials(server.cfg.secret_id, server.cfg.secret_key)


async def test_business_answers_from_the_simulator(
    sim: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    client = client_for(session, sim.url, demo(sim))
    reply = await client.query("13800138000")
    assert isinstance(reply, BusinessReply)
    assert (reply.result, reply.status_code, reply.description) == ("0", 1, "Success")
    assert len(reply.request_id) == 36
    bad = await client.query("16137688175")
    assert isinstance(bad, BusinessReply) and (bad.result, bad.status_code) == ("-2", 99)
    busy = await client.query("13900000003")
    assert classify(busy) is CallKind.BUSY


async def test_error_kinds_from_the_simulator(sim: SimulatorServer, session: aiohttp.ClientSession) -> None:
    client = client_for(session, sim.url, demo(sim))
    row_error = await client.query("13700000001")
    assert isinstance(row_error, ErrorReply) and row_error.code == "InvalidParameterValue"
    assert classify(row_error) is CallKind.ROW_ERROR and row_error.request_id
    server_error = await client.query("13700000002")
    assert isinstance(server_error, ErrorReply) and classify(server_error) is CallKind.SERVER
    gateway = await client.query("13700000004")
    assert isinstance(gateway, BadReply) and gateway.http_status == 502
    assert classify(gateway) is CallKind.SERVER
    dropped = await client.query("13700000007")
    assert isinstance(dropped, TransportFailure) and dropped.maybe_sent
    assert classify(dropped) is CallKind.UNCERTAIN
    arrears = await client.query("13700000009")
    assert isinstance(arrears, ErrorReply) and arrears.code == "UnauthorizedOperation.Arrears"
    assert classify(arrears) is CallKind.FATAL


async def test_auth_failures_are_fatal(sim: SimulatorServer, session: aiohttp.ClientSession) -> None:
    wrong_key = client_for(session, sim.url, Credentials(sim.cfg.secret_id, "not-the-key"))
    reply = await wrong_key.query("13800138000")
    assert isinstance(reply, ErrorReply) and reply.code == "AuthFailure.SignatureFailure"
    assert classify(reply) is CallKind.FATAL
    unknown = client_for(session, sim.url, Credentials("AKIDunknown000000000000000000000000", "k"))
    reply = await unknown.query("13800138000")
    assert isinstance(reply, ErrorReply) and reply.code == "AuthFailure.SecretIdNotFound"
    stale = client_for(session, sim.url, demo(sim), clock=lambda: 1_000_000_000.0)
    reply = await stale.query("13800138000")
    assert isinstance(reply, ErrorReply) and reply.code == "AuthFailure.SignatureExpire"


async def test_rate_limit_is_throttled(session: aiohttp.ClientSession) -> None:
    with SimulatorServer(SimConfig(rate_limit=3)) as server:
        client = client_for(session, server.url, demo(server))
        replies = await asyncio.gather(*(client.query(f"1380000{i:04d}") for i in range(8)))
    kinds = [classify(r) for r in replies]
    assert kinds.count(CallKind.THROTTLED) == 5
    assert kinds.count(CallKind.ANSWER) == 3


async def test_encrypted_numbers_get_the_clear_answer(
    sim: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    clear = await client_for(session, sim.url, demo(sim)).query("13800000002")
    for algorithm in ("AES-256-CBC", "SM4-GCM"):
        enc = crypto.Encryptor(algorithm, simulator_public_key(algorithm))
        reply = await client_for(session, sim.url, demo(sim), encryptor=enc).query("13800000002")
        assert isinstance(reply, BusinessReply) and isinstance(clear, BusinessReply)
        assert (reply.result, reply.status_code) == (clear.result, clear.status_code)


async def test_connection_refused_was_not_sent(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the call: nothing listens there
    reply = await client_for(session, f"http://127.0.0.1:{port}", Credentials("id", "key")).query(
        "13800138000"
    )
    assert isinstance(reply, TransportFailure) and not reply.maybe_sent
    assert classify(reply) is CallKind.NOT_SENT


async def raw_server(handler: Handler) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_read_timeout_is_uncertain(session: aiohttp.ClientSession) -> None:
    async def slow(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(3)
        return web.json_response({})

    server = await raw_server(slow)
    try:
        reply = await client_for(session, str(server.make_url("/")), Credentials("id", "key")).query(
            "13800138000"
        )
    finally:
        await server.close()
    assert isinstance(reply, TransportFailure) and reply.maybe_sent
    assert "Timeout" in reply.detail


@pytest.mark.parametrize(
    ("status", "body", "ctype", "expected"),
    [
        (200, b"<html>oops</html>", "text/html", BadReply),
        (200, b'{"Response": {"RequestId": "r"}}', "application/json", BadReply),
        (200, b'{"Response": {"Result": "0", "StatusCode": "x"}}', "application/json", BusinessReply),
        (200, b"[]", "application/json", BadReply),
        (503, b"Service Unavailable", "text/plain", BadReply),
        # A well-formed answer under another content type is still an answer.
        (
            200,
            b'{"Response": {"Result": "0", "StatusCode": 4, "RequestId": "r"}}',
            "text/plain",
            BusinessReply,
        ),
    ],
)
async def test_malformed_replies(
    session: aiohttp.ClientSession, status: int, body: bytes, ctype: str, expected: type
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type=ctype)

    server = await raw_server(handler)
    try:
        reply = await client_for(session, str(server.make_url("/")), Credentials("id", "key")).query(
            "13800138000"
        )
    finally:
        await server.close()
    assert isinstance(reply, expected)
    if expected is BadReply:
        assert classify(reply) is CallKind.SERVER


async def test_request_headers_and_signature(session: aiohttp.ClientSession) -> None:
    seen: dict[str, object] = {}

    async def echo(request: web.Request) -> web.Response:
        seen["headers"] = dict(request.headers)
        seen["body"] = await request.read()
        return web.json_response({"Response": {"Result": "0", "StatusCode": 0, "RequestId": "r"}})

    server = await raw_server(echo)
    try:
        creds = Credentials("AKIDexample", "secret", token="tok")
        client = client_for(session, str(server.make_url("/")), creds, clock=lambda: 1551113065.0)
        await client.query("13800138000")
    finally:
        await server.close()
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-TC-Action"] == "MobileStatus"
    assert headers["X-TC-Version"] == "2018-03-01"
    assert headers["X-TC-Timestamp"] == "1551113065"
    assert headers["X-TC-Language"] == "en-US"
    assert headers["X-TC-Token"] == "tok"
    assert headers["X-TC-RequestClient"].startswith("batchverify/")
    assert json.loads(seen["body"]) == {"Mobile": "13800138000"}  # type: ignore[arg-type]
    expected = signing.authorization(
        secret_id="AKIDexample",
        secret_key="secret",
        service="faceid",
        timestamp=1551113065,
        method="POST",
        host=headers["Host"],
        content_type="application/json",
        payload=seen["body"],  # type: ignore[arg-type]
    )
    assert headers["Authorization"] == expected


def test_parse_reply_accepts_numeric_result() -> None:
    reply = parse_reply(200, "application/json", b'{"Response":{"Result":0,"StatusCode":1,"RequestId":"r"}}')
    assert reply == BusinessReply("0", 1, "", "r")


@pytest.mark.parametrize(
    ("value", "url", "host"),
    [
        (
            "https://faceid.tencentcloudapi.com",
            "https://faceid.tencentcloudapi.com/",
            "faceid.tencentcloudapi.com",
        ),
        (
            "faceid.intl.tencentcloudapi.com",
            "https://faceid.intl.tencentcloudapi.com/",
            "faceid.intl.tencentcloudapi.com",
        ),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/", "127.0.0.1:8080"),
    ],
)
def test_endpoint_parse(value: str, url: str, host: str) -> None:
    assert Endpoint.parse(value) == Endpoint(url, host)


@pytest.mark.parametrize("value", ["ftp://x", "https://x/path", "http://"])
def test_bad_endpoints(value: str) -> None:
    with pytest.raises(UsageError):
        Endpoint.parse(value)


async def test_a_redirect_is_an_endpoint_error_and_nothing_goes_elsewhere(
    session: aiohttp.ClientSession,
) -> None:
    """The API never redirects: a 307 stops the job (FatalApiError, exit 3 on the command line),
    the Location named, and the signed request never reaches the other host."""
    reached: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        reached.append(await request.text())
        return web.json_response({"Response": {"Result": "0", "StatusCode": 0, "RequestId": "forged"}})

    other = await raw_server(elsewhere)

    async def redirect(request: web.Request) -> web.Response:
        await request.read()
        raise web.HTTPTemporaryRedirect(str(other.make_url("/")) + "\r\nX-Forged: 1")

    first = await raw_server(redirect)
    try:
        with pytest.raises(FatalApiError) as stopped:
            await client_for(session, str(first.make_url("/")), Credentials("id", "key")).query("13800138000")
    finally:
        await first.close()
        await other.close()
    assert stopped.value.code == "EndpointRedirect" and "HTTP 307" in str(stopped.value)
    assert "\r" not in str(stopped.value) and "\n" not in str(stopped.value)
    assert reached == []


async def test_a_reply_that_trickles_in_is_cut_at_the_timeout(session: aiohttp.ClientSession) -> None:
    """--timeout is the most one call takes, connect to last byte: a server that sends a byte every
    half second (never idle long enough for a read timeout) is cut at it (1 s here)."""

    async def trickle(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(20):
            await response.write(b" ")
            await asyncio.sleep(0.5)
        await response.write(b'{"Response": {"Result": "0", "StatusCode": 0, "RequestId": "late"}}')
        return response

    server = await raw_server(trickle)
    started = time.monotonic()
    try:
        reply = await client_for(session, str(server.make_url("/")), Credentials("id", "key")).query(
            "13800138000"
        )
    finally:
        await server.close()
    assert isinstance(reply, TransportFailure) and reply.maybe_sent
    assert time.monotonic() - started < 2.5


def test_a_status_code_of_non_ascii_digits_is_a_problem_not_a_crash() -> None:
    """ "²" is a digit to str.isdigit() but not to int(): the billed answer is kept, with its problem."""
    body = json.dumps({"Response": {"Result": "0", "StatusCode": "²", "RequestId": "r"}}).encode()
    reply = parse_reply(200, "application/json", body)
    assert isinstance(reply, BusinessReply) and reply.status_code is None and "StatusCode" in reply.problem
