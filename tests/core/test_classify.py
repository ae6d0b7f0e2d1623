"""The pure rules: reply kind, retry class, and the row result a reply becomes."""

from __future__ import annotations

import random

import pytest

from batchverify.core.classify import (
    CallKind,
    RetryPolicy,
    classify,
    classify_error_code,
    error_result,
    result_from_reply,
)
from batchverify.models import BadReply, BusinessReply, ErrorReply, Status, TransportFailure

NOW = "2026-11-26T23:00:00Z"


@pytest.mark.parametrize(
    ("result", "code", "status", "billable"),
    [
        ("0", 0, Status.NORMAL, True),
        ("0", 1, Status.OUT_OF_SERVICE, True),
        ("0", 2, Status.CANCELLED, True),
        ("0", 4, Status.OFFLINE, True),
        ("0", 5, Status.UNAVAILABLE, True),
        ("0", 99, Status.UNKNOWN, True),
        ("0", 7, Status.UNKNOWN, True),
        ("0", None, Status.UNKNOWN, True),
        ("-1", 99, Status.NOT_FOUND, False),
        ("-2", 99, Status.INVALID_NUMBER, False),
        ("-3", 99, Status.BUSY, False),
        ("-4", 99, Status.DAILY_LIMIT, False),
        ("-13", 99, Status.UNSUPPORTED_RANGE, False),
        ("-9", 99, Status.UNRECOGNIZED, False),
        ("7", 0, Status.UNRECOGNIZED, False),
    ],
)
def test_business_vocabulary(result: str, code: int | None, status: Status, billable: bool) -> None:
    row = result_from_reply(BusinessReply(result, code, "desc", "rid-1"), NOW)
    assert (row.status, row.billable) == (status, billable)
    assert (row.status_code, row.result_code, row.request_id, row.checked_at) == (code, result, "rid-1", NOW)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("RequestLimitExceeded", CallKind.THROTTLED),
        ("RequestLimitExceeded.UinLimitExceeded", CallKind.THROTTLED),
        ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", CallKind.THROTTLED),
        ("RequestLimitExceeded.IPLimitExceeded", CallKind.THROTTLED),
        ("InternalError", CallKind.SERVER),
        ("InternalError.UnKnown", CallKind.SERVER),
        ("FailedOperation.UnKnown", CallKind.SERVER),
        ("ServiceUnavailable", CallKind.SERVER),
        ("AuthFailure.SignatureFailure", CallKind.FATAL),
        ("AuthFailure.SecretIdNotFound", CallKind.FATAL),
        ("AuthFailure.SignatureExpire", CallKind.FATAL),
        ("UnauthorizedOperation.Arrears", CallKind.FATAL),
        ("UnauthorizedOperation.Nonactivated", CallKind.FATAL),
        ("UnauthorizedOperation.NonAuthorize", CallKind.FATAL),
        ("InvalidAction", CallKind.FATAL),
        ("NoSuchVersion", CallKind.FATAL),
        ("InvalidParameter", CallKind.ROW_ERROR),
        ("InvalidParameter.UnsupportEncryptField", CallKind.ROW_ERROR),
        ("InvalidParameterValue", CallKind.ROW_ERROR),
        ("FailedOperation.DecryptSystemError", CallKind.ROW_ERROR),
        ("SomethingNew.NeverSeen", CallKind.ROW_ERROR),
    ],
)
def test_error_codes(code: str, kind: CallKind) -> None:
    assert classify_error_code(code) is kind
    assert classify(ErrorReply(code, "m", "r")) is kind


def test_reply_kinds() -> None:
    assert classify(BusinessReply("0", 0, "", "")) is CallKind.ANSWER
    assert classify(BusinessReply("-4", 99, "", "")) is CallKind.ANSWER
    assert classify(BusinessReply("-3", 99, "", "")) is CallKind.BUSY
    assert classify(BadReply(502, "bad gateway")) is CallKind.SERVER
    assert classify(TransportFailure(maybe_sent=False, detail="refused")) is CallKind.NOT_SENT
    assert classify(TransportFailure(maybe_sent=True, detail="read timeout")) is CallKind.UNCERTAIN


def test_error_results_keep_the_code() -> None:
    row = error_result(ErrorReply("InvalidParameterValue", "bad value", "rid"), CallKind.ROW_ERROR, NOW)
    assert (row.status, row.error, row.request_id, row.billable) == (
        Status.ERROR,
        "InvalidParameterValue: bad value",
        "rid",
        False,
    )
    assert error_result(BadReply(503, "x"), CallKind.SERVER, NOW).error == "HTTP 503: x"
    assert error_result(TransportFailure(True, "t"), CallKind.UNCERTAIN, NOW).error == "uncertain: t"
    busy = error_result(BusinessReply("-3", 99, "busy", "rid"), CallKind.BUSY, NOW)
    assert busy.status is Status.BUSY and not busy.status.is_final


def test_retry_budget_and_backoff() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    assert policy.retries_for(CallKind.THROTTLED) is None
    assert policy.retries_for(CallKind.UNCERTAIN) == 2
    assert policy.retries_for(CallKind.ROW_ERROR) == 0
    assert policy.retries_for(CallKind.FATAL) == 0
    rng = random.Random(1)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [policy.delay(retry, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not fixed


def test_final_statuses() -> None:
    not_final = {s for s in Status if not s.is_final}
    assert not_final == {Status.BUSY, Status.DAILY_LIMIT, Status.ERROR, Status.PENDING}
