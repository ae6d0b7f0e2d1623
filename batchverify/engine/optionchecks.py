"""The checks behind ``Options``: each option's value checked (and put in the form it is stored in) by
name, the choices that go together, and the ranges the command line and the docs state."""

from __future__ import annotations

import codecs
import datetime
import math
import os
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from batchverify.core.labels import resolve_language
from batchverify.core.timeutil import parse_duration
from batchverify.errors import UsageError
from batchverify.models import Status
from batchverify.tencent.credentials import Credentials

__all__ = ["CHECKS", "ENCRYPTIONS", "LIMITS", "PathArg", "RunningSimulator", "check_together", "known_zone"]

# The algorithms ``encrypt`` accepts, as the API names them.
ENCRYPTIONS = {"aes-256-cbc": "AES-256-CBC", "sm4-gcm": "SM4-GCM"}

# (lowest, highest) for each number; the README's option tables state the same ranges.
LIMITS: dict[str, tuple[float, float]] = {
    "rate": (0.1, 1000.0),
    "concurrency": (1, 1000),
    "timeout": (1.0, 600.0),
    "header_row": (0, 1_048_576),
    "max_billable": (0, 10**12),
    "price": (0.0, 1e6),
    "simulator_night": (0, 100_000),
}


@runtime_checkable
class RunningSimulator(Protocol):
    """A simulator already serving (``batchverify.Simulator``): its URL and demo keys."""

    @property
    def url(self) -> str: ...

    @property
    def credentials(self) -> Credentials: ...


PathArg = str | os.PathLike[str]


# --- the checks: (name, value) -> the value as stored ---------------------------------------------


def _bad(name: str, value: object, expected: str, code: str = "bad_value") -> UsageError:
    # Numbers shown alike whichever front end parsed them (0 and 0.0, 1e9 and 1000000000).
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    try:
        shown = f"{value:g}" if numeric else repr(value)
    except (OverflowError, ValueError):  # an integer too large for a float, or to print in full
        shown = "a number of more than 300 digits"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return UsageError(
        "{o[" + name + "]} must be {expected}, not {value}",
        code=code,
        option=name,
        expected=expected,
        value=shown,
    )


def _number(kind: type, optional: bool = False) -> Any:
    def check(name: str, value: object) -> object:
        if value is None and optional:
            return None
        low, high = LIMITS[name]
        integer = kind is int
        what = "a whole number" if integer else "a number"
        expected = f"{what} from {low:g} to {high:g}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(name, value, expected, "wrong_type")
        if integer and isinstance(value, float):
            if not value.is_integer():
                raise _bad(name, value, expected, "wrong_type")
            value = int(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise _bad(name, value, expected, "not_finite")
        if not low <= value <= high:
            raise _bad(name, value, expected, "out_of_range")
        return float(value) if not integer and isinstance(value, int) else value

    return check


def _text(name: str, value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(name, value, "text", "wrong_type")
    if not value.strip() or any(ord(c) < 32 for c in value):
        raise _bad(name, value, "a non-empty line of text")
    return value


def _column(name: str, value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 16_384:  # Excel's widest sheet
            raise _bad(name, value, "a header name, a letter such as C, or a number from 1", "out_of_range")
        return str(value)  # a position, as the command line's "--column 3" is
    return _text(name, value)


def _answers(name: str, value: object) -> object:
    if isinstance(value, str) and value.strip().lower() == "none":
        return "none"
    return _path(name, value)


def _flag(name: str, value: object) -> object:
    if not isinstance(value, bool):
        raise _bad(name, value, "True or False", "wrong_type")
    return value


def _path(name: str, value: object) -> object:
    if value is None:
        return None
    if isinstance(value, Path):
        return value
    if isinstance(value, str | os.PathLike) and str(value).strip():
        return Path(value)
    raise _bad(name, value, "a file path", "wrong_type")


def _codec(name: str, value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, value, "a text encoding such as utf-8 or gb18030", "wrong_type")
    try:
        info = codecs.lookup(value)
    except LookupError:
        raise UsageError(
            "unknown {o[" + name + "]} {value!r}: use a text encoding such as utf-8 or gb18030",
            code="unknown_encoding",
            option=name,
            value=value,
        ) from None
    if not getattr(info, "_is_text_encoding", True):
        raise UsageError(
            "{o[" + name + "]} {value!r} is not a text encoding: use one such as utf-8 or gb18030",
            code="unknown_encoding",
            option=name,
            value=value,
        )
    return value


def _language(name: str, value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(name, value, "zh-CN or en", "wrong_type")
    try:
        return resolve_language(value)
    except ValueError:
        raise _bad(name, value, "zh-CN or en", "unknown_language") from None


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> object:
    if value not in allowed:
        raise _bad(name, value, " or ".join(allowed))
    return value


def known_zone(value: str) -> bool:
    """Whether ``value`` names a time zone this machine knows (not a folder like "Asia", a path, or a
    name too long): the one test for every front end's time zone."""
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, KeyError, OSError):
        return False
    return True


def _zone(name: str, value: object) -> object:
    if value is None or (isinstance(value, str) and known_zone(value)):
        return value
    code = "unknown_time_zone" if isinstance(value, str) else "wrong_type"
    raise _bad(name, value, "a time zone name such as Asia/Shanghai", code)


def _max_age(name: str, value: object) -> object:
    if value is None and name == "max_age":
        return None
    given = value
    if isinstance(value, str):
        try:
            value = parse_duration(value)
        except UsageError as exc:
            raise UsageError(
                "{o[" + name + "]} {value!r} is not a duration it takes: {why}",
                code=exc.code,
                option=name,
                value=given,
                why=exc.params.get("why", ""),
            ) from None
    if not isinstance(value, datetime.timedelta):
        raise _bad(name, given, "a duration such as 30m, 12h or 7d (or a timedelta)", "wrong_type")
    if value <= datetime.timedelta(0) or value > datetime.timedelta(days=3650):
        raise _bad(name, given, "longer than 0 and at most 3650d", "out_of_range")
    return value


def _ages_by_status(name: str, value: object) -> object:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(name, value, "a mapping of status to duration, such as {'cancelled': '90d'}", "wrong_type")
    finals = sorted(s.value for s in Status if s.is_final and s is not Status.EMPTY)
    ages: dict[str, datetime.timedelta] = {}
    for status, age in value.items():
        if status not in finals:
            raise UsageError(
                "{o[" + name + "]}: {status!r} is not a final status (one of {finals})",
                code="unknown_status",
                option=name,
                status=status,
                finals=", ".join(finals),
            )
        if age is None:
            raise _bad(name, age, "a duration such as 90d for each status", "wrong_type")
        checked = _max_age(name, age)
        if isinstance(checked, datetime.timedelta):
            ages[str(status)] = checked
    return ages


def _endpoint(name: str, value: object) -> object:
    if value is None or isinstance(value, RunningSimulator):
        return value
    if not isinstance(value, str):
        raise _bad(name, value, "a URL such as https://faceid.tencentcloudapi.com", "wrong_type")
    from batchverify.tencent.client import Endpoint

    Endpoint.parse(value)  # a UsageError naming the endpoint option, and never a secret in the URL
    return value


def _credentials(name: str, value: object) -> object:
    if value is not None and not isinstance(value, Credentials):
        raise _bad(name, value, "a batchverify.Credentials", "wrong_type")
    return value


def _encrypt(name: str, value: object) -> object:
    if value is None:
        return None
    folded = value.strip().lower() if isinstance(value, str) else None
    if folded not in ENCRYPTIONS:
        raise _bad(name, value, " or ".join(sorted(ENCRYPTIONS)), "unknown_encryption")
    return folded


def _rate_store(name: str, value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(name, value, "host, memory, a folder or redis://HOST:PORT/DB", "wrong_type")
    spec = value.strip()
    if spec in ("host", "memory") or spec.startswith(("redis://", "rediss://", "unix://", "/", "~")):
        return spec
    raise _bad(
        name, value, "host, memory, a folder's absolute path or redis://HOST:PORT/DB", "unknown_rate_store"
    )


CHECKS: dict[str, Any] = {
    "endpoint": _endpoint,
    "simulator": _flag,
    "simulator_night": _number(int),
    "credentials": _credentials,
    "profile": _text,
    "rate": _number(float),
    "concurrency": _number(int),
    "timeout": _number(float),
    "rate_store": _rate_store,
    "encrypt": _encrypt,
    "encryption_public_key": _path,
    "column": _column,
    "sheet": _text,
    "header_row": _number(int, optional=True),
    "encoding": _codec,
    "output_encoding": _codec,
    "language": _language,
    "headers": lambda name, value: _one_of(name, value, ("words", "names")),
    "time_zone": _zone,
    "title": _text,
    "retry_advice": lambda name, value: _one_of(name, value, ("command", "button", "call")),
    "summary_sheet": _flag,
    "overwrite": _flag,
    "problems": _path,
    "changes": _path,
    "max_age": _max_age,
    "max_age_by_status": _ages_by_status,
    "restart": _flag,
    "checkpoint": _path,
    "max_billable": _number(int, optional=True),
    "price": _number(float, optional=True),
    "answers": _answers,
    "answers_keep": _max_age,
}


def check_together(options: Any) -> None:
    """The choices that exclude or need each other (``options``: an ``Options``)."""
    if options.simulator and options.endpoint is not None:
        raise UsageError(
            "{o[simulator]} and {o[endpoint]} exclude each other", code="conflict", option="endpoint"
        )
    if options.simulator_night and not options.simulator:
        raise UsageError(
            "{o[simulator_night]} applies to the built-in simulator ({o[simulator]}); a simulator "
            "started on its own is given its night when it starts",
            code="conflict",
            option="simulator_night",
        )
    if options.encryption_public_key is not None and options.encrypt is None:
        raise UsageError(
            "{o[encryption_public_key]} needs {o[encrypt]}", code="conflict", option="encryption_public_key"
        )
