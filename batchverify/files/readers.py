"""Open an input table by extension, after checking that the content agrees with it.

``open_table`` returns a ``Table`` (see ``batchverify.files.tables``): CSV/TSV/TXT through the stdlib
``csv`` module (``batchverify.files.csvtable``), XLSX/XLSM/XLS through python-calamine
(``batchverify.files.exceltable``). Every failure caused by the file itself is an ``InputError`` with one
line naming the file; no parser traceback escapes.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Literal

from batchverify.errors import InputError
from batchverify.files.csvtable import CsvTable
from batchverify.files.exceltable import ExcelTable
from batchverify.files.tables import Record, Table, TableFormat, TableKind

__all__ = ["Record", "Table", "TableFormat", "open_table"]

_HEAD_BYTES = 1 << 20
_TEXT_EXTENSIONS = frozenset({".csv", ".tsv", ".txt", ".tab"})
_EXCEL_EXTENSIONS: dict[str, TableKind] = {".xlsx": "xlsx", ".xlsm": "xlsm", ".xls": "xls"}
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and also a password-protected .xlsx


def open_table(path: Path, *, sheet: str | None = None, encoding: str | None = None) -> Table:
    """Open ``path`` as a table.

    ``sheet`` picks an Excel worksheet by name (default: the first worksheet; ignored for text);
    ``encoding`` overrides text-encoding detection (ignored for Excel). Raises ``InputError`` for a
    missing, unreadable, empty, binary or corrupt file, and for content that does not match the
    extension (an .xlsx holding CSV text, a .csv holding a workbook). A file with another extension
    is read by its content.
    """
    path = Path(path)
    head = _read_head(path)
    content = _content_kind(head)
    suffix = path.suffix.lower()
    if suffix in _EXCEL_EXTENSIONS:
        kind = _EXCEL_EXTENSIONS[suffix]
        if content == "text":
            raise InputError(
                "{file} has an Excel extension but contains text; if it is CSV, rename it to .csv",
                code="excel_name_text_content",
                file=str(path),
            )
        if content == "ole" and kind != "xls":
            raise InputError(
                "{file} is an old-format .xls or a password-protected workbook; "
                "open it in Excel and save it as an unprotected .xlsx",
                code="protected_workbook",
                file=str(path),
            )
        if content == "zip" and kind == "xls":
            kind = "xlsx"  # an .xlsx saved under an .xls name; calamine reads it either way
        return ExcelTable.open(path, kind, sheet)
    if suffix in _TEXT_EXTENSIONS:
        if content == "zip":
            raise InputError(
                "{file} is an Excel workbook (zip), not CSV text; rename it to .xlsx",
                code="xlsx_named_csv",
                file=str(path),
            )
        if content == "ole":
            raise InputError(
                "{file} is an old Excel .xls workbook, not CSV text; rename it to .xls",
                code="xls_named_csv",
                file=str(path),
            )
        return CsvTable.open(path, head, encoding)
    if content == "zip":
        return ExcelTable.open(path, "xlsx", sheet)
    if content == "ole":
        return ExcelTable.open(path, "xls", sheet)
    return CsvTable.open(path, head, encoding)


def _read_head(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{path} is a directory, not a table file")
    if not stat.S_ISREG(mode):
        # A FIFO or a device would block or never end; only a regular file is a table.
        raise InputError(f"{path} is not a regular file (a pipe, socket or device); save the table to a file")
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a table file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not head:
        raise InputError("{file} is empty", code="empty_file", file=str(path))
    return head


def _content_kind(head: bytes) -> Literal["zip", "ole", "text"]:
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_OLE_MAGIC):
        return "ole"
    return "text"
