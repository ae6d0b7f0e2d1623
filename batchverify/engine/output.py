"""The result columns of every row, from the plan and the checkpoint; and the annotated file.

Output is a pure function of the input and the checkpoint store, so a resumed run writes exactly
what an uninterrupted one would. That also lets a workbook be written by a child process that
reads both again: openpyxl's save holds the GIL for hundreds of milliseconds at a time, which in a
thread would stall the caller's event loop (an upload page serving other jobs).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from batchverify.core.normalize import normalize_mobile
from batchverify.engine.plan import Plan
from batchverify.engine.store import Checkpoint, Store, StoredAnswer
from batchverify.errors import OutputError
from batchverify.files.layout import Annotate, CellValue
from batchverify.files.readers import Table, open_table
from batchverify.files.writers import write_table
from batchverify.models import OUTPUT_COLUMNS, RowResult, Status

__all__ = ["OUTPUT_COLUMNS", "WriteSpec", "annotator", "write_output"]


def annotator(
    reuse_since: str | None, store: Store | None, job_id: int | None, counts: Counter[str]
) -> Annotate:
    """The function that turns a batch of phone cells into their result columns (and counts them).

    An answer is used when it belongs to ``job_id`` (this run's job), or when it is final and
    checked at or after ``reuse_since`` (``--max-age``); otherwise the row is ``pending``.
    """

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


@dataclass(frozen=True)
class WriteSpec:
    """Everything a child process needs to write the output again from the input and the store."""

    input: Path
    sheet: str | None
    encoding: str | None
    output: Path
    output_encoding: str | None
    phone_col: int
    store: Path
    job_id: int
    reuse_since: str | None


def write_output(plan: Plan, store: Store, job_id: int) -> Counter[str]:
    """Write the annotated output file atomically; returns the row count per status. Blocks.

    A workbook is written by a child process (see the module docstring); CSV, which streams in
    small steps, in the calling thread.
    """
    request = plan.request
    assert request.output is not None
    path = request.store_path
    if plan.table.format.kind == "csv" or path is None:
        counts: Counter[str] = Counter()
        _write(
            plan.table,
            request.output,
            request.output_encoding,
            plan.phone_col,
            store,
            job_id,
            plan.reuse_since,
            counts,
        )
        return counts
    spec = WriteSpec(
        input=request.input,
        sheet=request.sheet,
        encoding=request.encoding,
        output=request.output,
        output_encoding=request.output_encoding,
        phone_col=plan.phone_col,
        store=path,
        job_id=job_id,
        reuse_since=plan.reuse_since,
    )
    return run_writer_child(spec)


def run_writer_child(spec: WriteSpec) -> Counter[str]:
    """Write ``spec`` in a fresh interpreter (``python -m batchverify.engine.writechild``).

    A plain subprocess, not multiprocessing: spawn would import the caller's main script again
    (a script without a ``__main__`` guard would run its jobs a second time), and fork is unsafe in
    a process with threads. Its own session, so a Ctrl-C meant for the run does not kill the write.
    """
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    doc = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(spec).items()}
    proc = subprocess.run(
        [sys.executable, "-m", "batchverify.engine.writechild"],
        input=json.dumps(doc),
        capture_output=True,
        text=True,
        env=env,
        start_new_session=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if proc.returncode == 0 and "counts" in answer:
        return Counter({str(k): int(v) for k, v in answer["counts"].items()})
    detail = answer.get("error") or f"the workbook writer ended with code {proc.returncode}"
    raise OutputError(f"{detail}; the answers are kept in the checkpoint")


def write_in_child(spec: WriteSpec) -> Counter[str]:
    """The output written from ``spec`` (in the child process)."""
    table = open_table(spec.input, sheet=spec.sheet, encoding=spec.encoding)
    counts: Counter[str] = Counter()
    with Checkpoint.open(spec.store, lock=False, create=False) as store:
        _write(
            table,
            spec.output,
            spec.output_encoding,
            spec.phone_col,
            store,
            spec.job_id,
            spec.reuse_since,
            counts,
        )
    return counts


def _write(
    table: Table,
    out: Path,
    output_encoding: str | None,
    phone_col: int,
    store: Store,
    job_id: int,
    reuse_since: str | None,
    counts: Counter[str],
) -> None:
    write_table(
        table,
        out,
        phone_col=phone_col,
        columns=OUTPUT_COLUMNS,
        annotate=annotator(reuse_since, store, job_id, counts),
        output_encoding=output_encoding,
    )


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
