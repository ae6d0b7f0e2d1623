"""The command line's reports of how a run ended: the exit code, ``--summary-json``,
``--metrics-file`` and ``--notify``, written in one place for a finished run and for one that failed
or was interrupted before its summary (a monitor never reads last night's success)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchverify import errors
from batchverify._version import __version__
from batchverify.engine.summary import Summary

if TYPE_CHECKING:
    from batchverify.report.notify import Notifier

__all__ = [
    "REPORTS",
    "Reports",
    "exit_code_of",
    "write_failed_summary",
    "write_internal_error",
    "write_interrupted_summary",
    "write_metrics",
    "write_summary",
]

log = logging.getLogger("batchverify")


@dataclass
class Reports:
    """Where the run in progress reports its end, each set as soon as it is known and checked: a
    run that fails before its summary still leaves them."""

    summary_json: Path | None = None
    metrics_file: Path | None = None
    notifier: Notifier | None = None
    input: Path | None = None  # the list: the metrics' labels


REPORTS = Reports()


def exit_code_of(summary: Summary) -> int:
    return summary.exit_code


def write_summary(path: Path | None, summary: Summary) -> None:
    if path is None:
        return
    doc = summary.to_dict()
    try:
        _replace(path, doc)
    except OSError as exc:
        raise errors.OutputError(
            "cannot write the summary {path}: {why}", path=str(path), why=exc.strerror or str(exc)
        ) from None


def write_metrics(doc: dict[str, Any]) -> None:
    """``--metrics-file``: a failure to write it is logged; it never changes how the run ended."""
    path = REPORTS.metrics_file
    if path is None or REPORTS.input is None:
        return
    from batchverify.report.metrics import write_metrics_file  # only when asked: start-up stays quick

    try:
        write_metrics_file(path, doc, REPORTS.input)
    except OSError as exc:
        log.error("cannot write the metrics file %s: %s", path, exc.strerror or exc)
    except Exception as exc:  # a report must never turn how the run ended into another ending
        log.error("cannot write the metrics file %s: %s: %s", path, type(exc).__name__, exc)


def write_failed_summary(exc: errors.BatchVerifyError, message: str) -> None:
    """A monitor reading --summary-json or the metrics sees this failure, not last night's success;
    --notify tells it."""
    doc = _write_ending("error", exc.exit_code, message, exc.code)
    notifier = REPORTS.notifier
    if notifier is not None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(notifier.send("run.failed", doc))


def write_internal_error(message: str) -> None:
    """A bug ended the run: the reports say exit 70, not last night's success."""
    doc = _write_ending("error", errors.EXIT_INTERNAL, message, "internal")
    notifier = REPORTS.notifier
    if notifier is not None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(notifier.send("run.failed", doc))


def write_interrupted_summary() -> None:
    """A run stopped by a signal before its summary (or left at once) says so in --summary-json."""
    _write_ending(
        "interrupted", errors.EXIT_INTERRUPTED, "interrupted before the run had a summary", "interrupted"
    )


def _write_ending(outcome: str, exit_code: int, message: str, code: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "outcome": outcome,
        "exit_code": exit_code,
        "error": message,
        "error_code": code,
        "version": __version__,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = REPORTS.summary_json
    if path is not None:
        with contextlib.suppress(OSError):
            _replace(path, doc)
    write_metrics(doc)
    return doc


def _replace(path: Path, doc: dict[str, Any]) -> None:
    # A private temporary name in the same folder: never a name someone could have planted a link at.
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
