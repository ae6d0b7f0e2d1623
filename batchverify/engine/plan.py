"""The batch run: read and scan the input, plan, send, and write the annotated output.

``plan_run`` does everything up to the point of sending (it is all ``--dry-run`` does);
``execute`` sends and writes. Output is a pure function of the input and the checkpoint store, so a
resumed run writes exactly what an uninterrupted one would.
"""

from __future__ import annotations

import datetime
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from batchverify.core.columns import detect_phone_column
from batchverify.core.normalize import normalize_mobile
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.store import Checkpoint, JobInfo, StoredAnswer, checkpoint_path
from batchverify.errors import OutputError, UsageError
from batchverify.files.readers import Table, open_table
from batchverify.files.writers import CellValue, write_table
from batchverify.models import RowResult, Status

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
_DETECT_SAMPLE = 500


@dataclass(frozen=True)
class RunRequest:
    """What to read and where to write."""

    input: Path
    output: Path
    column: str | None = None
    sheet: str | None = None
    encoding: str | None = None
    output_encoding: str | None = None
    max_age: datetime.timedelta | None = None
    restart: bool = False


@dataclass
class Plan:
    """The scan of the input and what a run will do; everything the pre-send summary shows."""

    table: Table
    phone_col: int
    column_name: str
    rows: int = 0
    empty: int = 0
    invalid: int = 0
    duplicate_rows: int = 0
    distinct: dict[int, None] = field(default_factory=dict)
    already_answered: int = 0  # final answers this job already has (a resumed run)
    reused: int = 0  # final answers from earlier jobs, younger than --max-age
    to_send: list[int] = field(default_factory=list)
    job: JobInfo | None = None
    reuse_since: str | None = None


def default_output(path: Path) -> Path:
    """``<stem>.verified.<ext>`` beside the input (an .xls input becomes .xlsx)."""
    suffix = ".xlsx" if path.suffix.lower() == ".xls" else path.suffix
    return path.with_name(f"{path.stem}.verified{suffix}")


def check_paths(request: RunRequest) -> None:
    """Refuse an output that would overwrite the input or change the format."""
    if not request.input.exists():
        return  # the reader reports a missing input with its own message
    if request.output.resolve() == request.input.resolve():
        raise OutputError(f"the output {request.output} is the input itself; choose another -o")
    expected = default_output(request.input).suffix.lower()
    actual = request.output.suffix.lower()
    if actual != expected and not (
        expected in (".csv", ".tsv", ".txt") and actual in (".csv", ".tsv", ".txt")
    ):
        raise UsageError(
            f"the output must keep the input's format ({expected}), not {actual or 'no extension'}"
        )
    if not request.output.parent.is_dir():
        raise OutputError(f"the output folder {request.output.parent} does not exist")


def scan_input(request: RunRequest) -> Plan:
    """Read the input once: find the phone column, normalize and deduplicate. Creates no file."""
    table = open_table(request.input, sheet=request.sheet, encoding=request.encoding)
    sample = [rec.cells for rec in itertools.islice(table.records(), 1, _DETECT_SAMPLE + 1)]
    phone_col = detect_phone_column(table.header, sample, request.column)
    plan = Plan(table=table, phone_col=phone_col, column_name=_column_label(table.header, phone_col))
    distinct = plan.distinct
    for record in itertools.islice(table.records(), 1, None):
        plan.rows += 1
        cell = record.cells[phone_col] if phone_col < len(record.cells) else ""
        norm = normalize_mobile(cell)
        if norm.number is None:
            if norm.status is Status.EMPTY:
                plan.empty += 1
            else:
                plan.invalid += 1
            continue
        number = int(norm.number)
        if number in distinct:
            plan.duplicate_rows += 1
        else:
            distinct[number] = None
    return plan


def plan_sends(plan: Plan, request: RunRequest, store: Checkpoint | None, *, dry_run: bool = False) -> Plan:
    """Decide what needs sending: resume the open job (or start one), reuse what ``--max-age`` allows.

    With ``dry_run`` the store is only read.
    """
    distinct = plan.distinct
    now = datetime.datetime.now(datetime.UTC)
    if request.max_age is not None:
        plan.reuse_since = utc_now_iso(now - request.max_age)
    if store is None:
        plan.to_send = list(distinct)
        return plan
    if dry_run:
        job_id = None if request.restart else store.peek_job()
    else:
        plan.job = store.open_job(now=utc_now_iso(now), restart=request.restart)
        job_id = plan.job.job_id
    done_this_job = set(store.finals(job_id, None)) if job_id is not None else set()
    reusable = set(store.finals(None, plan.reuse_since)) if plan.reuse_since else set()
    for number in distinct:
        if number in done_this_job:
            plan.already_answered += 1
        elif number in reusable:
            plan.reused += 1
        else:
            plan.to_send.append(number)
    return plan


def _column_label(header: list[str], index: int) -> str:
    name = header[index] if index < len(header) else ""
    return name or f"column {index + 1}"


def write_output(plan: Plan, request: RunRequest, store: Checkpoint | None) -> Counter[str]:
    """Write the annotated output atomically; returns the row count per status."""
    counts: Counter[str] = Counter()
    job_id = plan.job.job_id if plan.job else None
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

    write_table(
        plan.table,
        request.output,
        phone_col=plan.phone_col,
        columns=OUTPUT_COLUMNS,
        annotate=annotate,
        output_encoding=request.output_encoding,
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


def numbers_to_send(plan: Plan) -> Iterator[int]:
    """The numbers the sender works through, in order of first appearance."""
    return iter(plan.to_send)


def store_path_for(request: RunRequest) -> Path:
    """Where this output's checkpoint store lives."""
    return checkpoint_path(request.output)
