"""The CSV writer: streams the input back with the same delimiter, quote character, line ending and
encoding (BOM kept), every original cell exactly as read. Memory stays flat whatever the size."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from batchverify.core.text import holdable
from batchverify.errors import OutputError
from batchverify.files.layout import Annotate, CellValue, Layout, annotated, atomic_path, place
from batchverify.files.tables import Table, TableFormat, cell_text

# OWASP CSV injection: a cell starting with one of these may be run as a formula by a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ...unless it is plainly numeric ("-2", "+86 138 0013 8000"): without letters, "|" or "!" nothing
# can call a function or DDE, and a quote would only mangle a value a machine reads back.
_NUMERIC_RE = re.compile(r"[0-9 +\-().]+", re.ASCII)


def result_texts(values: Iterable[CellValue], codec: str) -> list[str]:
    """Result values as CSV text the output's encoding can hold (an emoji in the API's Description
    becomes ``?`` in a GBK file instead of making the output unwritable)."""
    texts: list[str] = []
    add = texts.append
    # csv_text and holdable, inlined for the common cell (ASCII text that starts no formula): two
    # calls for each of the 14 result values of a million rows were 4 s of a CSV write.
    for value in values:
        if isinstance(value, str) and value.isascii() and not value.startswith(_FORMULA_START):
            add(value)
        else:
            add(holdable(csv_text(value), codec))
    return texts


def csv_text(value: CellValue) -> str:
    """A value as CSV text; text that a spreadsheet would run as a formula gets a ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value.startswith(_FORMULA_START) and not _NUMERIC_RE.fullmatch(value):
        return "'" + value
    return value


def output_codec(fmt: TableFormat, output_encoding: str | None) -> str:
    if output_encoding is None:
        return fmt.encoding
    try:
        return codecs.lookup(output_encoding).name
    except LookupError:
        raise OutputError(f"unknown output encoding {output_encoding!r}") from None


def dialect_for(out: Path, fmt: TableFormat) -> TableFormat:
    """The input's dialect, except that the delimiter follows a .tsv/.tab or .csv extension."""
    suffix = out.suffix.lower()
    if suffix in (".tsv", ".tab") and fmt.delimiter != "\t":
        return dataclasses.replace(fmt, delimiter="\t")
    if suffix == ".csv" and fmt.delimiter == "\t":
        return dataclasses.replace(fmt, delimiter=",")
    return fmt


def write_csv(
    table: Table,
    out: Path,
    layout: Layout,
    phone_col: int,
    annotate: Annotate,
    output_encoding: str | None,
    batch_size: int,
) -> int:
    """CSV to CSV: the title rows and every record as read, result values placed by ``layout``."""
    written = 0
    dialect = dialect_for(out, table.format)
    codec = output_codec(dialect, output_encoding)

    def rows() -> Iterator[list[str]]:
        nonlocal written
        records = table.records()
        yield from (r.cells for r in table.preamble())
        header = next(records, None)
        yield place(header.cells if header else [], layout, layout.names, "")
        for rec, _, values in annotated(
            ((r, None) for r in records), phone_col, len(layout.names), annotate, batch_size
        ):
            written += values is not None  # blank rows are written back, not counted
            yield rec.cells if values is None else place(rec.cells, layout, result_texts(values, codec), "")

    write_csv_rows(out, rows(), dialect, output_encoding, texts=True)  # a CSV's cells are text
    return written


def write_csv_rows(
    out: Path,
    rows: Iterable[Sequence[object]],
    fmt: TableFormat,
    output_encoding: str | None,
    *,
    texts: bool = False,
) -> None:
    """``rows`` (texts; None is an empty cell) to ``out`` in ``fmt``'s dialect, atomically.
    ``texts``: every cell is already ``str`` (nothing to convert)."""
    codec = output_codec(fmt, output_encoding)
    with atomic_path(out) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
        with open(fd, "w", encoding=codec, newline="") as f:
            writer = csv.writer(
                f,
                delimiter=fmt.delimiter,
                quotechar=fmt.quotechar,
                lineterminator=fmt.lineterminator,
                quoting=csv.QUOTE_MINIMAL,
            )
            try:
                if texts:
                    writer.writerows(rows)
                else:
                    for row in rows:
                        writer.writerow([v if isinstance(v, str) else _native(v) for v in row])
            except UnicodeEncodeError as exc:
                bad = exc.object[exc.start : exc.end]
                raise OutputError(
                    "cannot write {text!r} to {path} as {codec}; use {o[output_encoding]} utf-8-sig",
                    code="encoding_cannot_hold",
                    option="output_encoding",
                    text=bad,
                    path=str(out),
                    codec=codec,
                ) from None


def _native(value: object) -> str:
    """A typed value of an Excel source as the text a person sees (None: an empty cell)."""
    return cell_text(value)
