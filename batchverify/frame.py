"""The DataFrame API: ``verify_dataframe`` / ``averify_dataframe``. The only module that imports pandas,
and only when called, so the command line starts without it."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from batchverify.api import Simulator, language_of, max_age_of, resolve_target, run_sync
from batchverify.engine.annotate import Annotator, WriteResult
from batchverify.engine.events import EventSink, ignore
from batchverify.engine.job import Job, Target, plan
from batchverify.engine.plan import Plan, RunRequest
from batchverify.engine.store import Store
from batchverify.errors import CheckpointError, UsageError
from batchverify.files.layout import CellValue
from batchverify.files.tables import Record, Table, TableFormat, cell_text
from batchverify.models import OUTPUT_COLUMNS
from batchverify.progress import Progress
from batchverify.tencent.credentials import Credentials

if TYPE_CHECKING:
    import pandas as pd

    from batchverify.api import _Handle

__all__ = ["averify_dataframe", "verify_dataframe"]

_BATCH = 5000


class ColumnTable(Table):
    """One column of values as a table: a header and one text cell per row."""

    def __init__(self, name: str, values: list[str]) -> None:
        self.path = Path("<DataFrame>")
        self.format = TableFormat(kind="csv")
        self.header = [name]
        self.header_line = 1
        self.detect_header = False
        self.values = values

    def rows(self) -> Iterator[Record]:
        yield Record(1, list(self.header))
        for line, value in enumerate(self.values, start=2):
            yield Record(line, [value])

    def max_width(self) -> int:
        return 1


def _text(value: object) -> str:
    """A frame value as the cell text a spreadsheet would show; missing values are empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return ""
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalars become Python ones (int64 -> int)
    return cell_text(value)


class _Collector:
    """Writes the results into lists (in the store's thread) instead of a file."""

    def __init__(self, table: ColumnTable, language: str) -> None:
        self.table = table
        self.language = language
        self.rows: list[list[CellValue]] = []

    def __call__(self, made: Plan, store: Store, job_id: int) -> WriteResult:
        annotate = Annotator(made.reuse_since, store, job_id, self.language)
        values = self.table.values
        rows: list[list[CellValue]] = []
        for start in range(0, len(values), _BATCH):
            rows.extend(annotate(values[start : start + _BATCH]))
        self.rows = rows
        return annotate.result()


def _frame(df: pd.DataFrame, rows: list[list[CellValue]]) -> pd.DataFrame:
    import pandas as pd

    # A frame that already has result columns (an earlier result fed back): they are replaced.
    out = df.drop(columns=[c for c in OUTPUT_COLUMNS if c in df.columns])
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in OUTPUT_COLUMNS]
    for name, values in zip(OUTPUT_COLUMNS, columns, strict=True):
        if name == "mobile_checked_at":
            # ISO 8601 UTC texts; NaT for rows without an answer.
            out[name] = pd.to_datetime(
                pd.Series([str(v) if v else None for v in values], dtype="string", index=out.index), utc=True
            )
        elif name == "mobile_status_code":
            out[name] = pd.array([v if isinstance(v, int) else None for v in values], dtype="Int64")
        elif name == "mobile_billable":
            out[name] = pd.array([bool(v) for v in values], dtype="boolean")
        else:
            texts = [None if v in ("", None) else str(v) for v in values]
            out[name] = pd.Series(texts, dtype="string", index=out.index)
    return out


def _setup(
    df: pd.DataFrame,
    column: str,
    checkpoint: str | Path | None,
    max_age: datetime.timedelta | str | None,
    restart: bool,
    language: str | None,
) -> tuple[RunRequest, ColumnTable]:
    if column not in df.columns:
        raise UsageError(f"the DataFrame has no column {column!r}")
    import pandas as pd

    if not isinstance(df[column], pd.Series):
        raise UsageError(f"{column!r} is not one column of the DataFrame (a duplicate name, or a level)")
    table = ColumnTable(str(column), [_text(v) for v in df[column].tolist()])
    request = RunRequest(
        input=table.path,
        output=None,
        column="1",
        max_age=max_age_of(max_age),
        restart=restart,
        checkpoint=Path(checkpoint) if checkpoint is not None else None,
        language=language_of(language),
    )
    return request, table


def _sink(progress: bool | EventSink) -> tuple[EventSink, Progress | None]:
    if callable(progress):
        return progress, None
    if not progress:
        return ignore, None
    bar = Progress("notebook")
    return bar, bar


async def _run(
    handle: _Handle | None,
    df: pd.DataFrame,
    request: RunRequest,
    table: ColumnTable,
    target: Target,
    progress: bool | EventSink,
) -> pd.DataFrame:
    events, bar = _sink(progress)
    try:
        made = await plan(request, endpoint_identity=target.endpoint_identity, table=table, events=events)
        collector = _Collector(table, request.language)
        job = Job(made, target, writer=collector, events=events)
        if handle is not None:
            handle.job = job  # first, so a stop asked from now on reaches the job
            if handle.stop_requested:
                job.stop()
        summary = await job.run()
    finally:
        if bar is not None:
            bar.close()
    if summary.fatal is not None:
        summary.fatal.summary = summary
        raise summary.fatal
    if summary.outcome == "interrupted":
        raise KeyboardInterrupt
    if summary.outcome == "storage_error":
        raise CheckpointError(summary.error or "the checkpoint could not be written")
    return _frame(df, collector.rows)


async def averify_dataframe(
    df: pd.DataFrame,
    column: str,
    *,
    checkpoint: str | Path | None = None,
    endpoint: str | Simulator | None = None,
    credentials: Credentials | None = None,
    rate: float = 20.0,
    progress: bool | EventSink = True,
    max_age: datetime.timedelta | str | None = None,
    restart: bool = False,
    concurrency: int = 50,
    timeout: float = 30.0,  # noqa: ASYNC109 - each request's read timeout, not the call's
    language: str | None = None,
) -> pd.DataFrame:
    """A new DataFrame: ``df`` (same index, not modified) plus the result columns of a file output.

    Each distinct number in ``df[column]`` is asked once. ``checkpoint=PATH`` keeps every answer in
    that file, so an interrupted call, called again, pays for nothing twice (without it the answers
    live in memory for this call only). ``progress``: a ``tqdm.auto`` bar (True), none (False), or
    an event sink. Columns: ``mobile_status`` and the other text columns as ``string``,
    ``mobile_status_code`` ``Int64``, ``mobile_billable`` ``boolean``, ``mobile_checked_at`` a UTC
    datetime; ``mobile_status_label`` and ``mobile_action`` in ``language`` (``zh-CN`` or ``en``,
    default: the locale's). Raises as ``averify_file`` does; a stop (``KeyboardInterrupt``) is raised again
    after the answers so far are stored.
    """
    request, table = _setup(df, column, checkpoint, max_age, restart, language)
    target = resolve_target(endpoint, credentials, rate=rate, concurrency=concurrency, timeout=timeout)
    return await _run(None, df, request, table, target, progress)


def verify_dataframe(
    df: pd.DataFrame,
    column: str,
    *,
    checkpoint: str | Path | None = None,
    endpoint: str | Simulator | None = None,
    credentials: Credentials | None = None,
    rate: float = 20.0,
    progress: bool | EventSink = True,
    max_age: datetime.timedelta | str | None = None,
    restart: bool = False,
    concurrency: int = 50,
    timeout: float = 30.0,
    language: str | None = None,
) -> pd.DataFrame:
    """``averify_dataframe`` for synchronous code and notebooks; works inside a running event loop.

    A KeyboardInterrupt (the notebook's stop button) stops the job cleanly, keeps every answer in
    the checkpoint, and is raised again.
    """
    request, table = _setup(df, column, checkpoint, max_age, restart, language)
    target = resolve_target(endpoint, credentials, rate=rate, concurrency=concurrency, timeout=timeout)
    return run_sync(lambda handle: _run(handle, df, request, table, target, progress))
