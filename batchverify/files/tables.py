"""The types every reader returns and every writer consumes: ``Table``, ``TableFormat``, ``Record``.

Stdlib only, so the readers, writers and column detection can share them without import cycles.
"""

from __future__ import annotations

import abc
import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["NativeValue", "Record", "Table", "TableFormat", "TableKind", "cell_text"]

TableKind = Literal["csv", "xlsx", "xlsm", "xls"]
# What python-calamine hands out for one Excel cell ("" for an empty one).
NativeValue = int | float | str | bool | dt.datetime | dt.date | dt.time | dt.timedelta


@dataclass(frozen=True, slots=True)
class TableFormat:
    """How the input is stored, so the output can be written the same way.

    For CSV: ``delimiter``, ``quotechar``, ``encoding`` (the codec that reads it: ``utf-8``,
    ``utf-8-sig``, ``utf-16``, ``gb18030``, or the ``--encoding`` override), ``bom`` and
    ``lineterminator``. For Excel: ``sheet_name`` (the sheet read) and ``sheet_names`` (every
    worksheet, in workbook order).
    """

    kind: TableKind
    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"
    bom: bool = False
    lineterminator: str = "\r\n"
    sheet_name: str | None = None
    sheet_names: tuple[str, ...] = ()


@dataclass(slots=True)
class Record:
    """One row of the table.

    ``line`` is the 1-based sheet row (Excel) or the 1-based record number (CSV: the header is 1,
    and a quoted cell spanning several physical lines still counts once). ``cells`` are the row's
    texts, index 0 = first column (column A); CSV rows keep their own length (ragged rows stay
    ragged), Excel rows span column A to the sheet's last used column.
    """

    line: int
    cells: list[str]
    # A table's totals row (=SUBTOTAL under an Excel list): written back as it is, never a customer.
    totals: bool = False

    @property
    def is_data(self) -> bool:
        """Whether the row is a customer's: not blank, not a totals row."""
        return not self.totals and any(self.cells)


class Table(abc.ABC):
    """An opened input table.

    ``rows()`` yields every record from the top of the file. The header is the record at
    ``header_line`` (0: the table has no header row, its first row is data); the reader starts with
    the first row that has content, and ``use_header`` moves it (the plan's detection, or
    ``--header-row``). ``records()`` yields the header record first (an empty one when there is
    none), then every data row in file order, blank rows included, so a writer can reproduce every
    row; ``preamble()`` the rows above the header (titles, notes), which are kept, never counted.
    All of them stream, and can be called any number of times: each call reads the file again.
    """

    path: Path
    format: TableFormat
    header: list[str]
    header_line: int
    # False for a table whose header is given (a DataFrame column): the plan does not look for one.
    detect_header: bool = True

    @abc.abstractmethod
    def rows(self) -> Iterator[Record]:
        """Every record from the first line of the file, streamed."""

    @abc.abstractmethod
    def max_width(self) -> int:
        """The largest number of cells in any record (CSV: may read the file once more)."""

    def use_header(self, line: int) -> None:
        """Make record ``line`` the header (0: no header row)."""
        self.header_line = line
        self.header = []
        for record in self.rows():
            if record.line == line:
                self.header = record.cells
            if record.line >= line:
                break

    def records(self) -> Iterator[Record]:
        """The header record, then the data records, streamed from the file."""
        if self.header_line == 0:
            yield Record(0, list(self.header))  # the header the output gets (none in the file)
        for record in self.rows():
            if record.line >= self.header_line:
                yield record

    def preamble(self) -> Iterator[Record]:
        """The records above the header."""
        for record in self.rows():
            if record.line >= self.header_line:
                return
            yield record


def cell_text(value: object) -> str:
    """One spreadsheet value as the text a person sees.

    Integer-valued floats become their digits (``13800138000.0`` → ``13800138000``; ``int()``
    first, because ``str()`` keeps ``.0`` and ``%g`` gives ``1.38e+10``); other floats use the
    shortest round-tripping ``repr``; booleans ``TRUE``/``FALSE``; dates and times ISO 8601.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if value is None:
        return ""
    return str(value)
