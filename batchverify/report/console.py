"""The lines a person reads before and after a run (command line); the engine never prints."""

from __future__ import annotations

from batchverify.engine.plan import Plan
from batchverify.engine.summary import Summary

__all__ = ["counted", "describe_plan", "describe_summary", "duration", "money"]


def describe_plan(plan: Plan, rate: float) -> str:
    """The plan line (and the warnings and notes under it), shown before sending."""
    to_send = len(plan.to_send)
    seconds = to_send / rate if rate else 0.0
    table, request = plan.table, plan.request
    where = f"header row {table.header_line}" if table.header_line else "no header row"
    parts = [
        f"{counted(plan.rows, 'row')} ({where}, phone column {plan.column_name})",
        f"{counted(len(plan.distinct), 'distinct number')}",
        f"{plan.invalid} invalid",
        f"{plan.empty} empty",
    ]
    if plan.resumed:
        parts.append(
            f"resuming job {plan.resumed_job} (started {_when(plan.resumed_started_at)}): "
            f"{plan.already_answered} already answered"
        )
    parts.append(f"{plan.reused} reused")
    parts.append(f"{to_send} to send")
    if to_send:
        bound = f"at most {plan.max_billable} billable"
        if request.max_billable is not None and request.max_billable < to_send + plan.repeat_allowance:
            bound += f" (--max-billable; {to_send - min(to_send, request.max_billable)} may be left pending)"
        else:
            lost = plan.repeat_allowance
            bound += (
                f" ({counted(to_send, 'number')}, and up to {counted(lost, 'repeat')} of calls whose answer "
                "is lost)"
            )
        if request.price is not None:
            bound += f", costing at most {money(plan.max_billable * request.price)}"
        parts.append(bound)
    else:
        parts.append("nothing billable")
    parts.append(f"about {duration(seconds)} at {rate:g}/s")
    lines = ["plan: " + ", ".join(parts)]
    if plan.expiring_job is not None:
        lines.append(
            f"note: job {plan.expiring_job} (started {_when(plan.expiring_started_at)}) is older than "
            "--max-age, so it is closed and a new job starts"
        )
    if plan.shared:
        lines.append(
            f"note: {len(plan.shared)} of the reused answers come from the answer store (other lists, jobs "
            f"or front ends), the oldest checked {_when(plan.shared_oldest)}"
        )
    if not plan.column_named:
        lines.append(
            f"warning: the phone column {plan.column_name} was chosen by its values alone (no header "
            "names it); check it, or choose with --column"
        )
    if plan.output_encoding == "utf-8-sig" and request.output_encoding is None:
        lines.append(
            "note: the CSV output is UTF-8 with a byte-order mark, so that Excel shows Chinese text; "
            "--output-encoding utf-8 writes none"
        )
    return "\n".join(lines)


def describe_summary(summary: Summary) -> str:
    """The lines printed at the end of a run."""
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items(), key=lambda kv: -kv[1]))
    if summary.output:
        where = f"written to {summary.output}"
    elif summary.output_kept:
        where = "not written: the output in place was kept (see below)"
    else:
        where = "not written (see below)"
    job = f"job {summary.job_id}" if summary.job_id is not None else "no job"
    lines = [
        f"{summary.outcome}: {counted(summary.rows, 'row')} {where}",
        f"  by status: {statuses or 'none'}",
        (
            f"  this run: billable {summary.billable_calls}, requests {summary.requests}, "
            f"retries {summary.retries}, rate-limited {summary.rate_limited}, uncertain "
            f"{summary.uncertain_calls}; resumed {summary.already_answered}, reused {summary.reused}, "
            f"duplicates saved {summary.duplicates_saved}"
        ),
    ]
    if summary.job_id is not None:
        lines.append(
            f"  {job} (started {_when(summary.job_started_at)}): {counted(summary.job_runs, 'run')}, "
            f"billable {summary.job_billable}, requests {summary.job_requests}"
            + ("; finished" if summary.job_closed else "; open")
        )
    if summary.previous_job is not None:
        moves = ", ".join(f"{k}: {v}" for k, v in summary.transitions.items())
        lines.append(
            f"  changed since job {summary.previous_job}: {counted(summary.changed, 'row')}"
            + (f" ({moves})" if moves else "")
        )
        if not summary.job_closed and summary.not_final:
            lines.append(
                f"  the job is not finished: {counted(summary.not_final, 'row')} still without a final "
                "answer; what changed among them shows when they have one (a later run)"
            )
    elif summary.job_id is not None:
        lines.append("  baseline: no finished job before this one; the next job says what changed")
    lines.append(f"  elapsed {duration(summary.elapsed_seconds)}, achieved rate {summary.achieved_rate:g}/s")
    if summary.cost is not None:
        job_cost = summary.job_cost if summary.job_cost is not None else summary.cost
        lines.append(
            f"  cost {money(summary.cost)} this run ({summary.billable_calls} billable at "
            f"{money(summary.price or 0)}; the plan's bound {money(summary.max_cost or 0)}), "
            f"{money(job_cost)} for the job so far"
        )
    if summary.shared_with:
        lines.append(
            f"  the account's rate was shared with {summary.shared_with} other batchverify "
            f"process{'es' if summary.shared_with > 1 else ''}"
        )
    if summary.rate_store_problem:
        lines.append(f"  {summary.rate_store_problem}")
    if summary.maybe_billed:
        lines.append(
            f"  {counted(summary.maybe_billed, 'call')} got no usable answer and may have been billed "
            f"(at most {summary.billable_calls + summary.maybe_billed} billed in all, "
            f"within the plan's {summary.max_billable})"
        )
    if summary.answers_not_stored:
        lines.append(
            f"  {counted(summary.answers_not_stored, 'answer')} arrived but could not be stored; "
            "they will be asked (and billed) again"
        )
    if summary.uncertain_from_previous_run:
        lines.append(
            f"  {counted(summary.uncertain_from_previous_run, 'number')} were in flight or waiting for a "
            "send slot when an earlier run ended without their answers (killed, or its disk full); those "
            "that were sent may have been billed; this job asks them again"
        )
    if summary.output_kept:
        lines.append(
            "  the output in place was kept: this run's would show fewer final answers than it; the "
            "answers are in the checkpoint, and the output is replaced once the job has them again "
            "(--restart replaces it now)"
        )
    if summary.error:
        lines.append(f"  {summary.error}")
    elif summary.stop_message and summary.outcome != "interrupted":
        lines.append(f"  stopped: {summary.stop_message}")
    if summary.recheck_failed:
        n = summary.recheck_failed
        lines.append(
            f"  {n} number{'s' if n > 1 else ''} kept the final answer paid for before: this job's recheck "
            "failed (mobile_source kept, mobile_error says why); the next run asks again"
        )
    if summary.given_up:
        many = "s" if summary.given_up > 1 else ""
        if summary.job_closed:
            lines.append(
                f"  {summary.given_up} number{many} got no final answer in 3 runs of this job; the job is "
                "closed, so the next run starts a new one (answers within --max-age are reused)"
            )
        else:
            lines.append(
                f"  {summary.given_up} number{many} got no final answer in 3 runs of this job; it stays open "
                "for the rows still waiting (pending, or the daily limit)"
            )
    if summary.outcome == "interrupted":
        lines.append(f"  interrupted: run the same command again to resume {job}")
    elif summary.outcome == "incomplete" and not summary.job_closed and summary.stop_reason != "budget":
        lines.append(f"  some rows are not final: run the same command again later to fill them ({job})")
    return "\n".join(lines)


def duration(seconds: float) -> str:
    """``12.3 s``, ``4 min 5 s`` or ``1 h 2 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def money(amount: float) -> str:
    """An amount with two decimals, or up to six when a small price needs them (0.069)."""
    rounded = round(amount, 6)
    if abs(rounded - round(rounded, 2)) < 1e-9:
        return f"{rounded:.2f}"
    return f"{rounded:.6f}".rstrip("0")


def counted(n: int, word: str, plural: str | None = None) -> str:
    """``1 row``, ``2 rows``: every count reads right in the singular."""
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def _when(iso: str | None) -> str:
    return iso.replace("T", " ").replace("Z", " UTC") if iso else "?"
