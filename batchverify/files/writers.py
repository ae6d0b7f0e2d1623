"""Write the input table back with result columns added, atomically, in the format ``out`` names.

* CSV to CSV streams: the same delimiter, quote character, line ending and encoding (BOM kept),
  every original cell exactly as read, title rows above the header too. Memory stays flat.
* XLSX/XLSM to the same format: the one worksheet is rewritten as a stream inside the zip
  (``batchverify.files.xlsx``); every other part is copied byte for byte, so images, charts,
  shapes, comments, data validation, other sheets and styles stay. A workbook the stream cannot
  follow falls back to openpyxl (``batchverify.files.openpyxlwriter``), which loads it whole.
* Anything else is a conversion (``batchverify.files.convert``): XLSX/XLS to CSV (cells as the
  text a person sees), CSV to XLSX (text stays text), XLS to XLSX (every sheet's values), and the
  problems-only file (``keep``).

Every writer goes through ``batchverify.files.layout.atomic_path``: a failed or interrupted write
leaves an existing ``out`` untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from batchverify.files.csvwriter import write_csv
from batchverify.files.formats import output_kind
from batchverify.files.layout import Annotate, CellValue, Keep, Layout, check_target
from batchverify.files.tables import Table

if TYPE_CHECKING:
    from batchverify.files.xlsx.model import Presentation

__all__ = ["Annotate", "CellValue", "output_kind", "write_table"]


def write_table(
    table: Table,
    out: Path,
    *,
    phone_col: int,
    columns: list[str],
    annotate: Annotate,
    aliases: Sequence[Sequence[str]] | None = None,
    output_encoding: str | None = None,
    look: Callable[[list[int]], Presentation] | None = None,
    keep: Keep | None = None,
    batch_size: int = 5000,
    fixed: Sequence[int] | None = None,
) -> int:
    """Write ``table`` to ``out`` with ``columns`` added; returns the number of data rows written.

    ``annotate`` gets the phone cells of up to ``batch_size`` data records (``""`` for a row too
    short to have one) and returns, per record, the values for ``columns`` in that order. Columns
    the input already has under one of these names (or its ``aliases``: a previous output fed back
    in) are overwritten in place; the others are appended after the widest row. A record whose
    cells are all empty stays blank (it is still passed to ``annotate``, so the counts match).
    ``look`` gives the workbook's presentation from the result columns' positions. ``keep``: only
    the data rows whose values it accepts are written (and no title rows); several predicates: their
    rows group by group, in that order. ``output_encoding``
    overrides the CSV output encoding. Raises ``OutputError`` when ``out`` cannot be written.
    """
    out = Path(out)
    check_target(table, out)
    layout = Layout.build(table.header, table.max_width(), columns, aliases, fixed)
    source, target = table.format.kind, output_kind(out)
    presentation = look(layout.positions) if look is not None else None
    if keep is None and source == "csv" and target == "csv":
        return write_csv(table, out, layout, phone_col, annotate, output_encoding, batch_size)
    if keep is None and source in ("xlsx", "xlsm") and target == source:
        from batchverify.files import excelwriter  # openpyxl and lxml: CSV runs never import them

        return excelwriter.write_xlsx(table, out, layout, phone_col, annotate, presentation, batch_size)
    from batchverify.files import convert

    return convert.write_converted(
        table, out, layout, phone_col, annotate, presentation, keep, output_encoding, batch_size
    )
