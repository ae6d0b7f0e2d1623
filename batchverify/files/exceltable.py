"""Excel worksheets (XLSX, XLSM, XLS) read by python-calamine, every cell handed out as text.

Why calamine and not openpyxl: it parses in Rust, several times faster on large sheets. It holds the
sheet in memory on the Rust side; the table keeps the loaded sheet so the scan pass and the write
pass do not parse the workbook again. Formula cells give the value Excel cached when it saved the
file; a formula written by a script without a cached value reads as empty.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import python_calamine

from batchverify.errors import InputError
from batchverify.files.tables import NativeValue, Record, Table, TableFormat, TableKind, cell_text

__all__ = ["ExcelTable", "sheet_values"]


class ExcelTable(Table):
    """One worksheet of a workbook. The header starts as the first row with any content in it."""

    def __init__(self, path: Path, fmt: TableFormat, sheet: python_calamine.CalamineSheet) -> None:
        self.path = path
        self.format = fmt
        self._sheet: python_calamine.CalamineSheet | None = sheet
        # Records span column A to the last used column, so index == column number - 1.
        self._width = 0 if sheet.end is None else sheet.end[1] + 1
        self.header = []
        self.header_line = 0
        for line, values in self.native_rows():
            if any(v != "" for v in values):
                self.header = self._texts(values)
                self.header_line = line
                break
        if not self.header_line:
            raise InputError(
                "{file}: sheet {sheet!r} is empty", code="empty_sheet", file=str(path), sheet=fmt.sheet_name
            )

    @classmethod
    def open(cls, path: Path, kind: TableKind, sheet: str | None) -> ExcelTable:
        """Load the worksheet ``sheet`` (default: the first worksheet) of the workbook at ``path``."""
        if kind != "xls":
            check_workbook_size(path)
        try:
            workbook = python_calamine.CalamineWorkbook.from_path(str(path))
            metadata = workbook.sheets_metadata
        except Exception as exc:  # any parser failure is bad input, never a traceback
            raise calamine_error(path, exc) from None
        kinds = [m for m in metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet]
        worksheets = tuple(m.name for m in kinds)
        if not worksheets:
            raise InputError(f"{path} has no worksheet")
        # Without --sheet, the first sheet a person can see (a hidden lookup sheet often comes first).
        visible = [m.name for m in kinds if m.visible == python_calamine.SheetVisibleEnum.Visible]
        chosen = _pick_sheet(worksheets, sheet, path) if sheet is not None else (visible or worksheets)[0]
        try:
            loaded = workbook.get_sheet_by_name(chosen)
        except Exception as exc:
            raise calamine_error(path, exc) from None
        return cls(path, TableFormat(kind=kind, sheet_name=chosen, sheet_names=worksheets), loaded)

    @classmethod
    def known(
        cls, path: Path, fmt: TableFormat, header_line: int, header: list[str], width: int
    ) -> ExcelTable:
        """A sheet already planned (header and width known), loaded only if its rows are read: the
        streamed writer reads the workbook's XML itself, and calamine would hold the whole sheet."""
        table = cls.__new__(cls)
        table.path, table.format = path, fmt
        table._sheet = None
        table._width = width
        table.header, table.header_line = header, header_line
        return table

    def _loaded(self) -> python_calamine.CalamineSheet:
        if self._sheet is None:
            self._sheet = ExcelTable.open(self.path, self.format.kind, self.format.sheet_name)._sheet
        assert self._sheet is not None
        return self._sheet

    def _texts(self, values: list[NativeValue]) -> list[str]:
        cells = [v if type(v) is str else cell_text(v) for v in values]
        if len(cells) < self._width:
            cells.extend([""] * (self._width - len(cells)))
        return cells

    def native_rows(self) -> Iterator[tuple[int, list[NativeValue]]]:
        """Every row from sheet row 1 to the last used row, as calamine values ("" = empty cell)."""
        return aligned_rows(self._loaded(), self.path)

    def rows(self) -> Iterator[Record]:
        """Every row from sheet row 1; ``line`` is the sheet row number."""
        totals = self.totals_rows()
        for line, values in self.native_rows():
            yield Record(line, self._texts(values), line in totals)

    def native_records(self) -> Iterator[tuple[Record, list[NativeValue]]]:
        """Every row as a record and as calamine's typed values (for a workbook written anew)."""
        totals = self.totals_rows()
        for line, values in self.native_rows():
            yield Record(line, self._texts(values), line in totals), values

    def set_phone_column(self, column: int) -> None:
        """The plan's phone column: only a totals row of a table that holds it is not a customer."""
        self._phone_col = column

    def totals_rows(self) -> frozenset[int]:
        """The sheet rows that are the totals row of a table holding the phone column (any table's,
        before the column is known); xlsx and xlsm, read once."""
        spans: dict[int, list[range]] | None = getattr(self, "_totals", None)
        if spans is None:
            spans = {}
            if self.format.kind in ("xlsx", "xlsm") and self.format.sheet_name:
                from batchverify.files.xlsx.sheetfacts import totals_rows  # lxml: only for workbooks

                spans = totals_rows(self.path, self.format.sheet_name)
            self._totals = spans
        phone: int | None = getattr(self, "_phone_col", None)
        return frozenset(row for row, cols in spans.items() if phone is None or any(phone in c for c in cols))

    def formulas_without_values(self, column: int) -> tuple[int, list[str]]:
        """Cells of ``column`` holding a formula with no saved value (read as empty): how many, and
        the first few references."""
        if self.format.kind not in ("xlsx", "xlsm") or not self.format.sheet_name:
            return 0, []
        from batchverify.files.xlsx.sheetfacts import formulas_without_values

        return formulas_without_values(self.path, self.format.sheet_name, column)

    def max_width(self) -> int:
        """Column A up to the sheet's last used column."""
        return self._width


# A sheet at Excel's limit (1,048,576 rows of a few columns) is a few hundred MB of XML; parsing
# more would take minutes and gigabytes (a "zip bomb" inflates 8 MB to 2 GB).
MAX_PART_BYTES = 1 << 30
MAX_PARTS = 10_000


def check_workbook_size(path: Path) -> None:
    """Refuse a workbook whose parts would inflate past ``MAX_PART_BYTES``, before parsing it."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(
            "{file} is not a readable Excel workbook ({detail})",
            code="unreadable_workbook",
            file=str(path),
            detail=type(exc).__name__,
        ) from None
    if len(infos) > MAX_PARTS:
        raise InputError(
            f"{path} has {len(infos):,} parts; batchverify reads workbooks of at most {MAX_PARTS:,}"
        )
    for info in infos:
        if info.filename.startswith("xl/") and info.file_size > MAX_PART_BYTES:
            raise InputError(
                f"{path}: {info.filename} inflates to {info.file_size / 2**20:,.0f} MiB, over the limit of "
                f"{MAX_PART_BYTES // 2**20:,} MiB; save the sheet as CSV, or split it"
            )


def calamine_error(path: Path, exc: Exception) -> InputError:
    """A one-line ``InputError`` for anything python-calamine raised while reading ``path``."""
    if isinstance(exc, python_calamine.PasswordError):
        return InputError(f"{path} is password-protected; save an unprotected copy")
    detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    return InputError(
        "{file} is not a readable Excel workbook ({detail})",
        code="unreadable_workbook",
        file=str(path),
        detail=detail,
    )


def _pick_sheet(worksheets: tuple[str, ...], wanted: str | None, path: Path) -> str:
    if wanted is None:
        return worksheets[0]
    if wanted in worksheets:
        return wanted
    folded = [s for s in worksheets if s.strip().casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    listing = ", ".join(repr(s) for s in worksheets)
    raise InputError(
        "{file} has no sheet {sheet!r} (sheets: {sheets})",
        code="no_sheet",
        option="sheet",
        file=str(path),
        sheet=wanted,
        sheets=listing,
    )


def aligned_rows(sheet: python_calamine.CalamineSheet, path: Path) -> Iterator[tuple[int, list[NativeValue]]]:
    """The sheet's rows with their real 1-based row numbers, left-padded so index 0 is column A.

    python-calamine 0.9.1 ``iter_rows()`` starts at sheet row 1 (leading empty rows included) but
    at the first *used column* (leading empty columns dropped). That is undocumented, so neither
    offset is assumed: a row narrower than ``end`` column + 1 starts at ``start`` column, and a
    first row with content while ``start`` says row 1 is empty means iteration began at ``start``.
    """
    start, end = sheet.start, sheet.end
    if start is None or end is None:
        return
    try:
        rows = sheet.iter_rows()
        first = next(rows, None)
        if first is None:
            return
        row_offset = start[0] if start[0] > 0 and any(v != "" for v in first) else 0
        pad: list[NativeValue] = [""] * (start[1] if len(first) < end[1] + 1 else 0)
        yield row_offset + 1, pad + first if pad else first
        for line, values in enumerate(rows, start=row_offset + 2):
            yield line, pad + values if pad else values
    except Exception as exc:
        raise calamine_error(path, exc) from None


def sheet_values(path: Path, sheet_name: str) -> Iterator[tuple[int, list[NativeValue]]]:
    """Every row of one worksheet as calamine values (to copy a whole .xls workbook)."""
    try:
        sheet = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet_name)
    except Exception as exc:
        raise calamine_error(path, exc) from None
    return aligned_rows(sheet, path)
