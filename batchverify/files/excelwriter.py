"""The Excel half of ``batchverify.files.writers``: XLSX/XLSM rewritten as a stream inside the zip
(``batchverify.files.xlsx``), openpyxl (``batchverify.files.openpyxlwriter``) as the fallback for a
workbook the stream cannot follow."""

from __future__ import annotations

import logging
from pathlib import Path

from batchverify.files.layout import Annotate, Layout, atomic_path
from batchverify.files.tables import Table
from batchverify.files.xlsx import Presentation, ResultColumn, StreamUnsupported, rewrite_workbook

__all__ = ["write_xlsx"]

log = logging.getLogger("batchverify")


def write_xlsx(
    table: Table,
    out: Path,
    layout: Layout,
    phone_col: int,
    annotate: Annotate,
    presentation: Presentation | None,
    batch_size: int,
) -> int:
    """The table's sheet annotated in a copy of its workbook: streamed, or through openpyxl when
    the stream cannot follow the workbook (``StreamUnsupported``)."""
    look = presentation or Presentation(columns=tuple(ResultColumn(width=16) for _ in layout.names))
    try:
        with atomic_path(out) as tmp:
            return rewrite_workbook(
                table.path,
                tmp,
                sheet_name=table.format.sheet_name or "",
                header_row=table.header_line,
                width=table.max_width(),
                layout=layout,
                phone_col=phone_col,
                annotate=annotate,
                presentation=look,
                batch_size=batch_size,
            )
    except StreamUnsupported as exc:
        log.info("writing %s through openpyxl: %s", out, exc)
    from batchverify.files.openpyxlwriter import write_xlsx_openpyxl  # loads openpyxl: only now

    return write_xlsx_openpyxl(table, out, layout, phone_col, annotate, batch_size)
