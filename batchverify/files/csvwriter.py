"""The CSV writer: streams the input back with the same delimiter, quote character, line ending and
encoding (BOM kept), every original cell exactly as read. Memory stays flat whatever the size."""

from __future__ import annotations

import codecs
import csv
import os
import re
from pathlib import Path

from batchverify.errors import OutputError
from batchverify.files.layout import Annotate, CellValue, Layout, annotated, atomic_path, place
from batchverify.files.tables import Table

# OWASP CSV injection: a cell starting with one of these may be run as a formula by a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ...unless it is plainly numeric ("-2", "+86 138 0013 8000"): without letters, "|" or "!" nothing
# can call a function or DDE, and a quote would only mangle a value a machine reads back.
_NUMERIC_RE = re.compile(r"[0-9 +\-().]+", re.ASCII)


def _csv_text(value: CellValue) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value.startswith(_FORMULA_START) and not _NUMERIC_RE.fullmatch(value):
        return "'" + value
    return value


def _output_codec(table: Table, output_encoding: str | None) -> str:
    if output_encoding is None:
        return table.format.encoding
    try:
        return codecs.lookup(output_encoding).name
    except LookupError:
        raise OutputError(f"unknown output encoding {output_encoding!r}") from None


def write_csv(
    table: Table,
    out: Path,
    layout: Layout,
    phone_col: int,
    annotate: Annotate,
    output_encoding: str | None,
    batch_size: int,
) -> int:
    fmt = table.format
    codec = _output_codec(table, output_encoding)
    records = table.records()
    header = next(records, None)
    written = 0
    with atomic_path(out) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(fd, "w", encoding=codec, newline="") as f:
            writer = csv.writer(
                f,
                delimiter=fmt.delimiter,
                quotechar=fmt.quotechar,
                lineterminator=fmt.lineterminator,
                quoting=csv.QUOTE_MINIMAL,
            )
            try:
                writer.writerow(place(header.cells if header else [], layout, layout.names, ""))
                for rec, _, values in annotated(
                    ((r, None) for r in records), phone_col, len(layout.names), annotate, batch_size
                ):
                    if values is None:
                        writer.writerow(rec.cells)
                    else:
                        writer.writerow(place(rec.cells, layout, [_csv_text(v) for v in values], ""))
                    written += 1
            except UnicodeEncodeError as exc:
                bad = exc.object[exc.start : exc.end]
                raise OutputError(
                    f"cannot write {bad!r} to {out} as {codec}; use --output-encoding utf-8"
                ) from None
    return written
