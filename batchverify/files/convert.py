"""Conversions: a table written in another format than its own, and the problems-only file.

* to CSV: every cell as the text a person sees in the spreadsheet (``13800138000``, ``007``),
  comma-separated (tab for .tsv/.tab), CRLF, UTF-8 with a BOM unless told otherwise, so Excel on
  Chinese Windows shows Chinese text instead of mojibake;
* to XLSX: a new workbook streamed row by row; text stays text (digits get the Text format, so
  ``007`` keeps its zero), an Excel source's numbers, dates and booleans keep their type; an .xls
  source's other sheets are copied as values.

Title rows above the header are kept, except in the problems file (``keep``), which holds the
header and the rows ``keep`` accepts.
"""

from __future__ import annotations

import contextlib
import itertools
import pickle
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from batchverify.files.csvwriter import csv_text, dialect_for, output_codec, result_texts, write_csv_rows
from batchverify.files.exceltable import ExcelTable, sheet_values
from batchverify.files.formats import output_kind
from batchverify.files.layout import Annotate, CellValue, Keep, Layout, annotated, atomic_path, place
from batchverify.files.tables import Record, Table, TableFormat
from batchverify.files.xlsx.model import NewSheet, Presentation

__all__ = ["write_converted"]

Row = list[object]


def write_converted(
    table: Table,
    out: Path,
    layout: Layout,
    phone_col: int,
    annotate: Annotate,
    presentation: Presentation | None,
    keep: Keep | None,
    output_encoding: str | None,
    batch_size: int,
) -> int:
    """Write ``table`` annotated to ``out`` in ``out``'s format; returns the data rows written."""
    written = [0]
    if output_kind(out) == "csv":
        same = dialect_for(out, table.format) if table.format.kind == "csv" else None
        delimiter = "\t" if out.suffix.lower() in (".tsv", ".tab") else ","
        dialect = same or TableFormat(kind="csv", delimiter=delimiter, encoding="utf-8-sig", bom=True)
        codec = output_codec(dialect, output_encoding)
        rows = _rows(table, layout, phone_col, annotate, keep, batch_size, written, codec)
        write_csv_rows(out, rows, dialect, output_encoding)
        return written[0]
    rows = _rows(table, layout, phone_col, annotate, keep, batch_size, written, None)
    header_row = 1 if keep is not None else len(list(table.preamble())) + 1
    main = NewSheet(
        name=table.format.sheet_name or "Sheet1",
        rows=rows,
        header_row=header_row,
        result_columns=dict(zip(layout.positions, presentation.columns, strict=True)) if presentation else {},
        presentation=presentation,
    )
    sheets = [main]
    if table.format.kind == "xls" and keep is None:
        sheets = [
            main if name == table.format.sheet_name else NewSheet(name, _values(table.path, name), 0)
            for name in table.format.sheet_names
        ]
    from batchverify.files.xlsx import write_new_workbook  # lxml: only for workbooks

    with atomic_path(out) as tmp:
        write_new_workbook(tmp, sheets)
    return written[0]


def _rows(
    table: Table,
    layout: Layout,
    phone_col: int,
    annotate: Annotate,
    keep: Keep | None,
    batch_size: int,
    written: list[int],
    codec: str | None,
) -> Iterator[Row]:
    """The output's rows: title rows (unless ``keep``), the header, then the data rows; as CSV
    text in ``codec``, or as a workbook's values (``codec`` None). ``keep`` a sequence of
    predicates: the rows each accepts, one group after the other, in one pass over the table (the
    later groups wait in temporary files, so a list of any size is held by none of them)."""
    tests = [keep] if callable(keep) else list(keep) if keep is not None else []
    with contextlib.ExitStack() as files:
        later = [files.enter_context(tempfile.TemporaryFile()) for _ in tests[1:]]
        for group, row in _grouped(table, layout, phone_col, annotate, tests, batch_size, written, codec):
            if group == 0:
                yield row
            else:
                pickle.dump(row, later[group - 1], pickle.HIGHEST_PROTOCOL)
        for spill in later:
            spill.seek(0)
            while True:
                try:
                    yield pickle.load(spill)
                except EOFError:
                    break


def _grouped(
    table: Table,
    layout: Layout,
    phone_col: int,
    annotate: Annotate,
    tests: list[Callable[[list[CellValue]], bool]],
    batch_size: int,
    written: list[int],
    codec: str | None,
) -> Iterator[tuple[int, Row]]:
    """(group, row): the title rows (without ``tests``), the header and each data row in group 0;
    with ``tests``, each data row in the first group whose test accepts it (others are left out)."""
    as_text = codec is not None
    source = _source(table, as_text)
    header: Row = []
    first: list[tuple[Record, Row]] = []
    for record, cells in source:
        if record.line < table.header_line:
            if not tests:
                yield 0, cells
        elif record.line == table.header_line:
            header = cells
            break
        else:  # no header row: this is the first data row
            first.append((record, cells))
            break
    yield 0, place(header, layout, list(layout.names), "" if as_text else None)
    data = itertools.chain(first, source)
    for _, cells, values in annotated(data, phone_col, len(layout.names), annotate, batch_size):
        if values is None:
            if not tests:
                yield 0, cells  # a blank row: written back, not counted
            continue
        group = next((i for i, test in enumerate(tests) if test(values)), None) if tests else 0
        if group is None:
            continue
        written[0] += 1
        extra: list[object] = list(result_texts(values, codec)) if codec is not None else list(values)
        yield group, place(cells, layout, extra, "" if as_text else None)


def _source(table: Table, as_text: bool) -> Iterator[tuple[Record, Row]]:
    """Each record with the cells to write: its texts, or an Excel table's typed values.

    A workbook's text cell written to CSV keeps its meaning: one that a spreadsheet would run as a
    formula (``=HYPERLINK(...)``, ``@SUM(...)``) gets a ``'``, while a number (``-5``) stays a number."""
    if not isinstance(table, ExcelTable):
        for record in table.rows():
            yield record, list(record.cells)
        return
    for record, values in table.native_records():
        if as_text:
            texts = record.cells
            yield (
                record,
                [csv_text(t) if isinstance(v, str) else t for t, v in zip(texts, values, strict=True)],
            )
        else:
            yield record, [None if v == "" else v for v in values]


def _values(path: Path, name: str) -> Iterator[Row]:
    for _, values in sheet_values(path, name):
        yield [None if v == "" else v for v in values]
