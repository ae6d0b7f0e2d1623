"""What a run did: the value behind the summary lines and ``--summary-json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchverify import errors
from batchverify._version import __version__
from batchverify.engine.annotate import WriteResult
from batchverify.engine.plan import Plan

__all__ = ["Outcome", "Summary", "summary_from_plan"]

# How a run ended. "complete": every row final; "incomplete": some rows still need a call (run
# again later); "interrupted": a stop was asked for; "fatal": the API refused the job;
# "storage_error": the checkpoint or the output could not be written after calls were made; "dry_run";
# "declined": the confirmation was answered no. A run that fails before its summary (exit 2) writes
# --summary-json with "outcome": "error".
Outcome = str


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
    recheck_failed: int = 0  # numbers showing an earlier final answer: this job's recheck failed
    recheck_failed_rows: int = 0  # the rows showing them (not final for the run)
    reused_from_answers: int = 0  # of ``reused``: from the answer store (other lists, jobs, front ends)
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
    stop_message: str | None = None  # why the sending stopped, in words (also when nothing failed)
    error: str | None = None  # what went wrong (None when nothing did: a budget reached is no error)
    output_error: str | None = None
    output_error_code: str | None = None  # its stable code (output_edited: the new files are beside)
    # The job and this run (a job is one pass over the list; each run resumes it until it is done).
    version: str = __version__
    endpoint: str = ""
    job_id: int | None = None
    run_id: int | None = None
    resumed: bool = False
    job_started_at: str | None = None
    started_at: str | None = None  # this run, after the confirmation (ISO 8601 UTC)
    finished_at: str | None = None
    job_closed: bool = False  # the next run starts a new job (every row final, or the rest given up)
    job_runs: int = 0
    job_requests: int = 0
    job_billable: int = 0
    # What changed since the previous finished job of this output.
    previous_job: int | None = None  # None: this job is the baseline
    changed: int = 0
    transitions: dict[str, int] = field(default_factory=dict)
    output_kept: bool = False  # the output in place was kept: the new one would have shown less
    given_up: int = 0  # numbers not final after enough runs that they no longer hold the job open
    max_billable_cap: int | None = None  # --max-billable
    price: float | None = None  # --price, per billable answer
    shared_with: int = 0  # other processes that used the account's rate at the same time
    rate_window: str = ""  # who shares the account's 20/s window (the file or Redis it lives in)
    rate_store_problem: str | None = None  # the shared rate store failed; the run went on locally
    fatal: errors.FatalApiError | None = field(default=None, repr=False, compare=False)

    @property
    def not_final(self) -> int:
        """Rows that still need a call (pending, busy, daily limit, error)."""
        from batchverify.models import Status

        shown = sum(n for status, n in self.by_status.items() if not Status(status).is_final)
        return shown + self.recheck_failed_rows

    @property
    def exit_code(self) -> int:
        """The command line's exit code for this ending (the README's table; ``--summary-json``)."""
        return errors.exit_code_for(self.outcome, self.stop_reason)

    @property
    def cost(self) -> float | None:
        """What this run's billable answers cost at ``price``."""
        return None if self.price is None else round(self.billable_calls * self.price, 6)

    @property
    def job_cost(self) -> float | None:
        """What the job's billable answers (every run of it so far) cost at ``price``."""
        return None if self.price is None else round(self.job_billable * self.price, 6)

    @property
    def max_cost(self) -> float | None:
        """The plan's bound in money: the most this run could have cost at ``price``."""
        return None if self.price is None else round(self.max_billable * self.price, 6)

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values (``--summary-json``, with the command line's exit code)."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "fatal"}
        doc["not_final"] = self.not_final
        doc["cost"] = self.cost
        doc["job_cost"] = self.job_cost
        doc["max_cost"] = self.max_cost
        doc["exit_code"] = self.exit_code
        return doc


def apply_write(summary: Summary, result: WriteResult) -> None:
    """What the written rows said: changes since the previous job, whether the output was kept."""
    summary.previous_job = result.previous_job
    summary.changed = result.changed
    summary.transitions = dict(result.transitions)
    summary.output_kept = result.kept_output
    summary.given_up = result.given_up
    summary.recheck_failed = result.kept
    summary.recheck_failed_rows = result.kept_rows
    if result.kept_output:
        summary.output = None


def summary_from_plan(plan: Plan, *, written: bool) -> Summary:
    """The summary's plan half; ``written`` False for a dry run (no output, no checkpoint)."""
    request = plan.request
    store = request.store_path
    return Summary(
        input=_absolute(request.input),
        output=_absolute(request.output) if written and request.output is not None else None,
        checkpoint=_absolute(store) if written and store is not None else None,
        endpoint=plan.endpoint_identity,
        max_billable_cap=request.max_billable,
        price=request.price,
        rows=plan.rows,
        distinct_numbers=len(plan.distinct),
        duplicates_saved=plan.duplicate_rows,
        invalid=plan.invalid,
        empty=plan.empty,
        already_answered=plan.already_answered,
        reused=plan.reused,
        reused_from_answers=len(plan.shared),
        to_send=len(plan.to_send),
        max_billable=plan.max_billable,
    )


def _absolute(path: Path) -> str:
    return str(path) if str(path).startswith("<") else str(Path(path).absolute())
