"""Progress while sending: a tqdm bar on a terminal, a log line every few seconds off one."""

from __future__ import annotations

import logging
import sys
import time
from typing import Never, TextIO

from tqdm import tqdm

from batchverify.models import RowResult

log = logging.getLogger("batchverify")


def resolve_mode(mode: str, stream: TextIO = sys.stderr) -> str:
    """``auto`` becomes ``bar`` on a terminal and ``log`` elsewhere (cron, redirects)."""
    if mode != "auto":
        return mode
    return "bar" if stream.isatty() else "log"


class Progress:
    """Counts answers and shows them; keeps its own counters (a disabled tqdm counts nothing)."""

    def __init__(self, total: int, mode: str, *, interval: float = 10.0, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.mode = mode
        self.done = 0
        self.billable = 0
        self._interval = interval
        self._started = time.monotonic()
        self._last_log = self._started
        self._bar: tqdm[Never] | None = None
        if mode == "bar" and total:
            bar: tqdm[Never] = tqdm(total=total, unit="num", file=stream, dynamic_ncols=True, smoothing=0.05)
            bar.set_postfix(billable=0, refresh=False)
            self._bar = bar

    def update(self, result: RowResult) -> None:
        """One more number answered."""
        self.done += 1
        self.billable += int(result.billable)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(billable=self.billable, refresh=False)
        else:
            self.tick()

    def tick(self) -> None:
        """Log a line if the interval has passed (called by a timer too, so stalls show)."""
        if self.mode != "log":
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
