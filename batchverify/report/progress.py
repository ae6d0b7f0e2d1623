"""Progress while sending, as one consumer of the engine's events: a tqdm bar on a terminal, a log
line every few seconds off one (cron, redirects), or a notebook's ``tqdm.auto`` bar."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

from batchverify.engine.events import AnswerRecorded, Event, JobStarted

log = logging.getLogger("batchverify")


def resolve_mode(mode: str, stream: TextIO = sys.stderr) -> str:
    """``auto`` becomes ``bar`` on a terminal and ``log`` elsewhere (cron, redirects)."""
    if mode != "auto":
        return mode
    return "bar" if stream.isatty() else "log"


class Progress:
    """An event sink that shows progress. Keeps its own counters (a disabled tqdm counts nothing).

    ``mode``: ``bar`` (tqdm on ``stream``), ``notebook`` (``tqdm.auto``), ``log`` (a log line every
    ``interval`` seconds, and from ``tick()``, which a timer calls so stalls show) or ``off``.
    """

    def __init__(self, mode: str, *, interval: float = 10.0, stream: TextIO = sys.stderr) -> None:
        self.mode = mode
        self.total = 0
        self.done = 0
        self.billable = 0
        self._interval = interval
        self._stream = stream
        self._started = time.monotonic()
        self._last_log = self._started
        self._bar: Any = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, JobStarted):
            self._start(event.to_send)
        elif isinstance(event, AnswerRecorded):
            self.done, self.billable = event.done, event.billable
            if self._bar is not None:
                self._bar.update(event.done - self._bar.n)
                self._bar.set_postfix(billable=self.billable, refresh=False)
            else:
                self.tick()

    def _start(self, total: int) -> None:
        self.total = total
        self._started = self._last_log = time.monotonic()
        if not total or self.mode not in ("bar", "notebook"):
            return
        if self.mode == "notebook":
            from tqdm.auto import tqdm as auto_tqdm

            self._bar = auto_tqdm(total=total, unit="num")
        else:
            self._bar = tqdm(total=total, unit="num", file=self._stream, dynamic_ncols=True, smoothing=0.05)
        self._bar.set_postfix(billable=0, refresh=False)

    def tick(self) -> None:
        """Log a line if the interval has passed."""
        if self.mode != "log" or not self.total:
            return
        now = time.monotonic()
        if now - self._last_log < self._interval:
            return
        self._last_log = now
        log.info(
            "progress %s, billable %d",
            tqdm.format_meter(n=self.done, total=self.total, elapsed=now - self._started, ncols=0),
            self.billable,
        )

    def close(self) -> None:
        """Finish the bar (leaves the terminal on a fresh line)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
