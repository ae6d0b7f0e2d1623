"""Typed values shared by every layer: API replies, row statuses, results. Stdlib only."""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_ENDPOINT = "https://faceid.intl.tencentcloudapi.com"
SIMULATOR_IDENTITY = "the built-in simulator"  # what a checkpoint made against the simulator is tied to
ACTION = "MobileStatus"
API_VERSION = "2018-03-01"
SERVICE = "faceid"

# The result columns every output adds, in this order.
OUTPUT_COLUMNS = [
    "mobile_normalized",
    "mobile_status",
    "mobile_status_label",
    "mobile_action",
    "mobile_previous_status",
    "mobile_previous_status_label",
    "mobile_status_code",
    "mobile_result_code",
    "mobile_billable",
    "mobile_description",
    "mobile_request_id",
    "mobile_checked_at",
    "mobile_error",
    "mobile_source",
]


class Status(enum.StrEnum):
    """The ``mobile_status`` vocabulary written to every output row."""

    NORMAL = "normal"
    OUT_OF_SERVICE = "out_of_service"
    CANCELLED = "cancelled"
    OFFLINE = "offline"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"
    NOT_FOUND = "not_found"
    INVALID_NUMBER = "invalid_number"
    BUSY = "busy"
    DAILY_LIMIT = "daily_limit"
    UNSUPPORTED_RANGE = "unsupported_range"
    UNRECOGNIZED = "unrecognized"
    ERROR = "error"
    EMPTY = "empty"
    PENDING = "pending"

    @property
    def is_final(self) -> bool:
        """Whether a row with this status needs no further call (a later run will not retry it)."""
        return self not in _NOT_FINAL


_NOT_FINAL = frozenset({Status.BUSY, Status.DAILY_LIMIT, Status.ERROR, Status.PENDING})

# StatusCode meanings for Result "0" (billed) replies.
STATUS_BY_CODE: dict[int, Status] = {
    0: Status.NORMAL,
    1: Status.OUT_OF_SERVICE,
    2: Status.CANCELLED,
    4: Status.OFFLINE,
    5: Status.UNAVAILABLE,
    99: Status.UNKNOWN,
}

# Non-zero Result codes (never billed) and the status each means.
STATUS_BY_RESULT: dict[str, Status] = {
    "-1": Status.NOT_FOUND,
    "-2": Status.INVALID_NUMBER,
    "-3": Status.BUSY,
    "-4": Status.DAILY_LIMIT,
    "-13": Status.UNSUPPORTED_RANGE,
}


# --- What one call can come back as -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusinessReply:
    """A well-formed business answer: ``Result``, ``StatusCode``, ``Description``, ``RequestId``."""

    result: str
    status_code: int | None
    description: str
    request_id: str
    problem: str = ""  # what was wrong with a field of it (the answer is still recorded, as it was paid)


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An API-level error (``Response.Error``), HTTP 200 with a code and message."""

    code: str
    message: str
    request_id: str
    server_date: str = ""  # the reply's HTTP Date header, to name a local clock that is off


@dataclass(frozen=True, slots=True)
class BadReply:
    """The server answered, but not with a usable API envelope (HTTP 5xx, non-JSON, off-schema)."""

    http_status: int
    detail: str


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """No answer arrived.

    ``maybe_sent`` is False when the request certainly never left (connection refused, connect
    timeout) and True when it may have reached the server and been billed (read timeout, reset).
    """

    maybe_sent: bool
    detail: str


Reply = BusinessReply | ErrorReply | BadReply | TransportFailure


@dataclass(frozen=True, slots=True)
class RowResult:
    """The answer recorded for one distinct normalized number; the output columns come from it."""

    status: Status
    status_code: int | None = None
    result_code: str | None = None
    billable: bool = False
    description: str = ""
    request_id: str = ""
    checked_at: str = ""  # ISO 8601 UTC, e.g. 2026-11-26T23:01:59Z
    error: str = ""
