"""What a run did: the value behind the summary lines and ``--summary-json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from batchverify import errors
from batchverify.engine.plan import Plan

__all__ = ["Outcome", "Summary", "summary_from_plan"]

# How a run ended. "complete": every row final; "incomplete": some rows still need a call (run
# again later); "interrupted": a stop was asked for; "fatal": the API refused the job;
# "storage_error": the checkpoint or the output could not be written after calls were made; "dry_run".
Outcome = str

_EXIT_CODES: dict[str, int] = {
    "complete": errors.EXIT_OK,
    "dry_run": errors.EXIT_OK,
    "incomplete": errors.EXIT_INCOMPLETE,
    "interrupted": errors.EXIT_INTERRUPTED,
    "fatal": errors.EXIT_FATAL_API,
    "storage_error": errors.EXIT_STORAGE,
}


@dataclass
class Summary:
    """What a run did. ``to_dict()`` is the ``--summary-json`` document."""

    input: str
    output: str | None
    checkpoint: str | None
    outcome: Outcome = "complete"
    rows: int = 0
    distinct_numbers: int = 0
    duplicates_saved: int = 0
    invalid: int = 0
    empty: int = 0
    already_answered: int = 0
    reused: int = 0
    to_send: int = 0
    max_billable: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    billable_calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    uncertain_calls: int = 0
    maybe_billed: int = 0  # calls without an answer that may have been billed (uncertain + abandoned)
    answers_not_stored: int = 0  # answers that arrived but could not be written to the checkpoint
    uncertain_from_previous_run: int = 0
    abandoned_in_flight: int = 0
    elapsed_seconds: float = 0.0
    achieved_rate: float = 0.0
    stop_reason: str | None = None
    error: str | None = None
    output_error: str | None = None
    fatal: errors.FatalApiError | None = field(default=None, repr=False, compare=False)

    @property
    def exit_code(self) -> int:
        """The command line's exit code for this outcome (see ``batchverify.errors``)."""
        return _EXIT_CODES.get(self.outcome, errors.EXIT_INCOMPLETE)

    @property
    def not_final(self) -> int:
        """Rows that still need a call (pending, busy, daily limit, error)."""
        from batchverify.models import Status

        return sum(n for status, n in self.by_status.items() if not Status(status).is_final)

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values (``--summary-json``)."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "fatal"}
        doc["exit_code"] = self.exit_code
        return doc


def summary_from_plan(plan: Plan, *, written: bool) -> Summary:
    """The summary's plan half; ``written`` False for a dry run (no output, no checkpoint)."""
    request = plan.request
    store = request.store_path
    return Summary(
        input=str(request.input),
        output=str(request.output) if written and request.output is not None else None,
        checkpoint=str(store) if written and store is not None else None,
        rows=plan.rows,
        distinct_numbers=len(plan.distinct),
        duplicates_saved=plan.duplicate_rows,
        invalid=plan.invalid,
        empty=plan.empty,
        already_answered=plan.already_answered,
        reused=plan.reused,
        to_send=len(plan.to_send),
        max_billable=plan.max_billable,
    )
