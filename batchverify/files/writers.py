"""Write the input table back with result columns appended, atomically, in the input's format.

* CSV streams: the same delimiter, quote character, line ending and encoding (BOM kept), every
  original cell exactly as read. Memory stays flat whatever the file size.
* XLSX/XLSM: openpyxl loads the whole workbook and edits the chosen sheet in place, so other
  sheets, styles and every original cell stay as they were. This is the memory-hungry path
  (openpyxl keeps every cell as a Python object).
* XLS (which nothing in Python writes) becomes XLSX: every worksheet's values are copied through
  calamine, and only the chosen sheet gets the result columns. Styles are not carried over.

Every writer goes through ``batchverify.files.layout.atomic_path``: a failed or interrupted write
leaves an existing ``out`` untouched.
"""

from __future__ import annotations

from pathlib import Path

from batchverify.files.csvwriter import write_csv
from batchverify.files.layout import Annotate, CellValue, Layout, check_target
from batchverify.files.tables import Table

__all__ = ["Annotate", "CellValue", "write_table"]


def write_table(
    table: Table,
    out: Path,
    *,
    phone_col: int,
    columns: list[str],
    annotate: Annotate,
    output_encoding: str | None = None,
    batch_size: int = 5000,
) -> int:
    """Write ``table`` to ``out`` with ``columns`` added; returns the number of data rows written.

    ``annotate`` gets the phone cells of up to ``batch_size`` data records (``""`` for a row too
    short to have one) and returns, per record, the values for ``columns`` in that order. Columns
    the input already has under one of these names (a previous output fed back in) are overwritten
    in place; the others are appended after the widest row. A record whose cells are all empty stays
    blank (it is still passed to ``annotate``, so the counts match). ``output_encoding`` overrides
    the CSV output encoding. Raises ``OutputError`` when ``out`` cannot be written.
    """
    out = Path(out)
    check_target(table, out)
    layout = Layout.build(table.header, table.max_width(), columns)
    kind = table.format.kind
    if kind == "csv":
        return write_csv(table, out, layout, phone_col, annotate, output_encoding, batch_size)
    # Imported here: openpyxl takes a while to import and CSV runs never need it.
    from batchverify.files import excelwriter

    if kind == "xls":
        return excelwriter.write_xls_as_xlsx(table, out, layout, phone_col, annotate, batch_size)
    return excelwriter.write_xlsx(table, out, layout, phone_col, annotate, batch_size)
