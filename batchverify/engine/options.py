"""One options value for every front end: ``Options`` holds each choice a job can make, checks each
once when built, and raises ``UsageError`` naming the option (``error.option``) and a stable code.

The command line, the upload server and the Python API fill this value and nothing else; whatever
reaches the engine has been through these checks, whichever front end it came from.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime
import math
import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from batchverify.core.labels import resolve_language
from batchverify.core.timeutil import parse_duration
from batchverify.errors import UsageError
from batchverify.models import Status
from batchverify.tencent.credentials import Credentials

__all__ = ["ENCRYPTIONS", "LIMITS", "Options", "RunningSimulator"]

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


@dataclass(frozen=True)
class Options:
    """Every option of a verification job, checked when the value is made.

    Where requests go: ``endpoint`` (a URL, a running ``Simulator``, or None for Tencent's),
    ``simulator`` (start the built-in one; ``simulator_night`` >= 1 rehearses a night of the nightly
    job, see ``batchverify.simulator.numbers.NIGHT_CANCELLED``), ``credentials`` / ``profile``, ``rate``,
    ``concurrency``, ``timeout`` (seconds one call may take), ``rate_store``, ``encrypt`` and
    ``encryption_public_key``. What is read: ``column``, ``sheet``, ``header_row``, ``encoding``.
    What is written: ``output_encoding``, ``language``, ``headers`` (``words``: the result columns'
    headers and codes in the language; ``names``: the stable ``mobile_*`` names), ``time_zone`` (an
    IANA name for the times a person reads; default the machine's), ``title`` (what the summary sheet
    calls the list), ``retry_advice`` (``command``, ``button`` or ``call``: how the summary sheet says
    to fill in the rows still open), ``summary_sheet``, ``overwrite``, ``problems``, ``changes``.
    Which answers count: ``max_age``, ``max_age_by_status`` (a window per final
    status, ``{"cancelled": "90d"}``, over ``max_age``), ``restart``, ``checkpoint``. Money:
    ``max_billable``, ``price``. The answer store every job shares: ``answers`` (a path; default in
    the user's data folder; ``"none"``: keep none, reuse none), ``answers_keep`` (how long an
    answer is kept, 90 days). ``dataclasses.replace(options, rate=10)`` checks again.
    """

    endpoint: str | RunningSimulator | None = None
    simulator: bool = False
    simulator_night: int = 0
    credentials: Credentials | None = None
    profile: str | None = None
    rate: float = 20.0
    concurrency: int = 50
    timeout: float = 30.0
    rate_store: str | None = None
    encrypt: str | None = None
    encryption_public_key: Path | None = None
    column: str | None = None
    sheet: str | None = None
    header_row: int | None = None
    encoding: str | None = None
    output_encoding: str | None = None
    language: str | None = None
    headers: str = "words"
    time_zone: str | None = None
    title: str | None = None
    retry_advice: str = "command"
    summary_sheet: bool = True
    overwrite: bool = False
    problems: Path | None = None
    changes: Path | None = None
    max_age: datetime.timedelta | None = None
    max_age_by_status: Mapping[str, datetime.timedelta] = dataclasses.field(default_factory=dict)
    restart: bool = False
    checkpoint: Path | None = None
    max_billable: int | None = None
    price: float | None = None
    answers: Path | str | None = None
    answers_keep: datetime.timedelta = datetime.timedelta(days=90)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check = _CHECKS.get(f.name)
            if check is not None:
                value = getattr(self, f.name)
                checked = check(f.name, value)
                if checked is not value:
                    object.__setattr__(self, f.name, checked)
        _check_together(self)

    def replace(self, **changes: Any) -> Options:
        """A copy with ``changes``, checked again."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def of(cls, options: Options | None = None, **values: Any) -> Options:
        """``options`` (or the defaults) with ``values`` on top; an unknown name is a ``UsageError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UsageError(
                "unknown option {name!r}", code="unknown_option", option=unknown[0], name=unknown[0]
            )
        return dataclasses.replace(options, **values) if options is not None else cls(**values)


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


def _zone(name: str, value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(name, value, "a time zone name", "wrong_type")
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, KeyError, OSError):  # not found, a folder ("Asia"), a path, a name too long
        raise _bad(name, value, "a time zone name such as Asia/Shanghai", "unknown_time_zone") from None
    return value


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


_CHECKS: dict[str, Any] = {
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


def _check_together(options: Options) -> None:
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
