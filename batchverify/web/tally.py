"""A job's progress by number: how many of its distinct numbers have a final answer, and the
latest status of each, counted from the checkpoint at rest and kept up to date from the engine's
events while a run goes on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from batchverify.core.freshness import Freshness
from batchverify.engine.events import AnswerRecorded, Event
from batchverify.engine.store import Checkpoint

__all__ = ["Tally", "count_stored"]


@dataclass
class Tally:
    """``total`` distinct numbers, ``done`` of them final, ``counts`` by latest status."""

    total: int = 0
    done: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    # Numbers whose stored answer is not final: a new answer replaces that status in the counts.
    open_answers: dict[int, str] = field(default_factory=dict)

    def apply(self, event: Event) -> bool:
        """Count an engine event; True when the figures changed."""
        if not isinstance(event, AnswerRecorded):
            return False
        status = event.result.status
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


def count_stored(
    store: Path, numbers: Iterable[int], job_id: int | None = None, freshness: Freshness | None = None
) -> Tally:
    """The tally of ``numbers`` in the checkpoint at ``store``: the answers of ``job_id``, or of the
    job still open (none: a new job starts, nothing is answered yet), and the final answers reused
    because they are fresh (``max_age``). Blocks: run in a thread."""
    wanted = list(numbers)
    tally = Tally(total=len(wanted))
    if not store.exists():
        return tally
    with Checkpoint.open(store, lock=False, create=False) as opened:
        if job_id is None:
            peeked = opened.peek_job()
            if peeked is None:
                return tally
            job_id = peeked[0]
        stored = opened.lookup(wanted)
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
    return tally
