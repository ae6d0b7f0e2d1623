"""A job's progress by number: how many of its distinct numbers have a final answer, and the
latest status of each, counted from the checkpoint at rest and kept up to date from the engine's
events while a run goes on."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from batchverify.core.freshness import Freshness
from batchverify.engine.events import AnswerRecorded, Event
from batchverify.engine.store import Checkpoint
from batchverify.engine.storetypes import StoredAnswer

__all__ = ["Tally", "count_stored"]


@dataclass
class Tally:
    """``total`` distinct numbers, ``done`` of them final, ``counts`` by latest status."""

    total: int = 0
    done: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    # Numbers whose stored answer is not final: a new answer replaces that status in the counts.
    open_answers: dict[int, str] = field(default_factory=dict)
    billable: int = 0  # answers of this run that were billed
    answered: int = 0  # answers this run received (final or not)
    started: float = field(default_factory=time.monotonic)

    def apply(self, event: Event) -> bool:
        """Count an engine event; True when the figures changed."""
        if not isinstance(event, AnswerRecorded):
            return False
        status = event.result.status
        self.answered += 1
        if event.result.billable:
            self.billable += 1
        previous = self.open_answers.pop(event.number, None)
        if previous is not None:
            self.counts[previous] -= 1
            if not self.counts[previous]:
                del self.counts[previous]
        self.counts[status.value] += 1
        if status.is_final:
            self.done += 1
        else:
            self.open_answers[event.number] = status.value
        return True

    def view(self) -> dict[str, object]:
        return {"total": self.total, "done": self.done, "counts": dict(sorted(self.counts.items()))}

    def pace(self, rate_cap: float) -> dict[str, float | int | None]:
        """This run so far: answers a second, the seconds still to go (at that pace, or at the
        cap before there is one), the answers billed."""
        elapsed = max(time.monotonic() - self.started, 1e-3)
        rate = self.answered / elapsed if elapsed >= 2.0 and self.answered >= 5 else None
        left = max(self.total - self.done, 0)
        eta = left / max(rate or rate_cap, 0.1)
        return {
            "rate": round(rate, 2) if rate else None,
            "eta_seconds": round(eta),
            "billable": self.billable,
        }


def count_stored(
    store: Path, numbers: Collection[int], job_id: int | None = None, freshness: Freshness | None = None
) -> Tally:
    """The tally of ``numbers`` in the checkpoint at ``store``: the answers of ``job_id``, or of the
    job still open (none: a new job starts, nothing is answered yet), and the final answers reused
    because they are fresh (``max_age``). Blocks: run in a thread."""
    tally = Tally(total=len(numbers))
    if not store.exists():
        return tally
    with Checkpoint.open(store, lock=False, create=False) as opened:
        if job_id is None:
            peeked = opened.peek_job()
            if peeked is None:
                return tally
            job_id = peeked[0]
        them = iter(numbers)
        # A chunk at a time: the answers of two million numbers at once are a gigabyte of objects.
        while chunk := list(itertools.islice(them, 50_000)):
            _count(tally, opened.lookup(chunk), job_id, freshness)
    return tally


def _count(tally: Tally, stored: dict[int, StoredAnswer], job_id: int, freshness: Freshness | None) -> None:
    for number, answer in stored.items():
        result = answer.result
        reused = (
            freshness is not None and answer.final and freshness.fresh(result.status.value, result.checked_at)
        )
        if answer.job_id != job_id and not reused:
            continue
        status = answer.result.status
        tally.counts[status.value] += 1
        if status.is_final:
            tally.done += 1
        else:
            tally.open_answers[number] = status.value
