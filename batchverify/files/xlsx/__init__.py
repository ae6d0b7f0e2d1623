"""Streaming XLSX output: the annotated worksheet is rewritten as a stream inside the zip, every other
part copied byte for byte (images, charts, shapes, comments, data validation stay), and new workbooks
are written row by row.

``rewrite_workbook`` edits one sheet of an existing workbook; ``write_new_workbook`` writes a new one.
Both refuse what they cannot follow with ``StreamUnsupported`` (the caller falls back to openpyxl).
The two writers load on first use: they import lxml, which a CSV run (and ``--help``) never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batchverify.files.xlsx.model import (
    ColumnKind,
    ExtraSheet,
    NewSheet,
    Presentation,
    ResultColumn,
    StatusColours,
    StreamUnsupported,
)

if TYPE_CHECKING:
    from batchverify.files.xlsx.fresh import write_new_workbook
    from batchverify.files.xlsx.rewrite import rewrite_workbook

__all__ = [
    "ColumnKind",
    "ExtraSheet",
    "NewSheet",
    "Presentation",
    "ResultColumn",
    "StatusColours",
    "StreamUnsupported",
    "rewrite_workbook",
    "write_new_workbook",
]


def __getattr__(name: str) -> Any:
    if name == "rewrite_workbook":
        from batchverify.files.xlsx.rewrite import rewrite_workbook

        return rewrite_workbook
    if name == "write_new_workbook":
        from batchverify.files.xlsx.fresh import write_new_workbook

        return write_new_workbook
    raise AttributeError(name)
