"""Fixtures and helpers for the simulator, crypto and signing tests (import them from test modules).

Real servers on 127.0.0.1 only: a :class:`SimulatorServer` per test, the official SDK or a raw
aiohttp client signed with :mod:`batchverify.core.signing`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.faceid.v20180301 import faceid_client, models

from batchverify.core import signing
from batchverify.simulator import DEMO_SECRET_ID, DEMO_SECRET_KEY, SimConfig, SimulatorServer

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK (requests, httpx) honours proxy variables; 127.0.0.1 must be reached directly."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sim(no_proxy: None) -> Iterator[SimulatorServer]:
    """A simulator with the default configuration (demo credentials, 20 requests/s)."""
    with SimulatorServer(SimConfig(seed=1)) as server:
        yield server


def host_of(server: SimulatorServer) -> str:
    return f"127.0.0.1:{server.port}"


def sdk_client(
    server: SimulatorServer,
    method: str = "POST",
    secret_id: str = DEMO_SECRET_ID,
    secret_key: str = DEMO_SECRET_KEY,
    language: str = "zh-CN",
) -> faceid_client.FaceidClient:
    """The official sync FaceID client pointed at ``server``."""
    hp = HttpProfile(protocol="http", endpoint=host_of(server), reqTimeout=10, reqMethod=method)
    cred = credential.Credential(secret_id, secret_key)
    return faceid_client.FaceidClient(cred, "", ClientProfile(httpProfile=hp, language=language))


def common_client(server: SimulatorServer, version: str = "2018-03-01", method: str = "POST") -> CommonClient:
    """The SDK's generic client (any action, version and parameters)."""
    hp = HttpProfile(protocol="http", endpoint=host_of(server), reqTimeout=10, reqMethod=method)
    cred = credential.Credential(DEMO_SECRET_ID, DEMO_SECRET_KEY)
    return CommonClient("faceid", version, cred, "", profile=ClientProfile(httpProfile=hp))


def sdk_call(client: faceid_client.FaceidClient, params: dict[str, object]) -> models.MobileStatusResponse:
    """``client.MobileStatus`` with ``params`` (e.g. an encrypted request)."""
    req = models.MobileStatusRequest()
    req.from_json_string(json.dumps(params))
    return client.MobileStatus(req)


def sdk_error(client: Any, *args: Any) -> TencentCloudSDKException:
    """The SDK exception raised by ``client.MobileStatus(*args)`` / ``client.call_json(*args)``."""
    call = client.call_json if isinstance(client, CommonClient) else client.MobileStatus
    with pytest.raises(TencentCloudSDKException) as info:
        call(*args)
    return info.value


def mobile_request(number: str) -> models.MobileStatusRequest:
    req = models.MobileStatusRequest()
    req.Mobile = number
    return req


@dataclass
class RawReply:
    """What a raw request got back."""

    status: int
    content_type: str
    body: bytes

    @property
    def response(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)["Response"]
        return data

    @property
    def error_code(self) -> str | None:
        error = self.response.get("Error")
        return None if error is None else str(error["Code"])


async def raw_call(
    session: aiohttp.ClientSession,
    server: SimulatorServer,
    params: dict[str, object] | None = None,
    *,
    method: str = "POST",
    secret_id: str = DEMO_SECRET_ID,
    secret_key: str = DEMO_SECRET_KEY,
    timestamp: int | None = None,
    action: str = "MobileStatus",
    version: str = "2018-03-01",
    service: str = "faceid",
    body: bytes | None = None,
    path: str = "/",
    language: str = "en-US",
    authorization: str | None = None,
) -> RawReply:
    """One request signed with batchverify.core.signing (POST JSON body, or GET with the query)."""
    ts = int(time.time()) if timestamp is None else timestamp
    host = host_of(server)
    query = ""
    if method == "GET":
        content_type, payload = "application/x-www-form-urlencoded", b""
        query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
    else:
        content_type = "application/json"
        payload = json.dumps(params or {}).encode() if body is None else body
    if authorization is None:
        authorization = signing.authorization(
            secret_id=secret_id,
            secret_key=secret_key,
            service=service,
            timestamp=ts,
            method=method,
            host=host,
            content_type=content_type,
            query=query,
            payload=payload,
        )
    headers = {
        "Authorization": authorization,
        "Content-Type": content_type,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(ts),
        "X-TC-Language": language,
    }
    url = server.url + path + (f"?{query}" if query else "")
    async with session.request(method, url, data=payload, headers=headers) as resp:
        return RawReply(resp.status, resp.headers.get("Content-Type", ""), await resp.read())
