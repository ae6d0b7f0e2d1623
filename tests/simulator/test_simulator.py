"""The simulator against the official SDK (sync and async) and a raw signed aiohttp client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.faceid.v20180301.faceid_client import FaceidClient

from batchverify.errors import UsageError
from batchverify.simulator import (
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    SimConfig,
    SimulatorServer,
    banner,
    parse_latency,
    serve_forever,
    unflatten,
)
from tests.support.sim import (
    common_client,
    host_of,
    mobile_request,
    no_proxy,
    raw_call,
    sdk_client,
    sdk_error,
    sim,
)

__all__ = ["no_proxy", "sim"]  # fixtures used by name


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


# --- the official SDK ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_documented_examples_with_sdk(sim: SimulatorServer, method: str) -> None:
    client = sdk_client(sim, method)
    ok = client.MobileStatus(mobile_request("13800138000"))
    assert (ok.Result, ok.StatusCode, ok.Description) == ("0", 1, "成功")
    bad = client.MobileStatus(mobile_request("16137688175"))
    assert (bad.Result, bad.StatusCode, bad.Description) == ("-2", 99, "手机号格式不正确")
    assert uuid.UUID(ok.RequestId).version == 4 and ok.RequestId != bad.RequestId
    english = sdk_client(sim, method, language="en-US").MobileStatus(mobile_request("16137688175"))
    assert english.Description == "Invalid phone number format"
    ledger = sim.ledger()
    assert ledger["billed"] == 1 and ledger["results"] == {"0": 1, "-2": 2}


def test_sdk_authentication_failures(no_proxy: None) -> None:
    with SimulatorServer(SimConfig(clock=lambda: time.time() + 400)) as stale:
        err = sdk_error(sdk_client(stale), mobile_request("13800138000"))
        assert err.get_code() == "AuthFailure.SignatureExpire"
        assert err.get_message() == "The signature is expired, please request again."
        assert uuid.UUID(err.get_request_id()).version == 4
    with SimulatorServer(SimConfig(clock=lambda: time.time() - 250)) as skewed:
        assert skewed and sdk_client(skewed).MobileStatus(mobile_request("13800138000")).Result == "0"
    with SimulatorServer() as server:
        wrong_key = sdk_error(sdk_client(server, secret_key="x" * 32), mobile_request("13800138000"))
        assert wrong_key.get_code() == "AuthFailure.SignatureFailure"
        unknown = sdk_error(sdk_client(server, secret_id="AKID" + "0" * 32), mobile_request("13800138000"))
        assert unknown.get_code() == "AuthFailure.SecretIdNotFound"
        assert server.ledger()["errors_by_code"] == {
            "AuthFailure.SignatureFailure": 1,
            "AuthFailure.SecretIdNotFound": 1,
        }


def test_sdk_action_version_and_parameter_errors(sim: SimulatorServer) -> None:
    client = common_client(sim)
    assert sdk_error(client, "DescribeThings", {"Mobile": "13800138000"}).get_code() == "InvalidAction"
    assert sdk_error(common_client(sim, "2019-01-01"), "MobileStatus", {}).get_code() == "NoSuchVersion"
    assert sdk_error(client, "MobileStatus", {}).get_code() == "MissingParameter"
    assert sdk_error(client, "MobileStatus", {"Mobile": 13800138000}).get_code() == "InvalidParameter"
    extra = sdk_error(client, "MobileStatus", {"Mobile": "13800138000", "Name": "x"})
    assert extra.get_code() == "UnknownParameter"
    unsigned = common_client(sim)
    unsigned.profile.unsignedPayload = True  # X-TC-Content-SHA256: UNSIGNED-PAYLOAD
    assert unsigned.call_json("MobileStatus", {"Mobile": "16137688175"})["Response"]["Result"] == "-2"
    get_client = common_client(sim, method="GET")
    assert get_client.call_json("MobileStatus", {"Mobile": "13800138000"})["Response"]["Result"] == "0"
    assert sim.ledger()["calls_by_number"] == {"13800138000": 1, "16137688175": 1}


def _burst(server: SimulatorServer, size: int) -> list[str]:
    clients = [sdk_client(server) for _ in range(size)]
    barrier = threading.Barrier(size)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        barrier.wait()
        try:
            outcome = clients[index].MobileStatus(mobile_request(f"1380000000{index % 2}")).Result
        except Exception as exc:  # the SDK's exception carries the API code
            outcome = f"{exc.get_code()}|{exc.get_message()}"  # type: ignore[attr-defined]
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_burst_of_30_gets_exactly_20_through(sim: SimulatorServer) -> None:
    sdk_client(sim).MobileStatus(mobile_request("13800000000"))  # warm the SDK's lazy imports
    for _ in range(3):
        sim.reset()
        outcomes = _burst(sim, 30)
        # The claim needs all 30 arrivals inside one second; a loaded CI box may spread them.
        if sim.ledger()["max_in_any_second"] == 30:
            break
    accepted = [o for o in outcomes if o == "0"]
    limited = [o for o in outcomes if o.startswith("RequestLimitExceeded|")]
    ledger = sim.ledger()
    assert len(accepted) + len(limited) == 30 and ledger["rate_limited"] == len(limited)
    assert ledger["max_accepted_in_any_second"] <= 20 and ledger["billed"] == len(accepted)
    assert set(limited) <= {
        "RequestLimitExceeded|Your current request times equals to `21` in a second, "
        "which exceeds the frequency limit `20`"
    }
    if ledger["max_in_any_second"] == 30:  # else the box was too slow to burst; the above still holds
        assert len(accepted) == 20 and len(limited) == 10
        assert ledger["max_accepted_in_any_second"] == 20


async def test_async_sdk_client(sim: SimulatorServer) -> None:
    pytest.importorskip("httpx")
    from tencentcloud.faceid.v20180301 import faceid_client_async

    hp = HttpProfile(protocol="http", endpoint=host_of(sim), reqTimeout=10)
    cred = credential.Credential(DEMO_SECRET_ID, DEMO_SECRET_KEY)
    async with faceid_client_async.FaceidClient(cred, "", ClientProfile(httpProfile=hp)) as client:
        reply = await client.MobileStatus(mobile_request("13800138000"))
    assert (reply.Result, reply.StatusCode) == ("0", 1)


# --- raw signed requests ------------------------------------------------------------------------


async def test_reply_format_and_early_checks(sim: SimulatorServer, session: aiohttp.ClientSession) -> None:
    ok = await raw_call(session, sim, {"Mobile": "13800138000"}, path="/?")
    assert ok.status == 200 and ok.content_type == "application/json"
    assert b" " not in ok.body and ok.response["Description"] == "Success"
    error = await raw_call(session, sim, {"Mobile": "13800138000"}, secret_key="nope")
    assert error.content_type == "application/json" and error.error_code == "AuthFailure.SignatureFailure"
    assert set(error.response) == {"Error", "RequestId"}
    put = await raw_call(session, sim, {"Mobile": "13800138000"}, method="PUT")
    assert put.error_code == "UnsupportedProtocol"
    bearer = await raw_call(session, sim, {"Mobile": "1"}, authorization="Bearer abc")
    assert bearer.error_code == "AuthFailure.InvalidAuthorization"
    yesterday = int(time.time()) - 86400
    auth = (
        "TC3-HMAC-SHA256 Credential={}/{}/faceid/tc3_request, SignedHeaders=content-type;host, Signature={}"
    )
    scope = await raw_call(
        session, sim, {"Mobile": "1"}, authorization=auth.format("AKIDx", "2001-01-01", "0" * 64)
    )
    assert scope.error_code == "AuthFailure.SignatureFailure"
    forged = auth.format("AKIDx", "2001-01-01", "0" * 64)
    huge = await raw_call(session, sim, {"Mobile": "1"}, timestamp=10**30, authorization=forged)
    assert huge.error_code == "InvalidParameter"
    expired = await raw_call(session, sim, {"Mobile": "1"}, timestamp=yesterday)
    assert expired.error_code == "AuthFailure.SignatureExpire"
    assert (
        await raw_call(session, sim, {"Mobile": "1"}, service="cvm")
    ).error_code == "AuthFailure.SignatureFailure"
    assert (await raw_call(session, sim, body=b"{not json")).error_code == "InvalidParameter"
    get = await raw_call(session, sim, {"Mobile": "13800138000"}, method="GET")
    assert get.response["Result"] == "0"
    assert sim.ledger()["requests"] == 10


async def test_scripted_numbers(sim: SimulatorServer, session: aiohttp.ClientSession) -> None:
    results = [(await raw_call(session, sim, {"Mobile": "13900000033"})).response["Result"] for _ in range(4)]
    assert results == ["-3", "-3", "0", "0"]
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await raw_call(session, sim, {"Mobile": "13700000006"})
    assert (await raw_call(session, sim, {"Mobile": "13700000006"})).response["Result"] == "0"
    gateway = await raw_call(session, sim, {"Mobile": "13700000004"})
    assert gateway.status == 502 and gateway.content_type == "text/html"
    assert (await raw_call(session, sim, {"Mobile": "13700000004"})).response["Result"] == "0"
    assert (await raw_call(session, sim, {"Mobile": "13700000002"})).error_code == "InternalError"
    ledger = sim.ledger()
    assert ledger["billed_by_number"] == {"13900000033": 2, "13700000006": 2, "13700000004": 1}
    assert ledger["billed"] == 5 and ledger["dropped"] == 1 and ledger["answered"] == 6
    assert ledger["calls_by_number"] == {
        "13900000033": 4,
        "13700000006": 2,
        "13700000004": 2,
        "13700000002": 1,
    }
    assert ledger["gateway_errors"] == {"502": 1} and ledger["errors_by_code"] == {"InternalError": 1}
    first, last = ledger["first_request_at"], ledger["last_request_at"]
    assert isinstance(first, float) and isinstance(last, float) and first <= last

    async with session.get(sim.url + "/__ledger") as resp:
        assert resp.headers["Content-Type"] == "application/json"
        assert await resp.json() == sim.ledger()
    async with session.post(sim.url + "/__reset") as resp:
        assert resp.status == 200
    assert sim.ledger()["requests"] == 0 and sim.ledger()["first_request_at"] is None
    assert (await raw_call(session, sim, {"Mobile": "13900000033"})).response["Result"] == "-3"


async def _fault_run(server: SimulatorServer, session: aiohttp.ClientSession, n: int) -> list[str]:
    seen = []
    for _ in range(n):
        try:
            reply = await raw_call(session, server, {"Mobile": "13800000000"})
        except aiohttp.ServerDisconnectedError:
            seen.append("dropped")
            continue
        seen.append(
            f"http {reply.status}" if reply.status != 200 else reply.error_code or reply.response["Result"]
        )
    return seen


async def test_faults_are_seeded_and_never_billed(no_proxy: None, session: aiohttp.ClientSession) -> None:
    # Seed 15 draws every fault kind in 12 requests with a single short extra-latency fault.
    with SimulatorServer(SimConfig(faults=0.6, seed=15)) as server:
        first = await _fault_run(server, session, 12)
        ledger = server.ledger()
        server.reset()
        assert await _fault_run(server, session, 12) == first
    kinds: Any = ledger["faults_by_kind"]
    assert set(kinds) == {"latency", "gateway", "internal_error", "drop", "busy"}
    assert ledger["faults_injected"] == sum(kinds.values()) == 9
    assert ledger["billed"] == first.count("0") == 4 and ledger["dropped"] == kinds["drop"]
    assert {"dropped", "InternalError", "-3"} <= set(first)
    gateway = [seen for seen in first if seen.startswith("http ")]
    assert len(gateway) == kinds["gateway"] and set(gateway) <= {"http 502", "http 503"}
    with SimulatorServer(SimConfig(faults=0.6, seed=9)) as other:
        assert await _fault_run(other, session, 12) != first


async def test_daily_quota(no_proxy: None, session: aiohttp.ClientSession) -> None:
    with SimulatorServer(SimConfig(daily_quota=2, rate_limit=0)) as server:
        numbers = ["13800000000", "13800000001", "13800000002", "16137688175", "13700000007"]
        results = []
        for number in numbers:
            try:
                results.append((await raw_call(session, server, {"Mobile": number})).response["Result"])
            except aiohttp.ServerDisconnectedError:
                results.append("dropped")
        assert results == ["0", "0", "-4", "-2", "-4"]
        assert server.ledger()["billed"] == 2


async def test_latency_is_applied(no_proxy: None, session: aiohttp.ClientSession) -> None:
    with SimulatorServer(SimConfig(latency_ms=(150, 200))) as server:
        started = time.monotonic()
        await raw_call(session, server, {"Mobile": "13800000000"})
        assert 0.15 <= time.monotonic() - started < 5.0


# --- pieces and the foreground server --------------------------------------------------------------


def test_unflatten_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(DEMO_SECRET_ID) == 36 and DEMO_SECRET_ID.startswith("AKID") and len(DEMO_SECRET_KEY) == 32
    flat = [
        ("Mobile", "x"),
        ("Encryption.EncryptList.1", "B"),
        ("Encryption.EncryptList.0", "A"),
        ("Encryption.Iv", "i"),
    ]
    assert unflatten(flat) == {"Mobile": "x", "Encryption": {"EncryptList": ["A", "B"], "Iv": "i"}}
    assert parse_latency("50") == (50, 50) and parse_latency("50-200") == parse_latency("50,200") == (50, 200)
    with pytest.raises(UsageError):
        parse_latency("200-50")
    with pytest.raises(UsageError):
        SimConfig(faults=1.5)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDfromenvironment00000000000000000")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "k" * 32)
    cfg = SimConfig.from_env(rate_limit=5)
    assert cfg.secret_id.startswith("AKIDfromenv") and cfg.rate_limit == 5
    assert "k" * 32 not in repr(cfg) and "k" * 32 not in banner(cfg, "http://x")
    monkeypatch.delenv("TENCENTCLOUD_SECRET_KEY")
    assert SimConfig.from_env().secret_key == DEMO_SECRET_KEY


def test_serve_forever_stops_on_sigint(no_proxy: None, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answers: list[str] = []

    def client() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.02)
        hp = HttpProfile(protocol="http", endpoint=f"127.0.0.1:{port}", reqTimeout=10)
        cred = credential.Credential(DEMO_SECRET_ID, DEMO_SECRET_KEY)
        try:
            answers.append(
                FaceidClient(cred, "", ClientProfile(httpProfile=hp))
                .MobileStatus(mobile_request("13800138000"))
                .Result
            )
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=client)
    thread.start()
    serve_forever(SimConfig(rate_limit=0), "127.0.0.1", port)  # returns on SIGINT
    thread.join()
    assert answers == ["0"]
    assert capsys.readouterr().out == (
        f"batchverify simulator listening on http://127.0.0.1:{port} (secret id AKID…0000, rate limit off)\n"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(UsageError, match="cannot listen"):
            serve_forever(SimConfig(), "127.0.0.1", busy.getsockname()[1])


def test_module_entry_point(no_proxy: None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchverify.simulator", "--port", "0", "--rate-limit", "7"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("batchverify simulator listening on http://127.0.0.1:")
        assert line.endswith("(secret id AKID…0000, rate limit 7/s)")
        port = int(line.split("127.0.0.1:")[1].split()[0])
        hp = HttpProfile(protocol="http", endpoint=f"127.0.0.1:{port}", reqTimeout=10)
        cred = credential.Credential(DEMO_SECRET_ID, DEMO_SECRET_KEY)
        client: Any = __import__("tencentcloud.faceid.v20180301.faceid_client", fromlist=["FaceidClient"])
        reply = client.FaceidClient(cred, "", ClientProfile(httpProfile=hp)).MobileStatus(
            mobile_request("13800138000")
        )
        assert json.loads(reply.to_json_string())["Result"] == "0"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_nights_move_a_documented_share_of_normal_numbers_and_leave_the_test_numbers_alone() -> None:
    from batchverify.simulator.numbers import (
        NIGHT_CANCELLED,
        NIGHT_OUT_OF_SERVICE,
        TEST_NUMBERS,
        scripted_outcome,
    )

    numbers = [str(13500000000 + i * 7919) for i in range(4000)]
    normal = [n for n in numbers if scripted_outcome(n, 0) == scripted_outcome("13800000000", 0)]
    assert all(scripted_outcome(n, 0, night=0) == scripted_outcome(n, 0) for n in numbers)
    share = NIGHT_CANCELLED + NIGHT_OUT_OF_SERVICE
    moved = {}
    for night in (1, 2):
        moved[night] = {n for n in normal if scripted_outcome(n, 0, night=night) != scripted_outcome(n, 0)}
        assert abs(len(moved[night]) / len(normal) - share) < 0.015
        codes = {getattr(scripted_outcome(n, 0, night=night), "status_code", None) for n in moved[night]}
        assert codes == {1, 2}  # out of service or cancelled, nothing else
        assert all(
            scripted_outcome(n, 5, night=night) == scripted_outcome(n, 0, night=night) for n in moved[night]
        )
    assert moved[1] != moved[2] and len(moved[1] & moved[2]) < len(moved[1]) / 4  # others each night
    for number in TEST_NUMBERS:
        assert scripted_outcome(number, 0, night=3) == scripted_outcome(number, 0)
