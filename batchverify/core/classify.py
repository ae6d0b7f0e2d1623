"""Pure rules: what a reply means, whether to retry it, and the row result it becomes. No I/O."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from batchverify.core.timeutil import clock_offset
from batchverify.errors import FatalApiError
from batchverify.models import (
    STATUS_BY_CODE,
    STATUS_BY_RESULT,
    BadReply,
    BusinessReply,
    ErrorReply,
    Reply,
    RowResult,
    Status,
    TransportFailure,
)


class CallKind(enum.StrEnum):
    """How one call ended, for the retry loop."""

    ANSWER = "answer"  # a business result to record (possibly not final, e.g. -4)
    THROTTLED = "throttled"  # RequestLimitExceeded: slow down and retry, never fails a row
    BUSY = "busy"  # Result -3: retry later, not billed
    NOT_SENT = "not_sent"  # connection refused / connect timeout: safe to retry
    SERVER = "server"  # InternalError, 5xx, malformed body: retry a bounded number of times
    UNCERTAIN = "uncertain"  # may have reached the server and been billed: retry, but few times
    FATAL = "fatal"  # the whole job must stop
    ROW_ERROR = "row_error"  # this number cannot be checked; record the error


_THROTTLE_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
        "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
        "RequestLimitExceeded.IPLimitExceeded",
        "FailedOperation.RequestLimitExceeded",
    }
)
_SERVER_CODES = frozenset(
    {
        "InternalError",
        "FailedOperation.UnKnown",
        "ServiceUnavailable",
        "ResourceUnavailable",
        "ResourceInsufficient",
        "ResourceInUse",
    }
)
_FATAL_CODES = frozenset(
    {"InvalidAction", "NoSuchVersion", "FailedOperation.StsUnAuthErrError", "UnsupportedProtocol"}
)
_FATAL_PREFIXES = ("AuthFailure", "UnauthorizedOperation")


def classify(reply: Reply) -> CallKind:
    """The retry class of one reply (the retry classes in the README, "Rate, retries and what is billed")."""
    if isinstance(reply, BusinessReply):
        return CallKind.BUSY if reply.result == "-3" else CallKind.ANSWER
    if isinstance(reply, TransportFailure):
        return CallKind.UNCERTAIN if reply.maybe_sent else CallKind.NOT_SENT
    if isinstance(reply, BadReply):
        return CallKind.SERVER
    return classify_error_code(reply.code)


def classify_error_code(code: str) -> CallKind:
    """The retry class of an API error code."""
    if code in _THROTTLE_CODES or code.startswith("RequestLimitExceeded"):
        return CallKind.THROTTLED
    if code in _SERVER_CODES or code.startswith("InternalError"):
        return CallKind.SERVER
    if code in _FATAL_CODES or code.split(".", 1)[0] in _FATAL_PREFIXES:
        return CallKind.FATAL
    return CallKind.ROW_ERROR


def result_from_reply(reply: BusinessReply, checked_at: str) -> RowResult:
    """The row result a business reply stands for (the README's status vocabulary)."""
    if reply.problem:
        status = Status.UNRECOGNIZED
    elif reply.result == "0":
        status = (
            STATUS_BY_CODE.get(reply.status_code, Status.UNKNOWN)
            if reply.status_code is not None
            else Status.UNKNOWN
        )
    else:
        status = STATUS_BY_RESULT.get(reply.result, Status.UNRECOGNIZED)
    return RowResult(
        status=status,
        status_code=reply.status_code,
        result_code=reply.result,
        billable=reply.result == "0",
        description=reply.description,
        request_id=reply.request_id,
        checked_at=checked_at,
        error=reply.problem,
    )


def error_result(reply: Reply, kind: CallKind, checked_at: str) -> RowResult:
    """The row result when a number ends without a usable answer (retries exhausted, row error)."""
    request_id = ""
    if isinstance(reply, ErrorReply):
        error = f"{reply.code}: {reply.message}" if reply.message else reply.code
        request_id = reply.request_id
    elif isinstance(reply, BadReply):
        error = f"HTTP {reply.http_status}: {reply.detail}" if reply.http_status else reply.detail
    elif isinstance(reply, TransportFailure):
        error = ("uncertain: " if reply.maybe_sent else "network: ") + reply.detail
    else:
        # A busy number whose retries ran out keeps its business answer.
        return result_from_reply(reply, checked_at)
    if kind is CallKind.THROTTLED:
        error = "rate limited: " + error
    return RowResult(status=Status.ERROR, request_id=request_id, checked_at=checked_at, error=error)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times each kind of failure is retried, and how long to wait between attempts."""

    busy_retries: int = 3
    server_retries: int = 3
    not_sent_retries: int = 5
    # Not retrying would not save money: the row stays unanswered and the next run asks again. The
    # bound only caps what a server that bills and then drops every reply can cost per number.
    uncertain_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 30.0

    def retries_for(self, kind: CallKind) -> int | None:
        """Retries allowed for ``kind``; None means unbounded (throttling never fails a row)."""
        if kind is CallKind.THROTTLED:
            return None
        return {
            CallKind.BUSY: self.busy_retries,
            CallKind.SERVER: self.server_retries,
            CallKind.NOT_SENT: self.not_sent_retries,
            CallKind.UNCERTAIN: self.uncertain_retries,
        }.get(kind, 0)

    def delay(self, retry: int, rng: random.Random) -> float:
        """Exponential backoff with jitter for the ``retry``-th retry (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** min(retry - 1, 32))  # no float overflow
        return float(ceiling * (0.5 + rng.random() / 2))


def fatal_error(reply: ErrorReply, local_epoch: float) -> FatalApiError:
    """The error that stops the job; an expired signature names how far off the local clock is."""
    message = reply.message
    if reply.code == "AuthFailure.SignatureExpire":
        offset = clock_offset(reply.server_date, local_epoch)
        if offset is not None and abs(offset) >= 60:
            way = "ahead of" if offset > 0 else "behind"
            message = (
                f"the local clock is about {abs(offset):.0f} s {way} the server's; requests are "
                "signed with the local time, so set the clock right (NTP) and run again"
            )
    return FatalApiError(reply.code, message, reply.request_id)
