"""The fallback XLSX/XLSM writer: openpyxl loads the whole workbook and edits the sheet in place.

Used only for a workbook the stream (``batchverify.files.xlsx``) cannot follow: it holds every cell in
memory and drops what openpyxl does not model (images, charts, shapes).

Values we add are typed on purpose: text is stored as text even when it starts with ``=`` (openpyxl
would otherwise store any text starting with ``=`` as a formula), with the control characters Excel refuses
stripped; digit strings such as the normalized number get the Text format ``@`` so Excel neither
shows ``1.38E+10`` nor converts them when someone edits the cell; booleans stay booleans and
integers numbers.
"""

from __future__ import annotations

import re
import warnings
from copy import copy
from pathlib import Path
from typing import Any

# No stubs ship with openpyxl; "unused-ignore" keeps this clean once types-openpyxl is installed.
import openpyxl  # type: ignore[import-untyped,unused-ignore]
from openpyxl.cell.cell import (  # type: ignore[import-untyped,unused-ignore]
    ILLEGAL_CHARACTERS_RE,
    Cell,
)
from openpyxl.workbook.workbook import Workbook  # type: ignore[import-untyped,unused-ignore]

from batchverify.errors import OutputError
from batchverify.files.layout import Annotate, CellValue, Layout, annotated, atomic_path
from batchverify.files.tables import Table

__all__ = ["write_xlsx_openpyxl"]

_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
_EXCEL_CELL_MAX = 32767  # characters Excel accepts in one cell


def _clean_text(value: str) -> str:
    return str(ILLEGAL_CHARACTERS_RE.sub("", value))[:_EXCEL_CELL_MAX]


def _set_value(cell: Any, value: CellValue) -> None:
    if isinstance(value, str):
        text = _clean_text(value)
        cell.value = text
        cell.data_type = "s"  # after the assignment, which turns "=..." into a formula
        if _DIGITS_RE.fullmatch(text):
            cell.number_format = "@"
    else:
        cell.value = value  # None clears a replaced cell; bool and int keep their types


def _load(path: Path, keep_vba: bool) -> Workbook:
    try:
        # openpyxl warns about features it drops (data validation extensions, unknown parts); the
        # warning is no reason to stop a run (and pytest turns warnings into errors).
        with warnings.catch_warnings(), path.open("rb") as f:
            warnings.simplefilter("ignore")
            # A file object, so openpyxl does not insist on an .xlsx/.xlsm name.
            return openpyxl.load_workbook(f, keep_vba=keep_vba, rich_text=True)
    except MemoryError:
        raise
    except Exception as exc:
        # openpyxl raises a wide mix (KeyError, ValueError, BadZipFile, XML errors) for workbooks
        # it cannot model; by now answers may have been paid for, and they are in the checkpoint.
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise OutputError(
            f"{path}: openpyxl cannot open the workbook to write the output ({detail})"
        ) from None


def _save(workbook: Workbook, out: Path) -> None:
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workbook.save(tmp)


def write_xlsx_openpyxl(
    table: Table, out: Path, layout: Layout, phone_col: int, annotate: Annotate, batch_size: int
) -> int:
    """Edit the table's sheet in place and save the whole workbook to ``out`` (the fallback: it
    loads every cell, and drops what openpyxl does not model, such as images and charts)."""
    workbook = _load(table.path, keep_vba=table.format.kind == "xlsm")
    sheet = workbook[table.format.sheet_name or workbook.sheetnames[0]]
    records = table.records()
    header = next(records, None)
    shift = 0
    if header is None or header.line == 0:
        sheet.insert_rows(1)  # no header row: one is added above the data
        shift = 1
    header_row = header.line if header and header.line else 1
    _unmerge_columns(sheet, header_row, layout.positions)
    template = _header_template(sheet, header_row, table.header, phone_col)
    for name, position in zip(layout.names, layout.positions, strict=True):
        cell = sheet.cell(row=header_row, column=position + 1)
        _set_value(cell, name)
        if position >= len(table.header) or not table.header[position]:
            _copy_style(template, cell)
    written = 0
    for rec, _, values in annotated(
        ((r, None) for r in records), phone_col, len(layout.names), annotate, batch_size
    ):
        if values is None:
            continue
        written += 1
        for position, value in zip(layout.positions, values, strict=True):
            _set_value(sheet.cell(row=rec.line + shift, column=position + 1), value)
    _save(workbook, out)
    return written


def _unmerge_columns(sheet: Any, first_row: int, positions: list[int]) -> None:
    """Split merged ranges that cover a cell we write: openpyxl's MergedCell is read-only."""
    columns = {p + 1 for p in positions}
    for merged in list(sheet.merged_cells.ranges):
        if merged.max_row >= first_row and any(merged.min_col <= c <= merged.max_col for c in columns):
            sheet.unmerge_cells(merged.coord)


def _header_template(sheet: Any, row: int, header: list[str], phone_col: int) -> Cell | None:
    """The header cell whose look new header cells copy: the phone column's, else the last one."""
    filled = [i for i, h in enumerate(header) if h]
    if phone_col < len(header) and header[phone_col]:
        column = phone_col + 1
    elif filled:
        column = filled[-1] + 1
    else:
        return None
    template: Cell = sheet.cell(row=row, column=column)
    return template


def _copy_style(template: Cell | None, target: Any) -> None:
    # ``target`` is typed loosely: the stubs declare style attributes as plain descriptors while
    # reads give StyleProxy, and ``sheet.cell()`` may be declared to return a MergedCell.
    if template is None or not template.has_style:
        return
    target.font = copy(template.font)
    target.fill = copy(template.fill)
    target.border = copy(template.border)
    target.alignment = copy(template.alignment)
