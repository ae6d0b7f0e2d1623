"""The MobileStatus client: one signed aiohttp call in, one typed ``Reply`` out.

This is the only module where aiohttp and socket errors are translated; every way a call can end
becomes a value from ``batchverify.models`` (never an untyped dict, never an exception), except a
TLS certificate failure, which no retry can cure and which stops the job.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from batchverify._version import __version__
from batchverify.core import signing
from batchverify.core.text import from_outside
from batchverify.errors import FatalApiError, UsageError
from batchverify.models import (
    ACTION,
    API_VERSION,
    SERVICE,
    BadReply,
    BusinessReply,
    ErrorReply,
    Reply,
    TransportFailure,
)
from batchverify.tencent.credentials import Credentials

CONTENT_TYPE = "application/json"
USER_AGENT = f"batchverify/{__version__}"
MAX_REPLY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where requests go: the URL to post to and the Host value that is signed."""

    url: str
    host: str

    @classmethod
    def parse(cls, value: str) -> Endpoint:
        """Accept ``https://host[:port]``, ``http://127.0.0.1:PORT`` or a bare ``host[:port]``."""
        raw = value.strip()
        if "://" not in raw:
            raw = "https://" + raw
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad_endpoint(value, "expected https://HOST[:PORT]")
        if parts.path not in ("", "/") or parts.query:
            raise _bad_endpoint(value, "give only scheme, host and port")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port is not None and not 1 <= port <= 65535:
            raise _bad_endpoint(value, "the port must be 1 to 65535")
        if parts.username is not None or parts.password is not None:
            # A secret in a URL ends up in logs and stores: the API's keys go in credentials.
            raise _bad_endpoint("", "give no user or password in it (the keys go in the credentials)")
        # One spelling per endpoint: the checkpoint and the answer store are tied to it.
        host = parts.hostname.lower()
        host = f"[{host}]" if ":" in host else host
        default = {"https": 443, "http": 80}[parts.scheme]
        netloc = host if port in (None, default) else f"{host}:{port}"
        return cls(url=f"{parts.scheme}://{netloc}/", host=netloc)


def _bad_endpoint(value: str, why: str) -> UsageError:
    """``value`` is left out ("") when it holds a secret."""
    shown = f" {value!r}" if value else ""
    return UsageError(
        "bad {o[endpoint]}" + shown.replace("{", "{{").replace("}", "}}") + ": {why}",
        code="bad_endpoint",
        option="endpoint",
        why=why,
    )


def make_session(
    *, connections: int, connect_timeout: float = 10.0, read_timeout: float = 30.0
) -> aiohttp.ClientSession:
    """One keep-alive session for a whole job.

    ``sock_connect`` rather than ``connect``: aiohttp's ``connect`` timeout also counts the wait for
    a free pooled connection, which would turn a full pool into spurious connect timeouts.
    """
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=4.0, ttl_dns_cache=300)
    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(_body_leaving)
    # ``total``: a reply that trickles in never holds a worker past the timeout (connect to last byte).
    timeout = aiohttp.ClientTimeout(
        total=read_timeout, sock_connect=min(connect_timeout, read_timeout), sock_read=read_timeout
    )
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT}, trace_configs=[trace]
    )


# Set by whoever sends a request (the engine's gate) to hear when its bytes leave: the body is
# written, with the headers, right after aiohttp reports this chunk. A request starts counting
# against the API's window then, not when it was allowed to start.
on_request_leaving: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "on_request_leaving", default=None
)


async def _body_leaving(
    _session: aiohttp.ClientSession, _ctx: object, _params: aiohttp.TraceRequestChunkSentParams
) -> None:
    hook = on_request_leaving.get()
    if hook is not None:
        on_request_leaving.set(None)  # once per request, however many chunks its body takes
        hook()


class Encrypts(Protocol):
    """What the client needs from an encryptor (see ``batchverify.tencent.crypto.Encryptor``)."""

    def encrypt_params(self, mobile: str) -> dict[str, object]:
        """The request parameters carrying ``mobile`` encrypted."""
        ...


class MobileStatusClient:
    """Calls MobileStatus for one number at a time over a shared session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: Endpoint,
        credentials: Credentials,
        *,
        language: str = "en-US",
        encryptor: Encrypts | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._endpoint = endpoint
        self._credentials = credentials
        self._language = language
        self._encryptor = encryptor
        self._clock = clock

    def build_request(self, mobile: str) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers of one signed POST (also used by tests and the simulator's docs)."""
        params: dict[str, object] = (
            self._encryptor.encrypt_params(mobile) if self._encryptor else {"Mobile": mobile}
        )
        body = json.dumps(params).encode("utf-8")
        timestamp = int(self._clock())
        creds = self._credentials
        headers = {
            "Authorization": signing.authorization(
                secret_id=creds.secret_id,
                secret_key=creds.secret_key,
                service=SERVICE,
                timestamp=timestamp,
                method="POST",
                host=self._endpoint.host,
                content_type=CONTENT_TYPE,
                payload=body,
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": self._endpoint.host,
            "X-TC-Action": ACTION,
            "X-TC-Version": API_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Language": self._language,
            "X-TC-RequestClient": USER_AGENT,
        }
        if creds.token:
            headers["X-TC-Token"] = creds.token
        return body, headers

    async def query(self, mobile: str) -> Reply:
        """One MobileStatus call. Never raises for network or server trouble: it is in the Reply."""
        body, headers = self.build_request(mobile)
        try:
            async with self._session.post(
                self._endpoint.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                if 300 <= resp.status < 400:
                    # The API never redirects: following one would send the signed request (and the
                    # number) to another host. The job stops, as for a wrong endpoint.
                    where = from_outside(resp.headers.get("Location", ""), 200) or "nowhere"
                    raise FatalApiError(
                        "EndpointRedirect",
                        f"the endpoint answered HTTP {resp.status}, sending to {where}; the API never "
                        "redirects: check the endpoint (nothing was sent there)",
                    )
                # A MobileStatus reply is a few hundred bytes; never hold more than the cap.
                raw = await _read_capped(resp, MAX_REPLY_BYTES + 1)
                return parse_reply(
                    resp.status,
                    resp.headers.get("Content-Type", ""),
                    raw,
                    server_date=resp.headers.get("Date", ""),
                )
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
            raise FatalApiError("ClientTLSError", _describe(exc)) from None
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
            # Nothing was sent: the connection never opened.
            return TransportFailure(maybe_sent=False, detail=_describe(exc))
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Disconnects, resets, read timeouts, truncated bodies: all after the request went out.
            # The request may have reached the server (and been billed) before this happened.
            return TransportFailure(maybe_sent=True, detail=_describe(exc))


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, or its first ``limit`` bytes (``read(n)`` alone may return a first chunk)."""
    raw = bytearray()
    while len(raw) < limit:
        chunk = await resp.content.read(limit - len(raw))
        if not chunk:
            break
        raw += chunk
    return bytes(raw)


def _describe(exc: BaseException) -> str:
    # An exception's text may quote the server (a reason phrase, a header).
    text = from_outside(str(exc), 300).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def parse_reply(http_status: int, content_type: str, raw: bytes, *, server_date: str = "") -> Reply:
    """Turn one HTTP answer into a typed reply. Pure (exposed for tests).

    Hostile bodies are bounded: over ``MAX_REPLY_BYTES``, nested deeper than the decoder allows, or
    with fields of the wrong type or range, a body becomes a ``BadReply`` (nothing to record) or,
    when it carries a billed ``Result``, a ``BusinessReply`` with ``problem`` set, so the answer that
    was paid for is stored and not asked again.
    """
    if len(raw) > MAX_REPLY_BYTES:
        return BadReply(http_status, f"reply larger than {MAX_REPLY_BYTES // 1024} KiB")
    if http_status != 200:
        return BadReply(http_status, _excerpt(raw))
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return BadReply(http_status, "body is not JSON: " + _excerpt(raw))
    response = doc.get("Response") if isinstance(doc, dict) else None
    if not isinstance(response, dict):
        return BadReply(http_status, "no Response object in the body")
    request_id = _text(response.get("RequestId"), 128)
    error = response.get("Error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("Code"), str):
            return BadReply(http_status, "malformed Error object")
        return ErrorReply(
            code=_text(error["Code"], 128),
            message=_text(error.get("Message")),
            request_id=request_id,
            server_date=server_date[:64],
        )
    return _business(response, request_id)


def _business(response: Mapping[str, Any], request_id: str) -> Reply:
    result = response.get("Result")
    if isinstance(result, int) and not isinstance(result, bool) and abs(result) < 10**6:
        result = str(result)
    if not isinstance(result, str) or not result.strip() or len(result) > 16:
        return BadReply(200, "reply has no usable Result")
    code = response.get("StatusCode")
    status_code: int | None = None
    problem = ""
    if code is None:
        pass
    elif isinstance(code, int) and not isinstance(code, bool):
        status_code = code
    elif (
        isinstance(code, str)
        and code.strip().lstrip("-").isascii()
        and code.strip().lstrip("-").isdigit()
        and len(code) < 20
    ):
        status_code = int(code)
    else:
        problem = f"StatusCode {_text(str(code), 40)!r} is not an integer"
    if status_code is not None and not -(2**31) <= status_code < 2**31:
        problem = f"StatusCode {str(status_code)[:24]} is out of range"
        status_code = None
    return BusinessReply(
        result=_text(result).strip(),
        status_code=status_code,
        description=_text(response.get("Description")),
        request_id=request_id,
        problem=problem,
    )


def _text(value: object, limit: int = 1000) -> str:
    """A string field, cut to ``limit`` characters, on one line without control characters (lone
    surrogates, which cannot be stored, become U+FFFD too)."""
    if not isinstance(value, str):
        return ""
    return from_outside(value, limit)


def _excerpt(raw: bytes, limit: int = 120) -> str:
    text = from_outside(raw[:limit].decode("utf-8", "replace"))
    return " ".join(text.split()) or "(empty body)"
