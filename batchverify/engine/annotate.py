"""The result columns of every row, from the checkpoint: what ``mobile_status`` and its neighbours
say for one phone cell. Output is a pure function of the input and the store, so a resumed run
writes exactly what an uninterrupted one would."""

from __future__ import annotations

from collections import Counter

from batchverify.core.labels import action_of, label_of
from batchverify.core.normalize import normalize_mobile
from batchverify.engine.store import Store, StoredAnswer
from batchverify.files.layout import CellValue
from batchverify.models import OUTPUT_COLUMNS, RowResult, Status

__all__ = ["STATUS_INDEX", "Annotator"]

STATUS_INDEX = OUTPUT_COLUMNS.index("mobile_status")


class Annotator:
    """Turns a batch of phone cells into their result columns, and counts what it wrote.

    An answer is used when it belongs to ``job_id`` (this run's job), or when it is final and
    checked at or after ``reuse_since`` (``--max-age``); otherwise the row is ``pending``.
    ``counts`` holds rows per status; ``billable`` the distinct numbers whose shown answer was
    billed.
    """

    def __init__(
        self, reuse_since: str | None, store: Store | None, job_id: int | None, language: str = "en"
    ) -> None:
        self.reuse_since = reuse_since
        self.store = store
        self.job_id = job_id
        self.language = language
        self.counts: Counter[str] = Counter()
        self.billable: set[int] = set()

    def __call__(self, cells: list[str]) -> list[list[CellValue]]:
        norms = [normalize_mobile(cell) for cell in cells]
        numbers = [int(n.number) for n in norms if n.number is not None]
        stored = self.store.lookup(numbers) if self.store is not None else {}
        out: list[list[CellValue]] = []
        for norm in norms:
            if norm.number is None:
                status = norm.status or Status.INVALID_NUMBER
                row = self._row("", status, None, "local", norm.reason)
            else:
                result, source = self._answer(stored.get(int(norm.number)))
                row = self._row(norm.number, result.status, result, source, result.error)
                if result.billable:
                    self.billable.add(int(norm.number))
            self.counts[str(row[STATUS_INDEX])] += 1
            out.append(row)
        return out

    def _answer(self, stored: StoredAnswer | None) -> tuple[RowResult, str]:
        if stored is not None:
            if stored.job_id == self.job_id:
                return stored.result, "api"
            since = self.reuse_since
            if since is not None and stored.final and stored.result.checked_at >= since:
                return stored.result, "reused"
        return RowResult(Status.PENDING), ""

    def _row(
        self, number: str, status: Status, result: RowResult | None, source: str, error: str
    ) -> list[CellValue]:
        answered = result is not None and result.status is not Status.PENDING
        return [
            number,
            status.value,
            label_of(status, self.language),
            action_of(status, self.language),
            result.status_code if result is not None else None,
            result.result_code if result is not None else None,
            result.billable if result is not None else False,
            result.description if result is not None else "",
            result.request_id if result is not None else "",
            result.checked_at if result is not None else "",
            error,
            source if answered or source == "local" else "",
        ]
