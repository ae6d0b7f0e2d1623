"""How a run ended: the summary's outcome, stop reason and message from the sender's figures and
the rows written (complete, incomplete, interrupted, fatal, storage error)."""

from __future__ import annotations

import time
from collections import Counter

from batchverify.engine.events import StopReason
from batchverify.engine.sender import Sender
from batchverify.engine.summary import Summary
from batchverify.models import Status

__all__ = ["finish_summary"]


_STOP_MESSAGES = {
    StopReason.DAILY_LIMIT: "the account's daily quota is used up (Result -4); run again tomorrow",
    StopReason.NETWORK: "the API could not be reached; run again when the network is back",
    StopReason.NO_ANSWER: (
        "calls keep getting no answer (timeouts or cut connections; each may have been billed): "
        "stopped early; check the network, the timeout and the endpoint, then run again"
    ),
    StopReason.BUDGET: (
        "the run's budget of billable answers (max billable) is reached; the numbers not sent stay "
        "pending: run again (with a new budget) to continue"
    ),
    StopReason.THROTTLED: (
        "the API answered nothing but RequestLimitExceeded for {bound} s (another client may be using "
        "this account's 20 requests per second): stopped; the numbers not sent stay pending, run "
        "again later"
    ),
    StopReason.BAD_REPLIES: (
        "the endpoint keeps answering something that is not the MobileStatus API (HTML, HTTP "
        "errors): stopped early; check the endpoint"
    ),
}


def finish_summary(summary: Summary, sender: Sender | None, counts: Counter[str], started: float) -> None:
    """Fill ``summary``'s outcome and figures at the end of a run."""
    summary.elapsed_seconds = round(time.monotonic() - started, 3)
    # A recheck that failed shows the earlier answer, but the job has not got its own: not final.
    not_final = sum(n for status, n in counts.items() if not Status(status).is_final)
    not_final += summary.recheck_failed_rows
    if sender is not None:
        stats = sender.stats
        summary.requests = stats.requests
        summary.billable_calls = stats.billable
        summary.retries = stats.retries
        summary.rate_limited = stats.throttled
        summary.uncertain_calls = stats.uncertain
        summary.abandoned_in_flight = stats.abandoned_in_flight
        summary.maybe_billed = stats.maybe_billed
        summary.answers_not_stored = stats.not_stored
        summary.achieved_rate = round(stats.achieved_rate, 2)
        reason = sender.stop_reason
        summary.stop_reason = None if reason is None else reason.value
        if summary.output_error is not None and reason is not StopReason.FATAL:
            _output_failed(summary)
            return
        if reason is StopReason.STORAGE:
            summary.outcome = "storage_error"
            summary.error = (
                f"{sender.storage_error}; every answer stored before is kept: free the space "
                "(or fix the disk) and run again"
            )
            summary.stop_message = summary.error
            return
        if reason is StopReason.INTERRUPTED:
            summary.outcome = "interrupted"
            summary.stop_message = "a stop was asked for (Ctrl-C, a signal, a stop from the page or the API)"
            return
        if reason is StopReason.FATAL and sender.fatal is not None:
            summary.outcome = "fatal"
            summary.error = summary.stop_message = str(sender.fatal)
            summary.fatal = sender.fatal
            return
        if reason is not None:
            message = _STOP_MESSAGES.get(reason)
            bound = f"{sender.throttle_bound:g}"
            summary.stop_message = None if message is None else message.replace("{bound}", bound)
            # A budget is a stop the user asked for, not a failure: its reason has no error beside it.
            summary.error = None if reason is StopReason.BUDGET else summary.stop_message
    if summary.output_error is not None:
        _output_failed(summary)
        return
    if not_final:
        summary.outcome = "incomplete"


def _output_failed(summary: Summary) -> None:
    summary.outcome = "storage_error"
    if summary.output_error_code == "output_edited":  # written, beside the edited files: nothing to redo
        summary.error = f"{summary.output_error}; every answer is in the checkpoint too"
        return
    summary.error = f"{summary.output_error}; the answers are kept in the checkpoint: run again to write it"
