"""The command line's outcomes: the exit code of each way a run ends, and ``--summary-json``
(written in one place, for a finished run and for one that failed before its summary)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from batchverify import errors
from batchverify._version import __version__
from batchverify.engine.summary import Summary

__all__ = [
    "EXIT_CODES",
    "SUMMARY_JSON",
    "exit_code_of",
    "write_failed_summary",
    "write_interrupted_summary",
    "write_summary",
]

# How each outcome of the engine ends the process (the README's exit-code table).
EXIT_CODES: dict[str, int] = {
    "complete": errors.EXIT_OK,
    "dry_run": errors.EXIT_OK,
    "declined": errors.EXIT_USAGE,  # the confirmation was answered no: nothing sent
    "incomplete": errors.EXIT_INCOMPLETE,
    "interrupted": errors.EXIT_INTERRUPTED,
    "fatal": errors.EXIT_FATAL_API,
    "storage_error": errors.EXIT_STORAGE,
}

# --summary-json of the run in progress, so a run that fails before its summary still leaves one.
SUMMARY_JSON: list[Path | None] = [None]


def exit_code_of(summary: Summary) -> int:
    return EXIT_CODES.get(summary.outcome, errors.EXIT_INCOMPLETE)


def write_summary(path: Path | None, summary: Summary) -> None:
    if path is None:
        return
    doc = summary.to_dict()
    doc["exit_code"] = exit_code_of(summary)
    try:
        _replace(path, doc)
    except OSError as exc:
        raise errors.OutputError(
            "cannot write the summary {path}: {why}", path=str(path), why=exc.strerror or str(exc)
        ) from None


def write_failed_summary(exc: errors.BatchVerifyError, message: str) -> None:
    """A monitor reading --summary-json sees this failure, not last night's success."""
    _write_ending("error", exc.exit_code, message, exc.code)


def write_interrupted_summary() -> None:
    """A run stopped by a signal before its summary (or left at once) says so in --summary-json."""
    _write_ending(
        "interrupted", errors.EXIT_INTERRUPTED, "interrupted before the run had a summary", "interrupted"
    )


def _write_ending(outcome: str, exit_code: int, message: str, code: str) -> None:
    path = SUMMARY_JSON[0]
    if path is None:
        return
    doc = {
        "outcome": outcome,
        "exit_code": exit_code,
        "error": message,
        "error_code": code,
        "version": __version__,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with contextlib.suppress(OSError):
        _replace(path, doc)


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
