"""The lines a person reads before and after a run (command line); the engine never prints."""

from __future__ import annotations

from batchverify.engine.plan import Plan
from batchverify.engine.summary import Summary

__all__ = ["describe_plan", "describe_summary", "duration"]


def describe_plan(plan: Plan, rate: float) -> str:
    """The one line shown before sending."""
    to_send = len(plan.to_send)
    seconds = to_send / rate if rate else 0.0
    table = plan.table
    where = f"header row {table.header_line}" if table.header_line else "no header row"
    parts = [
        f"{plan.rows} rows ({where}, phone column {plan.column_name})",
        f"{len(plan.distinct)} distinct numbers",
        f"{plan.invalid} invalid",
        f"{plan.empty} empty",
    ]
    if plan.resumed:
        parts.append(f"{plan.already_answered} already answered (resuming)")
    parts.append(f"{plan.reused} reused")
    parts.append(f"{to_send} to send")
    if to_send:
        parts.append(
            f"at most {plan.max_billable} billable ({to_send} numbers, and up to "
            f"{plan.repeat_allowance} repeats of calls whose answer is lost)"
        )
    else:
        parts.append("nothing billable")
    parts.append(f"about {duration(seconds)} at {rate:g}/s")
    lines = ["plan: " + ", ".join(parts)]
    if not plan.column_named:
        lines.append(
            f"warning: the phone column {plan.column_name} was chosen by its values alone (no header "
            "names it); check it, or choose with --column"
        )
    if plan.output_encoding == "utf-8-sig" and plan.request.output_encoding is None:
        lines.append(
            "note: the CSV output is UTF-8 with a byte-order mark, so that Excel shows Chinese text; "
            "--output-encoding utf-8 writes none"
        )
    return "\n".join(lines)


def describe_summary(summary: Summary) -> str:
    """The lines printed at the end of a run."""
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items(), key=lambda kv: -kv[1]))
    where = f"written to {summary.output}" if summary.output else "not written (see below)"
    lines = [
        f"{summary.outcome}: {summary.rows} rows {where}",
        f"  by status: {statuses or 'none'}",
        (
            f"  billable calls {summary.billable_calls}, requests {summary.requests}, "
            f"retries {summary.retries}, "
            f"rate-limited {summary.rate_limited}, uncertain {summary.uncertain_calls}, "
            f"reused {summary.reused + summary.already_answered}, duplicates saved {summary.duplicates_saved}"
        ),
        f"  elapsed {duration(summary.elapsed_seconds)}, achieved rate {summary.achieved_rate:g}/s",
    ]
    if summary.maybe_billed:
        lines.append(
            f"  {summary.maybe_billed} calls got no usable answer and may have been billed (at most "
            f"{summary.billable_calls + summary.maybe_billed} billed in all, "
            f"within the plan's {summary.max_billable})"
        )
    if summary.answers_not_stored:
        lines.append(
            f"  {summary.answers_not_stored} answers arrived but could not be stored; "
            "they will be asked (and billed) again"
        )
    if summary.uncertain_from_previous_run:
        lines.append(
            f"  {summary.uncertain_from_previous_run} calls of an interrupted earlier run got no answer "
            "and may have been billed; they were asked again"
        )
    if summary.error:
        lines.append(f"  {summary.error}")
    if summary.outcome == "incomplete":
        lines.append("  some rows are not final: run the same command again later to fill them")
    return "\n".join(lines)


def duration(seconds: float) -> str:
    """``12.3 s``, ``4 min 5 s`` or ``1 h 2 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"
