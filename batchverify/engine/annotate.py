"""The result columns of every row, from the checkpoint: what ``mobile_status`` and its neighbours
say for one phone cell. Output is a pure function of the input and the store, so a resumed run
writes exactly what an uninterrupted one would."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from batchverify.core.freshness import Freshness
from batchverify.core.labels import action_of, billable_cell, label_of, reason_cell, source_cell
from batchverify.core.normalize import normalize_mobile
from batchverify.core.numberset import DistinctCount
from batchverify.engine.storetypes import GIVE_UP_AFTER, Store, StoredAnswer
from batchverify.files.layout import CellValue
from batchverify.models import OUTPUT_COLUMNS, RowResult, Status

__all__ = ["PREVIOUS_INDEX", "STATUS_INDEX", "Annotator", "WriteResult", "is_change"]

STATUS_INDEX = OUTPUT_COLUMNS.index("mobile_status")
_CODE_RE = re.compile(r"-?[0-9]{1,9}", re.ASCII)
PREVIOUS_INDEX = OUTPUT_COLUMNS.index("mobile_previous_status")


@dataclass
class WriteResult:
    """What the rows of one output said, counted while they were written."""

    counts: dict[str, int] = field(default_factory=dict)  # rows per status
    billable_numbers: int = 0  # distinct numbers whose shown answer was billed
    changed: int = 0  # rows whose status differs from the previous finished job's
    transitions: dict[str, int] = field(default_factory=dict)  # "normal -> cancelled": rows
    previous_job: int | None = None  # the finished job compared with (None: this is the baseline)
    holding: int = 0  # distinct numbers that still hold the job open (not final, not given up)
    given_up: int = 0  # distinct numbers not final after enough runs of the job that they let it close
    answered: int = 0  # rows showing a final answer from the API (this job's, or reused)
    hidden: int = 0  # rows not showing a final answer the checkpoint holds (too old, another job)
    kept: int = 0  # distinct numbers showing an earlier final answer because this job's recheck failed
    kept_rows: int = 0  # the rows that show them
    kept_output: bool = False  # the existing output was kept (the new one would show less)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> WriteResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})


def is_change(values: list[CellValue]) -> bool:
    """Whether a row's status differs from the previous finished job's (a final one only)."""
    previous, status = values[PREVIOUS_INDEX], values[STATUS_INDEX]
    return bool(previous) and previous != status and Status(str(status)).is_final


class Annotator:
    """Turns a batch of phone cells into their result columns, and counts what it wrote.

    An answer is shown when it belongs to ``job_id`` (this run's job), or when it is final and
    fresh by ``freshness`` (``--max-age``, which also bounds this job's own answers);
    otherwise the row is ``pending``. ``mobile_previous_status`` is the number's status in the
    previous finished job of this output.
    """

    def __init__(
        self,
        freshness: Freshness | None,
        store: Store | None,
        job_id: int | None,
        language: str = "en",
        *,
        words: bool = False,
    ) -> None:
        # Renewed now: this run's own answers are younger than the plan, but not from the future.
        self.freshness = freshness.renewed() if freshness is not None else None
        self.store = store
        self.job_id = job_id
        self.language = language
        self.words = words  # billable and source in the language's words (an output a person reads)
        self.counts: Counter[str] = Counter()
        self.billable = DistinctCount()
        self.holding = DistinctCount()
        self.given_up = DistinctCount()
        self.transitions: Counter[str] = Counter()
        self.answered = 0
        self.hidden = 0
        self.kept = DistinctCount()
        self.kept_rows = 0
        self.previous_job = store.previous_job(job_id) if store is not None and job_id is not None else None

    def result(self) -> WriteResult:
        return WriteResult(
            counts=dict(self.counts),
            billable_numbers=len(self.billable),
            changed=self.transitions.total(),
            transitions=dict(self.transitions.most_common()),
            previous_job=self.previous_job,
            holding=len(self.holding),
            given_up=len(self.given_up),
            answered=self.answered,
            hidden=self.hidden,
            kept=len(self.kept),
            kept_rows=self.kept_rows,
        )

    def __call__(self, cells: list[str]) -> list[list[CellValue]]:
        norms = [normalize_mobile(cell) for cell in cells]
        numbers = [int(n.number) for n in norms if n.number is not None]
        store = self.store
        stored = store.lookup(numbers) if store is not None else {}
        before = (
            store.statuses(self.previous_job, numbers)
            if store is not None and self.previous_job is not None
            else {}
        )
        out: list[list[CellValue]] = []
        for norm in norms:
            if norm.number is None:
                status = norm.status or Status.INVALID_NUMBER
                reason = reason_cell(norm.reason, self.language) if self.words else norm.reason
                row = self._row("", status, None, "local", reason, "")
            else:
                number = int(norm.number)
                answer = stored.get(number)
                result, source = self._answer(answer)
                row = self._row(
                    norm.number, result.status, result, source, result.error, before.get(number, "")
                )
                self._count(number, answer, result, source)
                if is_change(row):
                    self.transitions[f"{row[PREVIOUS_INDEX]} -> {row[STATUS_INDEX]}"] += 1
            self.counts[str(row[STATUS_INDEX])] += 1
            out.append(row)
        return out

    def _count(self, number: int, answer: StoredAnswer | None, result: RowResult, source: str) -> None:
        if result.billable:
            self.billable.add(number)
        if result.status.is_final:
            self.answered += 1
        elif answer is not None and answer.final:
            self.hidden += 1  # the checkpoint has a final answer this output does not show
        attempt = answer.attempt if answer is not None else None
        if attempt is not None and answer is not None and answer.job_id != self.job_id and source != "reused":
            # This job's recheck got no final answer: shown kept (or, when too old, as the recheck
            # went); it holds the job open until it gets one, or the recheck failed in enough runs.
            if source == "kept":
                self.kept.add(number)
                self.kept_rows += 1
            if attempt.tries < GIVE_UP_AFTER or attempt.status == Status.DAILY_LIMIT.value:
                self.holding.add(number)
            else:
                self.given_up.add(number)
            return
        if result.status.is_final:
            return
        if source and answer is not None and answer.given_up:
            self.given_up.add(number)
        else:
            self.holding.add(number)

    def _answer(self, stored: StoredAnswer | None) -> tuple[RowResult, str]:
        if stored is None:
            return RowResult(Status.PENDING), ""
        freshness = self.freshness
        # max_age bounds every answer shown, this job's too; a future stamp is never fresh
        result = stored.result
        own = stored.job_id == self.job_id
        if own and (freshness is None or freshness.fresh(result.status.value, result.checked_at, own=True)):
            return result, "api"
        reusable = (
            freshness is not None and stored.final and freshness.fresh(result.status.value, result.checked_at)
        )
        attempt = stored.attempt
        if attempt is not None and attempt.job_id == self.job_id and attempt.at >= result.checked_at:
            if reusable:
                return result, "reused"  # what the plan counted on: not asked again this job
            if stored.final and freshness is None:
                # This job's recheck failed: the answer paid for before stays, and says so.
                note = f"recheck {attempt.at} failed ({attempt.status}"
                note += f": {attempt.error})" if attempt.error else ")"
                note = f"{note}; the answer of {result.checked_at} is kept"
                if self.words and self.language == "zh-CN":
                    note = (
                        f"{attempt.at} 重新核验未成功（{label_of(Status(attempt.status), self.language)}），"
                    )
                    note += f"保留 {result.checked_at} 的结果"
                return dataclasses.replace(result, error=note), "kept"
            # The answer kept is older than max_age allows: the recheck's own outcome is shown.
            return RowResult(Status(attempt.status), checked_at=attempt.at, error=attempt.error), "api"
        if reusable:
            return result, "reused"
        return RowResult(Status.PENDING), ""

    def _row(
        self,
        number: str,
        status: Status,
        result: RowResult | None,
        source: str,
        error: str,
        previous: str,
    ) -> list[CellValue]:
        answered = result is not None and result.status is not Status.PENDING
        billable: bool | str = result.billable if result is not None else False
        shown_source = source if answered or source == "local" else ""
        result_code: CellValue = result.result_code if result is not None else None
        if self.words:
            billable = billable_cell(bool(billable), self.language)
            shown_source = source_cell(shown_source, self.language)
            # "-2" as the number it is: as text, Excel flags it and a CSV guard would quote it
            if isinstance(result_code, str) and _CODE_RE.fullmatch(result_code):
                result_code = int(result_code)
        return [
            number,
            status.value,
            label_of(status, self.language),
            action_of(status, self.language),
            previous,
            _label(previous, self.language),
            result.status_code if result is not None else None,
            result_code,
            billable,
            result.description if result is not None else "",
            result.request_id if result is not None else "",
            result.checked_at if result is not None else "",
            error,
            shown_source,
        ]


def _label(status: str, language: str) -> str:
    """The label of a status read back from the checkpoint ("" for none, or one not known here)."""
    try:
        return label_of(Status(status), language) if status else ""
    except ValueError:
        return ""
