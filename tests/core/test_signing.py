"""TC3-HMAC-SHA256: the published vectors (protocol.md §1.6) and a property against the official SDK."""

from __future__ import annotations

import hashlib
import json
import random
import string
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tencentcloud.common import abstract_client, credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from batchverify.core import signing

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
VECTOR_A_BODY = rb'{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}'

# (id, request, payload hash, hashed canonical request, signature); None = not published.
VECTORS: list[tuple[str, dict[str, Any], str | None, str | None, str]] = [
    (
        "A",
        dict(
            service="cvm",
            timestamp=1551113065,
            method="POST",
            host="cvm.tencentcloudapi.com",
            content_type="application/json; charset=utf-8",
            query="",
            payload=VECTOR_A_BODY,
        ),
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064",
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031",
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
    ),
    (
        "B",
        dict(
            service="cvm",
            timestamp=1539084154,
            method="GET",
            host="cvm.tencentcloudapi.com",
            content_type="application/x-www-form-urlencoded",
            query="Limit=10&Offset=0",
            payload=b"",
        ),
        None,
        "91c9c192c14460df6c1ffc69e34e6c5e90708de2a6d282cccf957dbf1aa7f3a7",
        "5da7a33f6993f0614b047e5df4582db9e9bf4672ba50567dba16c6ccf174c474",
    ),
    (
        "C",
        dict(
            service="faceid",
            timestamp=1551113065,
            method="POST",
            host="faceid.tencentcloudapi.com",
            content_type="application/json",
            query="",
            payload=b'{"Mobile": "13800138000"}',
        ),
        "019208777f842c60ba3148f6eb3a88ef3c1b0917e0b64159d7bc2b2681141f07",
        "576f332473bbec090b76bd66aa3f2e8519e653334dec3ebc131d9e23b1dfb8b9",
        "a82536cda692595f419920a51f7d1b9b18915e85d07a8761905911b0c5230d9f",
    ),
    (
        "D",
        dict(
            service="faceid",
            timestamp=1551113065,
            method="GET",
            host="faceid.tencentcloudapi.com",
            content_type="application/x-www-form-urlencoded",
            query="Mobile=13800138000",
            payload=b"",
        ),
        None,
        None,
        "f4db5f14846f2a5311dcc3b3c617b3665d31e7709d49b969a011f4dbf87e30b2",
    ),
]


@pytest.mark.parametrize(("name", "request_", "payload_hash", "hashed_canonical", "expected"), VECTORS)
def test_published_vectors(
    name: str, request_: dict[str, Any], payload_hash: str | None, hashed_canonical: str | None, expected: str
) -> None:
    if payload_hash is not None:
        assert hashlib.sha256(request_["payload"]).hexdigest() == payload_hash
    canon_args = {k: v for k, v in request_.items() if k not in ("service", "timestamp")}
    canon = signing.canonical_request(**canon_args)
    if hashed_canonical is not None:
        assert hashlib.sha256(canon.encode()).hexdigest() == hashed_canonical
    assert signing.signature(secret_key=SECRET_KEY, **request_) == expected
    header = signing.authorization(secret_id=SECRET_ID, secret_key=SECRET_KEY, **request_)
    date = signing.utc_date(request_["timestamp"])
    assert header == (
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/{request_['service']}/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={expected}"
    )


def test_scope_date_is_utc() -> None:
    assert signing.utc_date(1551113065) == "2019-02-25"
    assert signing.utc_date(1700006399) == "2023-11-14" and signing.utc_date(1700006400) == "2023-11-15"


_SDK_CLIENTS: dict[str, CommonClient] = {}


def sdk_request(
    method: str, host: str, params: dict[str, Any], ts: int, sid: str, key: str
) -> RequestInternal:
    """The request the official SDK builds (headers, body/query, Authorization) at time ``ts``."""
    client = _SDK_CLIENTS.get(method)
    if client is None:  # one client per method: building one (a requests.Session) is the slow part
        profile = ClientProfile(httpProfile=HttpProfile(reqMethod=method))
        client = _SDK_CLIENTS[method] = CommonClient(
            "faceid", "2018-03-01", credential.Credential("x", "y"), "", profile
        )
    client.profile.httpProfile.endpoint = host
    client.credential = credential.Credential(sid, key)
    req = RequestInternal(host, method, "/", header={})
    with mock.patch.object(abstract_client, "time", SimpleNamespace(time=lambda: ts + 0.999)):
        client._build_req_with_tc3_signature("MobileStatus", params, req)
    return req


_TEXT = string.ascii_letters + string.digits + " .+/=&?%\"\\'\n\t中文密钥é€😀"


def _random_value(rnd: random.Random, depth: int = 0) -> Any:
    kind = rnd.randrange(8 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rnd.random() < 0.5
    if kind == 2:
        return rnd.randint(-(2**40), 2**40)
    if kind == 3:
        return rnd.uniform(-1e6, 1e6)
    if kind in (4, 5):
        return "".join(rnd.choice(_TEXT) for _ in range(rnd.randrange(13)))
    if kind == 6:
        return [_random_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    return _random_body(rnd, depth + 1)


def _random_body(rnd: random.Random, depth: int = 0) -> dict[str, Any]:
    keys = (
        "".join(rnd.choice(_TEXT[:62] + ".") for _ in range(rnd.randint(1, 8)))
        for _ in range(rnd.randrange(5))
    )
    return {key: _random_value(rnd, depth) for key in keys}


# Bodies come from a hypothesis-seeded Random: building them from hypothesis primitives costs ~50 ms
# per example here, and the bytes are all the signature sees.
_bodies = st.randoms(use_true_random=False).map(_random_body)
_hosts = st.builds(
    lambda name, port: name if port is None else f"{name}:{port}",
    st.sampled_from(
        ["faceid.tencentcloudapi.com", "faceid.intl.tencentcloudapi.com", "127.0.0.1", "localhost"]
    ),
    st.none() | st.integers(1, 65535),
)
_midnight = st.builds(
    lambda day, delta: max(0, day * 86400 + delta), st.integers(1, 47000), st.integers(-3, 3)
)
_timestamps = st.integers(0, 4_102_444_800) | _midnight
_ids = st.text(string.ascii_letters + string.digits, min_size=1, max_size=40)
_KEY_ALPHABET = string.ascii_letters + string.digits + string.punctuation + "密钥é€"
_keys = st.text(_KEY_ALPHABET, min_size=1, max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["POST", "GET"]),
    host=_hosts,
    params=_bodies,
    ts=_timestamps,
    sid=_ids,
    key=_keys,
)
def test_authorization_equals_official_sdk(
    method: str, host: str, params: dict[str, Any], ts: int, sid: str, key: str
) -> None:
    req = sdk_request(method, host, params, ts, sid, key)
    assert req.header["X-TC-Timestamp"] == str(ts) and req.header["Host"] == host
    if method == "POST":
        assert req.header["Content-Type"] == "application/json" and req.data == json.dumps(params)
        query, payload = "", req.data.encode("utf-8")
    else:
        assert req.header["Content-Type"] == "application/x-www-form-urlencoded"
        query, payload = req.data, b""
    ours = signing.authorization(
        secret_id=sid,
        secret_key=key,
        service="faceid",
        timestamp=ts,
        method=method,
        host=host,
        content_type=req.header["Content-Type"],
        query=query,
        payload=payload,
    )
    assert ours == req.header["Authorization"]
