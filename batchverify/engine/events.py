"""What a running job tells its front ends, as plain values.

The command line's tqdm bar and log lines, the upload page's event stream and a notebook's
``tqdm.auto`` bar each consume the same events through an ``EventSink`` (any callable taking one
event). A sink is called on the job's event loop and must not block it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from batchverify.models import RowResult

if TYPE_CHECKING:
    from batchverify.engine.plan import Plan

__all__ = [
    "AnswerRecorded",
    "Event",
    "EventSink",
    "JobStarted",
    "OutputWritten",
    "PlanReady",
    "Retrying",
    "SendingEnded",
    "Sharing",
    "StopReason",
    "Stopped",
    "Throttled",
    "emit",
    "ignore",
]


class StopReason(enum.StrEnum):
    """Why the sending stage ended before every number had an answer (machine-readable)."""

    INTERRUPTED = "interrupted"  # a stop was asked for (Ctrl-C, SIGTERM, job.stop(), a web Stop)
    FATAL = "fatal"  # the API refused the whole job (authentication, arrears, ...)
    DAILY_LIMIT = "daily_limit"  # the account's daily quota is used up
    NETWORK = "network"  # the API could not be reached
    NO_ANSWER = "no_answer"  # calls keep timing out or being cut off: each may have been billed
    BAD_REPLIES = "bad_replies"  # the endpoint answers something that is not the API (HTML, 5xx)
    STORAGE = "storage"  # the checkpoint could not be written (disk full, I/O error)
    BUDGET = "budget"  # --max-billable: one more call could have taken the run past it
    THROTTLED = "throttled"  # the API answered nothing but RequestLimitExceeded for too long


@dataclass(frozen=True, slots=True)
class PlanReady:
    """The plan is made; nothing has been sent."""

    plan: Plan


@dataclass(frozen=True, slots=True)
class JobStarted:
    """The job holds its checkpoint and is about to send ``to_send`` numbers."""

    job_id: int
    resumed: bool
    to_send: int
    rate_window: str = ""  # who shares the account's rate window ("" when nothing is sent)
    sharing: int = 0  # other processes sending through it right now


@dataclass(frozen=True, slots=True)
class AnswerRecorded:
    """One number's answer is durable in the checkpoint. Counts are for this run so far."""

    number: int
    result: RowResult
    done: int
    total: int
    billable: int
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Retrying:
    """One call will be tried again after ``delay`` seconds (``kind``: busy, server, uncertain...)."""

    number: int
    kind: str
    attempt: int
    delay: float


@dataclass(frozen=True, slots=True)
class Throttled:
    """The server answered ``RequestLimitExceeded``; the gate slows down and the call is retried."""

    number: int


@dataclass(frozen=True, slots=True)
class Sharing:
    """Other batchverify processes send on the same account: the 20/s is shared with ``others``."""

    others: int


@dataclass(frozen=True, slots=True)
class Stopped:
    """Sending stopped before every number was asked."""

    reason: StopReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SendingEnded:
    """Nothing more is sent in this run and every answer it got is in the checkpoint; the output
    is written next (for a long list, that takes a while). ``reason``: why sending ended before
    every number had its turn (None: it did not)."""

    reason: StopReason | None
    requests: int = 0


@dataclass(frozen=True, slots=True)
class OutputWritten:
    """The annotated output is in place."""

    path: Path
    rows: int
    counts: dict[str, int]


Event = (
    PlanReady
    | JobStarted
    | AnswerRecorded
    | Retrying
    | Throttled
    | Sharing
    | Stopped
    | SendingEnded
    | OutputWritten
)
EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The default sink."""


def emit(sink: EventSink, event: Event) -> None:
    """Give ``event`` to ``sink``; a front end's bug is logged, never allowed to stop the job."""
    try:
        sink(event)
    except Exception:
        logging.getLogger("batchverify").exception("an event sink failed")
