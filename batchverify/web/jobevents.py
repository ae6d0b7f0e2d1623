"""What the server says when something happens to a job: one log line per event, and the document
a run's end is reported with (metrics, ``--notify``)."""

from __future__ import annotations

import logging
from typing import Any

from batchverify._version import __version__
from batchverify.core.timeutil import utc_now_iso
from batchverify.errors import EXIT_INTERNAL, EXIT_USAGE
from batchverify.web.jobs import WebJob

__all__ = ["event", "run_ended"]

log = logging.getLogger("batchverify")


def event(job: WebJob, what: str) -> None:
    """One log line per thing that happens to a job (the HTTP lines say who asked)."""
    log.info("job %s (%s): %s", job.record.id, job.record.name, what)


def run_ended(job: WebJob, runs_before: int) -> dict[str, Any] | None:
    """The report of the run that just ended (None when none did), logged as the job's event."""
    record = job.record
    if record.runs > runs_before and record.summary:
        doc = dict(record.summary)
    elif record.state == "failed":  # refused before it had a summary (its input, its options)
        internal = (record.error or "").startswith("internal error")
        doc = {
            "outcome": "error",
            "exit_code": EXIT_INTERNAL if internal else EXIT_USAGE,
            "error": record.error,
            "error_code": "internal" if internal else "refused",
            "version": __version__,
            "finished_at": utc_now_iso(),
        }
    else:
        return None
    doc.update(job_id=record.id, job_name=record.name, job_state=record.state)
    event(
        job,
        f"{record.state}: {record.done:,} of {record.total:,} numbers answered, "
        f"{doc.get('billable_calls', 0)} billable this run, exit {doc.get('exit_code')}"
        + (f" ({doc['stop_reason']})" if doc.get("stop_reason") else ""),
    )
    return doc
