"""Write the input table back with result columns appended, atomically, in the input's format.

* CSV streams: the same delimiter, quote character, line ending and encoding (BOM kept), every
  original cell exactly as read. Memory stays flat whatever the file size.
* XLSX/XLSM: openpyxl loads the whole workbook and edits the chosen sheet in place, so other
  sheets, styles and every original cell stay as they were. This is the memory-hungry path
  (openpyxl keeps every cell as a Python object).
* XLS (which nothing in Python writes) becomes XLSX: every worksheet's values are copied through
  calamine, and only the chosen sheet gets the result columns. Styles are not carried over.

The output goes to a temporary file beside ``out`` and is moved onto it with ``os.replace`` only
when complete: a failed or interrupted write leaves an existing ``out`` untouched.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from batchverify.errors import OutputError
from batchverify.files.tables import Record, Table

__all__ = ["Annotate", "CellValue", "Layout", "annotated", "atomic_path", "place", "write_table"]

CellValue = str | int | bool | None
Annotate = Callable[[list[str]], list[list[CellValue]]]
_P = TypeVar("_P")

# OWASP CSV injection: a cell starting with one of these may be run as a formula by a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ...unless it is plainly numeric ("-2", "+86 138 0013 8000"): without letters, "|" or "!" nothing
# can call a function or DDE, and a quote would only mangle a value a machine reads back.
_NUMERIC_RE = re.compile(r"[0-9 +\-().]+", re.ASCII)


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
    _check_target(table, out)
    layout = Layout.build(table.header, table.max_width(), columns)
    kind = table.format.kind
    if kind == "csv":
        return _write_csv(table, out, layout, phone_col, annotate, output_encoding, batch_size)
    # Imported here: openpyxl takes a while to import and CSV runs never need it.
    from batchverify.files import excelwriter

    if kind == "xls":
        return excelwriter.write_xls_as_xlsx(table, out, layout, phone_col, annotate, batch_size)
    return excelwriter.write_xlsx(table, out, layout, phone_col, annotate, batch_size)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each result column goes (0-based), and the header names."""

    names: list[str]
    positions: list[int]

    @classmethod
    def build(cls, header: list[str], width: int, names: list[str]) -> Layout:
        positions: list[int] = []
        next_free = max(width, len(header))
        for name in names:
            if name in header:
                positions.append(header.index(name))
            else:
                positions.append(next_free)
                next_free += 1
        return cls(list(names), positions)

    @property
    def width(self) -> int:
        return max(self.positions, default=-1) + 1


def _check_target(table: Table, out: Path) -> None:
    with contextlib.suppress(OSError):
        if out.exists() and out.samefile(table.path):
            raise OutputError(f"the output {out} is the input itself; choose another output file")
    if out.is_dir():
        raise OutputError(f"the output {out} is a directory")
    if not out.parent.is_dir():
        raise OutputError(f"the output folder {out.parent} does not exist")


def annotated(
    items: Iterable[tuple[Record, _P]],
    phone_col: int,
    n_columns: int,
    annotate: Annotate,
    batch_size: int,
) -> Iterator[tuple[Record, _P, list[CellValue] | None]]:
    """Pair each data record with its result values (None for a blank record), in batches."""
    batch: list[tuple[Record, _P]] = []

    def flush() -> Iterator[tuple[Record, _P, list[CellValue] | None]]:
        phones = [rec.cells[phone_col] if phone_col < len(rec.cells) else "" for rec, _ in batch]
        results = annotate(phones)
        if len(results) != len(batch):
            raise ValueError(f"annotate returned {len(results)} rows for {len(batch)} records")
        for (rec, payload), values in zip(batch, results, strict=True):
            if len(values) != n_columns:
                raise ValueError(f"annotate returned {len(values)} values for {n_columns} columns")
            blank = not any(rec.cells)
            yield rec, payload, None if blank else values
        batch.clear()

    for item in items:
        batch.append(item)
        if len(batch) >= max(1, batch_size):
            yield from flush()
    if batch:
        yield from flush()


def place(cells: list[Any], layout: Layout, values: list[Any], fill: Any) -> list[Any]:
    """``cells`` extended with ``fill`` as far as needed and ``values`` put at their positions."""
    row = list(cells)
    if len(row) < layout.width:
        row.extend([fill] * (layout.width - len(row)))
    for position, value in zip(layout.positions, values, strict=True):
        row[position] = value
    return row


@contextlib.contextmanager
def atomic_path(out: Path) -> Iterator[Path]:
    """A fresh temporary path beside ``out``; moved onto ``out`` only if the block succeeds."""
    # Hidden, unique, and with the same suffix (openpyxl and people look at suffixes).
    tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.tmp{out.suffix}")
    try:
        yield tmp
        with contextlib.suppress(OSError):
            # Keep the permissions of the file being replaced (temp files start private).
            tmp.chmod(out.stat().st_mode & 0o7777)
        tmp.replace(out)
    except OSError as exc:
        _unlink(tmp)
        raise OutputError(f"cannot write {out} ({exc.strerror or exc})") from None
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


# --------------------------------------------------------------------------------------------------
# CSV


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


def _write_csv(
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
