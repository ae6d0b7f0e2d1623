"""``--metrics-file PATH``: a run's figures in the Prometheus text format, for node_exporter's
textfile collector (or anything that reads the format).

Every series is a gauge named ``batchverify_...`` with a ``list`` label (the input file's name), so
that the files of several nightly lists in one collector folder never clash. The file is written
whole under a temporary name that does not end in ``.prom`` (the collector reads only those) and
renamed into place. ``batchverify_last_success_timestamp_seconds`` is carried over from the file
already there when this run did not succeed, so a monitor can alert on its age.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["LAST_SUCCESS", "metrics_text", "write_metrics_file"]

LAST_SUCCESS = "batchverify_last_success_timestamp_seconds"

# (summary field, series name, help)
_RUN_FIGURES = (
    ("requests", "batchverify_run_requests", "Requests this run sent to the API."),
    ("billable_calls", "batchverify_run_billable_answers", "Billable answers this run received."),
    ("rate_limited", "batchverify_run_rate_limited_answers", "RequestLimitExceeded answers this run got."),
    ("retries", "batchverify_run_retries", "Calls this run sent again (busy, throttled, a transient error)."),
    (
        "uncertain_calls",
        "batchverify_run_uncertain_calls",
        "Calls without an answer that may have been billed.",
    ),
    ("changed", "batchverify_run_changed_rows", "Rows whose status changed since the previous finished job."),
    ("not_final", "batchverify_run_rows_not_final", "Rows still without a final answer (run again later)."),
    ("rows", "batchverify_run_rows", "Rows in the list."),
    ("elapsed_seconds", "batchverify_run_elapsed_seconds", "How long the run took."),
    (
        "job_billable",
        "batchverify_job_billable_answers",
        "Billable answers of the job so far (all its runs).",
    ),
    # Money, with --price only (the summary has None without it, and None is left out).
    ("cost", "batchverify_run_cost", "What this run's billable answers cost at --price."),
    ("job_cost", "batchverify_job_cost", "What the job's billable answers cost so far at --price."),
)


def metrics_text(
    doc: Mapping[str, Any], list_name: str, last_success: float | None, now: float, input_path: str = ""
) -> bytes:
    """The text format of a run's summary document (``Summary.to_dict()``, or a failure's).
    Every series has the labels ``list`` (the input's file name) and ``input`` (its absolute path:
    two lists of one name in two folders are two series)."""
    registry = CollectorRegistry()
    mine = {"list": list_name, "input": input_path}

    def gauge(name: str, text: str, value: float, **labels: str) -> None:
        g = Gauge(name, text, ["list", "input", *labels], registry=registry)
        g.labels(**mine, **labels).set(value)

    gauge("batchverify_run_exit_code", "The exit code of the last run.", int(doc.get("exit_code", 70)))
    gauge("batchverify_run_finished_timestamp_seconds", "When the last run ended (Unix time).", now)
    if last_success is not None:
        gauge(LAST_SUCCESS, "When a run last ended with exit code 0 (Unix time).", last_success)
    info = Gauge(
        "batchverify_run_info",
        "How the last run ended.",
        ["list", "input", "outcome", "stop_reason", "version"],
        registry=registry,
    )
    info.labels(
        **mine,
        outcome=str(doc.get("outcome", "")),
        stop_reason=str(doc.get("stop_reason") or ""),
        version=str(doc.get("version", "")),
    ).set(1)
    for field, name, text in _RUN_FIGURES:  # money only with --price: None is left out
        if isinstance(doc.get(field), int | float):
            gauge(name, text, float(doc[field]))
    by_status = doc.get("by_status")
    if isinstance(by_status, Mapping) and by_status:
        rows = Gauge(
            "batchverify_rows",
            "Rows of the list by status after the run.",
            ["list", "input", "status"],
            registry=registry,
        )
        for status, count in sorted(by_status.items()):
            rows.labels(**mine, status=str(status)).set(count)
    transitions = doc.get("transitions")
    if isinstance(transitions, Mapping) and transitions:
        moved = Gauge(
            "batchverify_run_changed_rows_by_transition",
            "Rows that changed since the previous finished job, by previous and new status.",
            ["list", "input", "previous", "status"],
            registry=registry,
        )
        for move, count in sorted(transitions.items()):
            previous, _, status = str(move).partition(" -> ")
            moved.labels(**mine, previous=previous, status=status).set(count)
    return generate_latest(registry)


def write_metrics_file(path: Path, doc: Mapping[str, Any], input_path: Path) -> None:
    """Write ``path`` whole (raises ``OSError``); the last success time survives a failed run."""
    now = time.time()
    last = now if doc.get("exit_code") == 0 else _last_success(path)
    text = metrics_text(doc, _printable(input_path.name), last, now, _printable(str(input_path.absolute())))
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    mode = 0o644  # counts and a file name, no numbers: the collector runs as another user
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode & 0o7777
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(mode)  # the umask may have narrowed it
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _printable(name: str) -> str:
    """A file name as a label value: bytes that are not UTF-8 (surrogate escapes) as \\xNN."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _last_success(path: Path) -> float | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS:
                    return float(sample.value)
    except ValueError:
        return None  # not ours, or damaged: the next success writes it again
    return None
