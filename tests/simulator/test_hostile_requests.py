"""The simulator is held to the standard it promises: every request, however hostile, gets Tencent's
JSON error (never aiohttp's text/plain 500), and each official SDK's way of signing for a local
endpoint is accepted (Tencent's Node.js SDK signs the host's first label as the service and the
host without its port)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from batchverify.core import signing
from batchverify.simulator import DEMO_SECRET_ID, DEMO_SECRET_KEY, SimConfig, SimulatorServer
from tests.support.sim import host_of, no_proxy, raw_call, sim

__all__ = ["no_proxy", "sim"]  # fixtures used by name

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_a_body_nested_100000_deep_gets_a_json_error(
    sim: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    reply = await raw_call(session, sim, body=body)
    assert reply.status == 200 and reply.content_type == "application/json"
    assert reply.error_code == "InvalidParameter"
    body = (
        json.dumps({"Mobile": "1"}).encode()[:-1]
        + b', "Deep": '
        + b'{"x": ' * 100_000
        + b"1"
        + b"}" * 100_001
    )
    reply = await raw_call(session, sim, body=body)
    assert reply.content_type == "application/json" and reply.error_code == "InvalidParameter"


async def test_a_query_nested_too_deep_gets_a_json_error(
    sim: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    key = ".".join(["a"] * 1000)  # within the URL length a server reads
    reply = await raw_call(session, sim, {key: "1", "Mobile": "13800138000"}, method="GET")
    assert reply.content_type == "application/json" and reply.error_code == "InvalidParameter"


async def test_a_non_ascii_content_type_gets_a_json_error(sim: SimulatorServer) -> None:
    ts = int(time.time())
    host = host_of(sim)
    payload = b'{"Mobile": "13800138000"}'
    authorization = signing.authorization(
        secret_id=DEMO_SECRET_ID,
        secret_key=DEMO_SECRET_KEY,
        service="faceid",
        timestamp=ts,
        method="POST",
        host=host,
        content_type="application/json",
        query="",
        payload=payload,
    )
    head = (
        f"POST / HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\n"
        f"X-TC-Action: MobileStatus\r\nX-TC-Version: 2018-03-01\r\nX-TC-Timestamp: {ts}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n"
    ).encode() + b"Content-Type: application/json\xff\xfe\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(head + payload)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    headers, _, body = raw.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in headers, raw[:300]
    assert json.loads(body)["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"


def _node_or_skip() -> str:
    node = shutil.which("node")
    reason = ""
    if node is None:
        reason = "node is not installed"
    elif not (NODE_DIR / "node_modules" / "tencentcloud-sdk-nodejs").is_dir():
        reason = "tests/node has no node_modules (make test runs npm ci there)"
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI needs the Node.js SDK test: {reason} (.ci/run installs nodejs and npm)")
        pytest.skip(f"NODE SDK TEST SKIPPED: {reason}")
    assert node is not None
    return node


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_tencents_nodejs_sdk_gets_answers_from_the_simulator(method: str, name: str) -> None:
    node = _node_or_skip()
    with SimulatorServer(SimConfig(rate_limit=0, seed=1)) as server:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TENCENTCLOUD_SECRET_ID": server.cfg.secret_id,
            "TENCENTCLOUD_SECRET_KEY": server.cfg.secret_key,
        }
        endpoint = f"{name}:{server.port}"
        calls = {
            number: subprocess.run(
                [node, str(NODE_DIR / "mobilestatus.js"), endpoint, number, method],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            for number in ("13800138000", "16137688175")
        }
        wrong = subprocess.run(
            [node, str(NODE_DIR / "mobilestatus.js"), endpoint, "13800138000", method],
            env={**env, "TENCENTCLOUD_SECRET_KEY": "not-the-key"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    replies = {number: json.loads(done.stdout) for number, done in calls.items()}
    assert replies["13800138000"]["reply"]["Result"] == "0", replies
    assert replies["13800138000"]["reply"]["StatusCode"] == 1
    assert replies["16137688175"]["reply"]["Result"] == "-2"
    assert json.loads(wrong.stdout)["error"]["code"] == "AuthFailure.SignatureFailure"
