"""The values and the interface of the checkpoint store, apart from its SQLite implementation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from batchverify.engine.storeschema import AnswerValues
from batchverify.errors import CheckpointError
from batchverify.models import RowResult, Status

__all__ = ["GIVE_UP_AFTER", "Attempt", "JobInfo", "Store", "StoredAnswer", "check_endpoint", "row_result"]

GIVE_UP_AFTER = 3  # runs of a job in which a number got no final answer before it stops holding it


@dataclass(frozen=True, slots=True)
class Attempt:
    """A recheck of a number with a final answer that got none (busy, the daily quota, an error)."""

    job_id: int
    at: str
    status: str
    error: str
    tries: int = 1  # runs of ``job_id`` in which the recheck failed


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """An answer as stored, with the job that produced it."""

    job_id: int
    result: RowResult
    tries: int = 0  # runs of its job in which it got no final answer
    attempt: Attempt | None = None  # a later recheck that failed: this (final) answer was kept

    @property
    def final(self) -> bool:
        return self.result.status.is_final

    @property
    def given_up(self) -> bool:
        """Not final, but asked in enough runs of its job that it no longer holds the job open.
        ``daily_limit`` says nothing about the number, so it never counts."""
        return not self.final and self.result.status is not Status.DAILY_LIMIT and self.tries >= GIVE_UP_AFTER


@dataclass(frozen=True, slots=True)
class JobInfo:
    """The job a run works on."""

    job_id: int
    resumed: bool
    started_at: str
    orphaned_inflight: int  # calls sent by a run that died before their answer arrived
    run_id: int = 0
    expired_job: int | None = None  # an open job closed because it was older than --max-age


class Store(Protocol):
    """What the engine needs from a checkpoint store. ``Checkpoint`` (SQLite) is the one in use.

    Every method is synchronous and may block on disk: the engine calls them from one worker
    thread (``AsyncStore``), never from its event loop.
    """

    def bind_endpoint(self, identity: str) -> None: ...
    def bound_endpoint(self) -> str | None: ...
    def open_job(self, *, now: str, restart: bool, expire_before: str | None = None) -> JobInfo: ...
    def peek_job(self) -> tuple[int, str] | None: ...
    def end_run(
        self,
        *,
        state: str,
        now: str,
        close_job: bool,
        numbers: Iterable[int] = (),
        requests: int = 0,
        billable: int = 0,
    ) -> None: ...
    def previous_job(self, job_id: int) -> int | None: ...
    def statuses(self, job_id: int, numbers: Iterable[int]) -> dict[int, str]: ...
    def job_totals(self, job_id: int) -> tuple[int, int, int]: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def mark_inflight(self, number: int, now: str) -> None: ...
    def clear_inflight(self, number: int) -> None: ...
    def record(self, number: int, result: RowResult) -> None: ...
    def batched(self) -> contextlib.AbstractContextManager[None]: ...
    def finals(self, job_id: int | None, reuse_since: str | None, until: str = "~") -> Iterator[int]: ...
    def final_answers(self, after_run: int | None = None) -> Iterator[AnswerValues]: ...
    def identity(self) -> str: ...
    def adopt(self, number: int, result: RowResult) -> None: ...
    def lookup(self, numbers: Iterable[int]) -> dict[int, StoredAnswer]: ...
    def answer_count(self) -> int: ...
    def close(self) -> None: ...


_STATUS_OF = {status.value: status for status in Status}  # Status(text) costs an enum call a row


def row_result(row: tuple[object, ...]) -> RowResult:
    """A stored answer row (the columns of ``answers``, in order) as a ``RowResult``."""
    _, _, status, status_code, result_code, billable, description, request_id, checked_at, error = row[:10]
    # SQLite gives these types back as they were stored; anything else (a file edited by hand) is
    # converted, or refused by Status as before.
    return RowResult(
        _STATUS_OF[status] if isinstance(status, str) and status in _STATUS_OF else Status(str(status)),
        status_code if status_code is None or type(status_code) is int else int(str(status_code)),
        result_code if result_code is None or type(result_code) is str else str(result_code),
        bool(billable),
        description if type(description) is str else str(description),
        request_id if type(request_id) is str else str(request_id),
        checked_at if type(checked_at) is str else str(checked_at),
        error if type(error) is str else str(error),
    )


def check_endpoint(path: Path, bound: str, identity: str) -> None:
    """Refuse to mix answers of two endpoints in one store."""
    if bound != identity:
        raise CheckpointError(
            "{name} holds answers from {bound}, not {identity}; "
            "choose another {o[output]}, or delete that file to start from nothing",
            code="other_endpoint",
            option="output",
            name=path.name,
            bound=bound,
            identity=identity,
        )
