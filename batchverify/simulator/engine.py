"""The simulator's request pipeline: authentication, limits, faults, parameters, scripted answers.

Checks run in the order the real endpoint applies them: the HTTP method, authentication (headers,
signature, timestamp, key), action and version, the per-key rate limit, injected faults, then the
parameters; business answers come only from :func:`batchverify.simulator.numbers.scripted_outcome`.
The HTTP side lives in :mod:`batchverify.simulator.app`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from batchverify.core import signing
from batchverify.errors import UsageError
from batchverify.models import ACTION, API_VERSION, SERVICE
from batchverify.simulator import numbers as simnumbers
from batchverify.simulator.ledger import Ledger
from batchverify.tencent.credentials import ENV_ID, ENV_KEY

if TYPE_CHECKING:  # crypto (cryptography, gmssl) loads on the first encrypted request only
    from batchverify.simulator.decrypt import Decryptor

DEMO_SECRET_ID = "AKIDbatchverifyDEMO00000000000000000"
DEMO_SECRET_KEY = "batchverifyDEMOsecretKey00000000"
MAX_SKEW_S = 300
FAULT_KINDS = ("latency", "gateway", "internal_error", "drop", "busy")
KNOWN_PARAMS = frozenset({"Mobile", "Encryption"})


@dataclass
class SimConfig:
    """How the simulator behaves. ``rate_limit`` 0 = no limit; ``latency_ms`` = (min, max) per reply;
    ``faults`` = probability of an injected fault per accepted request; ``daily_quota`` = billed
    answers after which billable numbers get Result -4; ``night`` >= 1 moves a share of the normal
    numbers to cancelled or out of service for that night (the nightly rehearsal); ``clock`` = the
    server's epoch clock."""

    secret_id: str = DEMO_SECRET_ID
    secret_key: str = field(default=DEMO_SECRET_KEY, repr=False)
    rate_limit: int = 20
    latency_ms: tuple[int, int] = (0, 0)
    faults: float = 0.0
    seed: int | None = None
    daily_quota: int | None = None
    night: int = 0  # >= 1: a night of the nightly rehearsal (numbers.NIGHT_CANCELLED)
    clock: Callable[[], float] = time.time
    decryptor: Decryptor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        low, high = self.latency_ms
        if not self.secret_id or not self.secret_key:
            raise UsageError("the simulator needs a non-empty secret id and key")
        if self.rate_limit < 0 or not 0 <= low <= high:
            raise UsageError("rate limit and latency must be >= 0, latency as MIN <= MAX")
        if not 0.0 <= self.faults <= 1.0:
            raise UsageError("--faults is a probability between 0 and 1")
        if self.daily_quota is not None and self.daily_quota < 0:
            raise UsageError("--daily-quota must be >= 0")
        if not 0 <= self.night <= 100_000:
            raise UsageError("the simulator's night must be 0 (none) to 100000")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> SimConfig:
        """``TENCENTCLOUD_SECRET_ID``/``_KEY`` when both are set, else the demo pair; ``options``
        are the other fields."""
        env = os.environ if environ is None else environ
        sid, key = env.get(ENV_ID, "").strip(), env.get(ENV_KEY, "").strip()
        if sid and key:
            options = {"secret_id": sid, "secret_key": key, **options}
        return cls(**options)


class ApiError(Exception):
    """An API-level error reply: HTTP 200 with ``Response.Error``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message


@dataclass(frozen=True)
class GatewayAnswer:
    """Answer with a non-JSON gateway error page."""

    status: int


class DropAnswer:
    """Close the connection unanswered; ``billed_number`` is set when the drop is billed."""

    def __init__(self, billed_number: str | None) -> None:
        self.billed_number = billed_number


Answer = dict[str, object] | GatewayAnswer | DropAnswer


_MAX_DEPTH = 16  # the API's parameters nest three levels; a deeper request is an attack


def unflatten(pairs: Iterable[tuple[str, str]]) -> dict[str, object]:
    """GET parameters as the SDK flattens them (``Encryption.EncryptList.0=Mobile``) back to nesting."""
    root: dict[str, object] = {}
    for key, value in pairs:
        *path, last = key.split(".")
        if len(path) > _MAX_DEPTH:
            raise ApiError("InvalidParameter", f"The parameter `{key[:60]}` is nested too deeply.")
        node = root
        for part in path:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = value
    return {k: _listify(v) for k, v in root.items()}


def _listify(node: object) -> object:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _without_port(host: str) -> str:
    """``127.0.0.1:8080`` → ``127.0.0.1``; ``[::1]:8080`` → ``[::1]`` (a URL's hostname)."""
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() and ":" not in name else host


def _parse_authorization(value: str) -> tuple[str, str, str, str, str]:
    """(secret id, date, service, signed headers, signature) or InvalidAuthorization."""
    bad = ApiError(
        "AuthFailure.InvalidAuthorization", "`Authorization` is not in the TC3-HMAC-SHA256 format."
    )
    prefix = signing.ALGORITHM + " "
    if not value.startswith(prefix):
        raise bad
    fields: dict[str, str] = {}
    for part in value[len(prefix) :].split(","):
        name, sep, val = part.strip().partition("=")
        if not sep:
            raise bad
        fields[name] = val
    scope = fields.get("Credential", "").split("/")
    signed, sig = fields.get("SignedHeaders", ""), fields.get("Signature", "")
    headers = signed.split(";")
    if len(scope) != 4 or scope[3] != "tc3_request" or not scope[0] or "content-type" not in headers:
        raise bad
    if "host" not in headers or len(sig) != 64:
        raise bad
    return scope[0], scope[1], scope[2], signed, sig


class Engine:
    """One simulator's state (ledger, seeded RNGs, lazily loaded Decryptor) and its decisions."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.ledger = Ledger()
        self._decryptor = cfg.decryptor
        self.reseed()

    def reseed(self) -> None:
        seed = self.cfg.seed if self.cfg.seed is not None else random.randrange(2**32)
        self._fault_rng = random.Random(seed)
        self._latency_rng = random.Random(seed + 1)

    def reset(self) -> None:
        self.ledger.clear()
        self.reseed()

    @property
    def decryptor(self) -> Decryptor:
        if self._decryptor is None:
            from batchverify.simulator.decrypt import simulator_decryptor

            self._decryptor = simulator_decryptor()
        return self._decryptor

    def _authenticate(self, request: web.Request, body: bytes) -> str:
        cfg = self.cfg
        secret_id, date, service, signed, sig = _parse_authorization(request.headers.get("Authorization", ""))
        stamp = request.headers.get("X-TC-Timestamp", "")
        if not stamp:
            raise ApiError("MissingParameter", "The request is missing a required parameter `Timestamp`.")
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 11):
            raise ApiError("InvalidParameter", "Parameter `Timestamp` type error.")
        timestamp = int(stamp)
        host = request.headers.get("Host", "")
        # Tencent's Node.js SDK names the service after the endpoint's first label ("127" for
        # 127.0.0.1:8080) and signs the host without its port; the other SDKs sign "faceid" and
        # the Host header as sent. A local endpoint accepts what each official SDK signs.
        if service not in (SERVICE, host.split(".")[0]) or date != signing.utc_date(timestamp):
            raise ApiError(
                "AuthFailure.SignatureFailure",
                f"The credential scope `{date}/{service}` does not match "
                f"`{signing.utc_date(timestamp)}/{SERVICE}` (UTC date of X-TC-Timestamp).",
            )
        if secret_id != cfg.secret_id:
            raise ApiError(
                "AuthFailure.SecretIdNotFound",
                "The SecretId is not found, please ensure that your SecretId is correct.",
            )
        if abs(cfg.clock() - timestamp) > MAX_SKEW_S:
            raise ApiError("AuthFailure.SignatureExpire", "The signature is expired, please request again.")
        unsigned = request.headers.get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD"
        content_type = request.headers.get("Content-Type", "")
        if not (host.isascii() and content_type.isascii()):
            raise ApiError(
                "AuthFailure.SignatureFailure", "The `Host` and `Content-Type` headers must be ASCII."
            )
        matched = False
        for signed_host in dict.fromkeys((host, _without_port(host))):
            expected = signing.signature(
                secret_key=cfg.secret_key,
                service=service,
                timestamp=timestamp,
                method=request.method,
                host=signed_host,
                content_type=content_type,
                # The raw query as received: the SDK signs its own (unsorted) urlencode() output.
                query=request.raw_path.partition("?")[2],
                payload=body,
                payload_hash=hashlib.sha256(b"UNSIGNED-PAYLOAD").hexdigest() if unsigned else None,
            )
            matched = matched or hmac.compare_digest(expected, sig)
        if signed != signing.SIGNED_HEADERS or not matched:
            raise ApiError(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature is correct.",
            )
        return secret_id

    def _params(self, request: web.Request, body: bytes) -> dict[str, object]:
        if request.method == "GET":
            return unflatten(parse_qsl(request.raw_path.partition("?")[2], keep_blank_values=True))
        try:
            params = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise ApiError("InvalidParameter", "The request body is not valid JSON.") from None
        except RecursionError:
            raise ApiError("InvalidParameter", "The request body is nested too deeply.") from None
        if not isinstance(params, dict):
            raise ApiError("InvalidParameter", "The request body must be a JSON object.")
        return params

    def _mobile(self, params: dict[str, object]) -> str:
        if "Mobile" not in params:
            raise ApiError("MissingParameter", "The request is missing a required parameter `Mobile`.")
        if not isinstance(params["Mobile"], str):
            raise ApiError("InvalidParameter", "Parameter `Mobile` type error.")
        for name in params:
            if name not in KNOWN_PARAMS:
                raise ApiError("UnknownParameter", f"The parameter `{name[:60]}` is not recognized.")
        if "Encryption" not in params:
            return params["Mobile"]
        from batchverify.simulator.decrypt import DecryptFailure

        try:
            return self.decryptor.decrypt_mobile(params)
        except DecryptFailure as exc:
            raise ApiError(exc.code, exc.message) from None

    def _fault(self) -> str | None:
        if self.cfg.faults and self._fault_rng.random() < self.cfg.faults:
            kind = self._fault_rng.choice(FAULT_KINDS)
            self.ledger.fault(kind)
            return kind
        return None

    def answer(self, request: web.Request, body: bytes) -> tuple[Answer, float]:
        """What to send for one API request, and the extra delay (s) before sending it."""
        if request.method not in ("GET", "POST"):
            raise ApiError(
                "UnsupportedProtocol", f"The HTTP method `{request.method[:20]}` is not supported."
            )
        secret_id = self._authenticate(request, body)
        action = request.headers.get("X-TC-Action", "")
        if action != ACTION:
            raise ApiError("InvalidAction", "The request `Action` is invalid or not found.")
        version = request.headers.get("X-TC-Version", "")
        if version != API_VERSION:
            raise ApiError(
                "NoSuchVersion", f"The requested version `{version[:20]}` of service `faceid` does not exist."
            )
        limit = self.cfg.rate_limit
        count = self.ledger.admit(secret_id, limit, time.monotonic(), self.cfg.clock())
        if count:
            raise ApiError(
                "RequestLimitExceeded",
                f"Your current request times equals to `{count}` in a second, "
                f"which exceeds the frequency limit `{limit}`",
            )
        extra = 0.0
        fault = self._fault()
        if fault == "latency":
            extra = self._fault_rng.uniform(0.3, 1.0)
        elif fault == "gateway":
            return GatewayAnswer(self._fault_rng.choice((502, 503))), 0.0
        elif fault == "internal_error":
            raise ApiError("InternalError", "An internal error has occurred. Retry your request.")
        elif fault == "drop":
            return DropAnswer(None), 0.0
        elif fault == "busy":
            return self._business(request, None, simnumbers.Business("-3", 99)), 0.0
        number = self._mobile(self._params(request, body))
        outcome = simnumbers.scripted_outcome(number, self.ledger.next_attempt(number), self.cfg.night)
        billable = isinstance(outcome, simnumbers.Drop) or (
            isinstance(outcome, simnumbers.Business) and outcome.result == "0"
        )
        if billable and self.ledger.quota_exhausted(self.cfg.daily_quota):
            outcome = simnumbers.Business("-4", 99)
        if isinstance(outcome, simnumbers.Business):
            return self._business(request, number, outcome), extra
        if isinstance(outcome, simnumbers.ApiFailure):
            raise ApiError(outcome.code, outcome.message)
        if isinstance(outcome, simnumbers.Gateway):
            return GatewayAnswer(outcome.http_status), extra
        return DropAnswer(number), extra

    def _business(self, request: web.Request, number: str | None, outcome: simnumbers.Business) -> Answer:
        self.ledger.business(number, outcome.result)
        language = request.headers.get("X-TC-Language", "en-US")
        return {
            "Result": outcome.result,
            "Description": simnumbers.description(outcome.result, language),
            "StatusCode": outcome.status_code,
            "RequestId": str(uuid.uuid4()),
        }

    def latency(self) -> float:
        low, high = self.cfg.latency_ms
        return self._latency_rng.uniform(low, high) / 1000 if high else 0.0
