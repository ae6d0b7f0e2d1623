"""TC3-HMAC-SHA256 request signing for Tencent Cloud API 3.0. Pure: no clock, no I/O.

Byte-identical to the official SDK's ``_build_req_with_tc3_signature`` (tests compare the two).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac

ALGORITHM = "TC3-HMAC-SHA256"
SIGNED_HEADERS = "content-type;host"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def utc_date(timestamp: int) -> str:
    """The credential-scope date: the UTC (never local) date of ``timestamp``."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d")


def canonical_request(
    *,
    method: str,
    host: str,
    content_type: str,
    query: str,
    payload: bytes,
    signed_headers: str = SIGNED_HEADERS,
    payload_hash: str | None = None,
) -> str:
    """The canonical request string; ``query`` is the raw query string exactly as sent."""
    if payload_hash is None:
        payload_hash = hashlib.sha256(payload).hexdigest()
    # Values go in exactly as sent: the SDK neither trims nor lower-cases them, and servers
    # compare against what the SDK produces.
    headers = f"content-type:{content_type}\nhost:{host}\n"
    return "\n".join([method.upper(), "/", query, headers, signed_headers, payload_hash])


def signature(
    *,
    secret_key: str,
    service: str,
    timestamp: int,
    method: str,
    host: str,
    content_type: str,
    query: str,
    payload: bytes,
    payload_hash: str | None = None,
) -> str:
    """The lowercase hex signature over one request."""
    date = utc_date(timestamp)
    canon = canonical_request(
        method=method,
        host=host,
        content_type=content_type,
        query=query,
        payload=payload,
        payload_hash=payload_hash,
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            str(timestamp),
            f"{date}/{service}/tc3_request",
            hashlib.sha256(canon.encode("utf-8")).hexdigest(),
        ]
    )
    k_date = hmac.new(("TC3" + secret_key).encode("utf-8"), date.encode("utf-8"), hashlib.sha256).digest()
    k_service = hmac.new(k_date, service.encode("utf-8"), hashlib.sha256).digest()
    k_signing = hmac.new(k_service, b"tc3_request", hashlib.sha256).digest()
    return hmac.new(k_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    method: str,
    host: str,
    content_type: str,
    query: str = "",
    payload: bytes = b"",
) -> str:
    """The ``Authorization`` header value for one request."""
    sig = signature(
        secret_key=secret_key,
        service=service,
        timestamp=timestamp,
        method=method,
        host=host,
        content_type=content_type,
        query=query,
        payload=payload,
    )
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={sig}"
