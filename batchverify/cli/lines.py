"""Every line the command line writes, in one format: on a terminal, plain; off one (cron, systemd,
a log file), "TIMESTAMP LEVEL message"; with ``--log-format json`` (or BATCHVERIFY_LOG_FORMAT=json),
one JSON object a line (``time``, ``level``, ``message``) for a log shipper, printed and logged lines
alike."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO

import click

__all__ = ["FORMATS", "emit", "log_handler", "use_format"]

FORMATS = ("text", "json")
_state = {"format": "text"}
log = logging.getLogger("batchverify")


def _stamp(seconds: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _json(level: str, message: str, seconds: float | None = None) -> str:
    return json.dumps({"time": _stamp(seconds), "level": level, "message": message}, ensure_ascii=False)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if _state["format"] == "json":
            return _json(record.levelname, message, record.created)
        if _stream_is_tty(sys.stderr):
            return f"batchverify: {message}"
        return f"{_stamp(record.created)} {record.levelname} {message}"


def _stream_is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def log_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    return handler


def use_format(name: str | None) -> None:
    """``text`` or ``json`` from here on (None: BATCHVERIFY_LOG_FORMAT's choice stays)."""
    if name is not None:
        _state["format"] = name.lower()


def emit(text: str, *, level: str = "INFO", err: bool = False) -> None:
    """Lines for a person (``err``: on stderr): each gets the prefix, or becomes a JSON object."""
    stream = sys.stderr if err else sys.stdout
    if _state["format"] == "json":
        click.echo("\n".join(_json(level, line) for line in text.splitlines()), err=err)
    elif _stream_is_tty(stream):
        click.echo(text, err=err)
    else:
        stamp = _stamp()
        click.echo("\n".join(f"{stamp} {level} {line}" for line in text.splitlines()), err=err)
