"""The simulator's deterministic answers: documented test numbers, and a stable spread for the rest.

Pure: ``scripted_outcome(number, attempt)`` says what the simulator answers for the ``attempt``-th
call (0-based) it has seen for ``number``. The README's test-number table is this module.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Business:
    """A business reply: HTTP 200, ``Result``/``StatusCode``/``Description``."""

    result: str
    status_code: int


@dataclass(frozen=True, slots=True)
class ApiFailure:
    """An API-level error reply: HTTP 200 with ``Response.Error``."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Drop:
    """Read the request, then close the connection without answering (the call may be billed)."""


@dataclass(frozen=True, slots=True)
class Gateway:
    """A non-JSON gateway error with this HTTP status."""

    http_status: int


Outcome = Business | ApiFailure | Drop | Gateway

OK_NORMAL = Business("0", 0)

# number -> outcomes by attempt; the last entry repeats for every later attempt.
TEST_NUMBERS: dict[str, tuple[Outcome, ...]] = {
    # The API page's own two examples.
    "13800138000": (Business("0", 1),),
    "16137688175": (Business("-2", 99),),
    # Every StatusCode of a billed (Result 0) answer.
    "13800000000": (Business("0", 0),),
    "13800000001": (Business("0", 1),),
    "13800000002": (Business("0", 2),),
    "13800000004": (Business("0", 4),),
    "13800000005": (Business("0", 5),),
    "13800000099": (Business("0", 99),),
    "13800000007": (Business("0", 7),),  # a StatusCode the docs do not list
    # Every non-billed Result.
    "13900000001": (Business("-1", 99),),
    "13900000002": (Business("-2", 99),),
    "13900000003": (Business("-3", 99),),  # busy on every attempt
    "13900000004": (Business("-4", 99),),
    "13900000013": (Business("-13", 99),),
    "13900000009": (Business("-9", 99),),  # a Result the docs do not list
    "13900000033": (Business("-3", 99), Business("-3", 99), OK_NORMAL),  # busy twice, then normal
    # Errors and transport trouble.
    "13700000001": (ApiFailure("InvalidParameterValue", "The mobile number is not acceptable."),),
    "13700000002": (ApiFailure("InternalError", "Internal error."),),  # on every attempt
    "13700000003": (ApiFailure("FailedOperation.UnKnown", "Unknown internal error."), OK_NORMAL),
    "13700000004": (Gateway(502), OK_NORMAL),
    "13700000006": (Drop(), OK_NORMAL),  # dropped once after reading: uncertain, then normal
    "13700000007": (Drop(),),  # dropped on every attempt
    "13700000008": (ApiFailure("UnauthorizedOperation.Nonactivated", "The service is not activated."),),
    "13700000009": (ApiFailure("UnauthorizedOperation.Arrears", "The account is in arrears."),),
}

# Every other number gets a stable answer from its hash, spread like a real customer list.
_SPREAD: tuple[tuple[float, Business], ...] = (
    (0.80, Business("0", 0)),
    (0.86, Business("0", 1)),
    (0.91, Business("0", 2)),
    (0.95, Business("0", 4)),
    (0.97, Business("0", 5)),
    (0.98, Business("0", 99)),
    (0.99, Business("-1", 99)),
    (1.01, Business("-13", 99)),
)

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    # Result -> (en-US, zh-CN)
    "0": ("Success", "成功"),
    "-1": ("No results found", "查无记录"),
    "-2": ("Invalid phone number format", "手机号格式不正确"),
    "-3": ("Verification center service is busy", "验证中心服务繁忙"),
    "-4": ("Authentication attempts exceeded the daily limit", "当日验证次数超出限制"),
    "-13": ("Number range not supported", "号段不支持"),
}


# A night (``night`` >= 1, a rehearsal of the nightly routine): of the numbers whose answer is
# normal, NIGHT_CANCELLED are cancelled and NIGHT_OUT_OF_SERVICE out of service on that night alone
# (chosen anew each night from the number and the night), so from one night to the next about 5 %
# of them move away from normal and about 5 % come back. Night 0 is the simulator without nights.
NIGHT_CANCELLED = 0.02
NIGHT_OUT_OF_SERVICE = 0.03


def scripted_outcome(number: str, attempt: int, night: int = 0) -> Outcome:
    """What the simulator answers for the ``attempt``-th call (0-based) for ``number`` (on
    ``night``: see ``NIGHT_CANCELLED``)."""
    script = TEST_NUMBERS.get(number)
    if script is not None:
        return script[min(attempt, len(script) - 1)]
    if not (len(number) == 11 and number.isdigit() and number[0] == "1" and number[1] in "3456789"):
        return Business("-2", 99)
    outcome = next(outcome for bound, outcome in _SPREAD if _share(number) < bound)
    if night > 0 and outcome == OK_NORMAL:
        tonight = _share(f"{number}/night/{night}")
        if tonight < NIGHT_CANCELLED:
            return Business("0", 2)
        if tonight < NIGHT_CANCELLED + NIGHT_OUT_OF_SERVICE:
            return Business("0", 1)
    return outcome


def _share(text: str) -> float:
    """A stable number in [0, 1) for ``text``."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 2**32


def description(result: str, language: str) -> str:
    """The ``Description`` text in the request's ``X-TC-Language`` (en-US unless zh-CN)."""
    en, zh = DESCRIPTIONS.get(result, ("Unrecognized result", "未知结果"))
    return zh if language.lower() == "zh-cn" else en
