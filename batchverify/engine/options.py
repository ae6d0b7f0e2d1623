"""One options value for every front end: ``Options`` holds each choice a job can make, checks each
once when built, and raises ``UsageError`` naming the option (``error.option``) and a stable code.

The command line, the upload server and the Python API fill this value and nothing else; whatever
reaches the engine has been through these checks, whichever front end it came from.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchverify.engine.optionchecks import (
    CHECKS,
    ENCRYPTIONS,
    LIMITS,
    RunningSimulator,
    check_together,
)
from batchverify.errors import UsageError
from batchverify.tencent.credentials import Credentials

__all__ = ["ENCRYPTIONS", "LIMITS", "Options", "RunningSimulator"]


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
            check = CHECKS.get(f.name)
            if check is not None:
                value = getattr(self, f.name)
                checked = check(f.name, value)
                if checked is not value:
                    object.__setattr__(self, f.name, checked)
        check_together(self)

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
