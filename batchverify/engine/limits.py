"""Excel's limits for what a run writes (1,048,576 rows, 16,384 columns, 32,767 characters in a
cell), checked while the plan reads the list: a workbook output that would not fit is refused
before anything is sent, with the way out (a CSV output), never cut short or truncated."""

from __future__ import annotations

from pathlib import Path

from batchverify.errors import UsageError
from batchverify.files.formats import EXCEL_CELL_CHARS, EXCEL_COLUMNS, EXCEL_ROWS, output_kind
from batchverify.files.tables import Record, Table
from batchverify.models import OUTPUT_COLUMNS

__all__ = ["ExcelLimits"]


class ExcelLimits:
    """Watches the records the plan reads; ``check()`` refuses what a workbook output cannot hold."""

    def __init__(self, table: Table, outputs: list[Path | None]) -> None:
        self._table = table
        self._targets = [p for p in outputs if p is not None and output_kind(p) in ("xlsx", "xlsm")]
        # A workbook's cells are within the limit already; a CSV's may not be.
        self._cells = bool(self._targets) and table.format.kind == "csv"
        self._long: tuple[int, int] | None = None  # (characters, record) of the first cell over
        self._last = 0

    def see(self, record: Record) -> None:
        self._last = max(self._last, record.line)
        if self._cells and self._long is None:
            longest = max(map(len, record.cells), default=0)
            if longest > EXCEL_CELL_CHARS:
                self._long = (longest, record.line)

    def check(self) -> None:
        if not self._targets:
            return
        table = self._table
        for record in [*table.preamble(), Record(table.header_line, table.header)]:
            self.see(record)
        target = self._targets[0]
        rows = self._last + (1 if table.header_line == 0 else 0)  # a header row is inserted
        columns = table.max_width() + len(OUTPUT_COLUMNS)
        if self._long is not None:
            length, line = self._long
            self._refuse(
                target, f"a cell of {length:,} characters (record {line})", f"{EXCEL_CELL_CHARS:,} characters"
            )
        if rows > EXCEL_ROWS:
            self._refuse(target, f"{rows:,} rows", f"{EXCEL_ROWS:,} rows")
        if columns > EXCEL_COLUMNS:
            self._refuse(target, f"{columns:,} columns with the results", f"{EXCEL_COLUMNS:,} columns")

    def _refuse(self, target: Path, what: str, limit: str) -> None:
        raise UsageError(
            "{path} would hold {what}, more than an Excel sheet takes ({limit}); write a CSV instead "
            "(a .csv name for {o[output]}, {o[problems]} or {o[changes]})",
            code="excel_limit",
            option="output",
            path=str(target),
            what=what,
            limit=limit,
        )
