"""The result columns of every row, from the plan and the checkpoint; and the annotated file.

Output is a pure function of the input and the checkpoint store, so a resumed run writes exactly
what an uninterrupted one would.
"""

from __future__ import annotations

from collections import Counter

from batchverify.core.normalize import normalize_mobile
from batchverify.engine.plan import Plan
from batchverify.engine.store import Store, StoredAnswer
from batchverify.files.layout import Annotate, CellValue
from batchverify.files.writers import write_table
from batchverify.models import RowResult, Status

__all__ = ["OUTPUT_COLUMNS", "annotator", "write_output"]

OUTPUT_COLUMNS = [
    "mobile_normalized",
    "mobile_status",
    "mobile_status_code",
    "mobile_result_code",
    "mobile_billable",
    "mobile_description",
    "mobile_request_id",
    "mobile_checked_at",
    "mobile_error",
    "mobile_source",
]


def annotator(plan: Plan, store: Store | None, job_id: int | None, counts: Counter[str]) -> Annotate:
    """The function that turns a batch of phone cells into their result columns (and counts them).

    An answer is used when it belongs to ``job_id`` (this run's job), or when it is final and young
    enough for the plan's ``--max-age``; otherwise the row is ``pending``.
    """
    reuse_since = plan.reuse_since

    def annotate(cells: list[str]) -> list[list[CellValue]]:
        norms = [normalize_mobile(cell) for cell in cells]
        numbers = [int(n.number) for n in norms if n.number is not None]
        stored = store.lookup(numbers) if store is not None else {}
        out: list[list[CellValue]] = []
        for norm in norms:
            if norm.number is None:
                status = norm.status or Status.INVALID_NUMBER
                row: list[CellValue] = ["", status.value, None, None, False, "", "", "", norm.reason, "local"]
            else:
                row = _answer_columns(norm.number, stored.get(int(norm.number)), job_id, reuse_since)
            counts[str(row[1])] += 1
            out.append(row)
        return out

    return annotate


def write_output(plan: Plan, store: Store | None, job_id: int | None) -> Counter[str]:
    """Write the annotated output file atomically; returns the row count per status. Blocks."""
    assert plan.request.output is not None
    counts: Counter[str] = Counter()
    write_table(
        plan.table,
        plan.request.output,
        phone_col=plan.phone_col,
        columns=OUTPUT_COLUMNS,
        annotate=annotator(plan, store, job_id, counts),
        output_encoding=plan.request.output_encoding,
    )
    return counts


def _answer_columns(
    number: str, stored: StoredAnswer | None, job_id: int | None, reuse_since: str | None
) -> list[CellValue]:
    source = "api"
    if stored is None:
        result: RowResult | None = None
    elif stored.job_id == job_id:
        result = stored.result
    elif reuse_since is not None and stored.final and stored.result.checked_at >= reuse_since:
        result, source = stored.result, "reused"
    else:
        result = None
    if result is None:
        return [number, Status.PENDING.value, None, None, False, "", "", "", "", ""]
    return [
        number,
        result.status.value,
        result.status_code,
        result.result_code,
        result.billable,
        result.description,
        result.request_id,
        result.checked_at,
        result.error,
        source,
    ]
