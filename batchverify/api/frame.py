"""The DataFrame API: ``verify_dataframe`` / ``averify_dataframe``. The only module that imports pandas,
and only when called, so the command line starts without it."""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchverify.api.files import raise_for
from batchverify.api.sync import Handle, run_sync
from batchverify.build import connect, language_of, prepare
from batchverify.core.labels import result_positions
from batchverify.engine.annotate import Annotator, WriteResult
from batchverify.engine.events import EventSink, ignore
from batchverify.engine.options import Options
from batchverify.engine.plan import Plan
from batchverify.engine.store import Store
from batchverify.errors import CheckpointError, UsageError
from batchverify.files.layout import CellValue
from batchverify.files.tables import Record, Table, TableFormat, cell_text
from batchverify.models import OUTPUT_COLUMNS
from batchverify.report.progress import Progress

if TYPE_CHECKING:
    import pandas as pd

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
        annotate = Annotator(made.freshness, store, job_id, self.language)
        values = self.table.values
        rows: list[list[CellValue]] = []
        for start in range(0, len(values), _BATCH):
            rows.extend(annotate(values[start : start + _BATCH]))
        self.rows = rows
        return annotate.result()


def _frame(df: pd.DataFrame, rows: list[list[CellValue]]) -> pd.DataFrame:
    import pandas as pd

    # A frame that already has result columns (an earlier result fed back): they are replaced.
    # An earlier output's result columns, by position (pandas names a repeated header "状态代码.1"):
    # side by side, else the mobile_* names; a customer's own column of the same name stays.
    labels = [re.sub(r"\.[0-9]+$", "", str(c)) for c in df.columns]
    block = result_positions(labels)
    drop = block if block is not None else [i for i, c in enumerate(df.columns) if str(c) in OUTPUT_COLUMNS]
    out = df.iloc[:, [i for i in range(len(df.columns)) if i not in set(drop)]].copy()
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


# Options about files, which a DataFrame does not have: refused rather than silently ignored.
_FILE_ONLY = (
    "column",
    "sheet",
    "header_row",
    "encoding",
    "output_encoding",
    "summary_sheet",
    "overwrite",
    "problems",
    "changes",
    "headers",
    "time_zone",
    "title",
)


def _options(options: Options | None, values: dict[str, Any]) -> Options:
    made = Options.of(options, **values)
    default = Options()
    for name in _FILE_ONLY:
        if getattr(made, name) != getattr(default, name):
            raise UsageError(
                "{o[" + name + "]} is for files; verify_dataframe reads the column it is given",
                code="not_for_dataframes",
                option=name,
            )
    return made


def _table(df: pd.DataFrame, column: str) -> ColumnTable:
    if column not in df.columns:
        raise UsageError("the DataFrame has no column {column!r}", code="column_not_found", column=column)
    import pandas as pd

    if not isinstance(df[column], pd.Series):
        raise UsageError(
            "{column!r} is not one column of the DataFrame (a duplicate name, or a level)",
            code="column_not_found",
            column=column,
        )
    return ColumnTable(str(column), [_text(v) for v in df[column].tolist()])


def _sink(progress: bool | EventSink) -> tuple[EventSink, Progress | None]:
    if callable(progress):
        return progress, None
    if not progress:
        return ignore, None
    bar = Progress(_progress_mode())
    return bar, bar


def _progress_mode() -> str:
    """A notebook's widget in a notebook, a bar on a terminal, else log lines (never carriage
    returns into a log file or a pipe)."""
    shell = sys.modules.get("IPython")
    if shell is not None:
        get = getattr(shell, "get_ipython", None)
        kernel = get() if callable(get) else None
        if kernel is not None and "IPKernelApp" in getattr(kernel, "config", {}):
            return "notebook"
    return "bar" if sys.stderr.isatty() else "log"


async def _run(
    handle: Handle | None,
    df: pd.DataFrame,
    column: str,
    options: Options,
    progress: bool | EventSink,
) -> pd.DataFrame:
    table = _table(df, column)
    job_options = dataclasses.replace(options, column="1")  # the table's only column
    language = language_of(options)
    events, bar = _sink(progress)
    collector = _Collector(table, language)
    try:
        with connect(options) as target:
            job = await prepare(
                job_options,
                target,
                table.path,
                None,
                table=table,
                events=events,
                writer=collector,
                # a cell run again on the same frame and checkpoint pays for nothing
                reuse_checkpoint=options.checkpoint is not None,
            )
            if handle is not None:
                handle.attach(job)
            summary = await job.run()
    finally:
        if bar is not None:
            bar.close()
    raise_for(summary)
    if summary.outcome == "interrupted":
        raise KeyboardInterrupt
    if summary.outcome == "storage_error":
        raise CheckpointError(summary.error or "the checkpoint could not be written")
    out = _frame(df, collector.rows)
    out.attrs["summary"] = summary.to_dict()
    return out


async def averify_dataframe(
    df: pd.DataFrame,
    column: str,
    *,
    progress: bool | EventSink = True,
    options: Options | None = None,
    **values: Any,
) -> pd.DataFrame:
    """A new DataFrame: ``df`` (same index, not modified) plus the result columns of a file output.

    Each distinct number in ``df[column]`` is asked once. ``checkpoint=PATH`` keeps every answer in
    that file, so a call made again (interrupted or not) pays for nothing twice: without
    ``max_age``, every answer the checkpoint holds (younger than ``answers_keep``, 90 days) is
    reused unless ``restart=True``; the answer store is used only as ``max_age`` says. Without a
    checkpoint the answers live in memory for this call only. ``progress``: a bar (True: a
    notebook's widget, a terminal's bar, or log lines when stderr is neither), none (False), or an
    event sink. Columns:
    ``mobile_status`` and the other text columns as ``string``, ``mobile_status_code`` ``Int64``,
    ``mobile_billable`` ``boolean``, ``mobile_checked_at`` a UTC datetime; ``mobile_status_label``
    and ``mobile_action`` in ``language`` (``zh-CN`` or ``en``, default: the locale's). The
    returned frame's ``attrs["summary"]`` is the run's summary (as ``--summary-json`` has it).

    Other keywords are fields of ``batchverify.Options`` (``endpoint``, ``credentials``, ``rate``,
    ``max_age``, ``restart``, ``concurrency``, ``timeout``, ``language``, ``checkpoint``,
    ``max_billable``, ...), checked as every front end checks them; options about files
    (``sheet``, ``problems``, ...) are refused. Raises as ``averify_file`` does; a stop
    (``KeyboardInterrupt``) is raised again after the answers so far are stored.
    """
    made = _options(options, values)
    return await _run(None, df, column, made, progress)


def verify_dataframe(
    df: pd.DataFrame,
    column: str,
    *,
    progress: bool | EventSink = True,
    options: Options | None = None,
    **values: Any,
) -> pd.DataFrame:
    """``averify_dataframe`` for synchronous code and notebooks; works inside a running event loop.

    A KeyboardInterrupt (the notebook's stop button) stops the job cleanly, keeps every answer in
    the checkpoint, and is raised again.
    """
    made = _options(options, values)
    return run_sync(lambda handle: _run(handle, df, column, made, progress))
