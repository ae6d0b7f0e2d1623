"""The public types of the streaming XLSX writer: how result columns look, and the refusal."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ColumnKind",
    "ExtraSheet",
    "NewSheet",
    "Presentation",
    "ResultColumn",
    "StatusColours",
    "StreamUnsupported",
]

ColumnKind = Literal["text", "number", "bool", "datetime"]


@dataclass(frozen=True)
class ResultColumn:
    """How one result column looks: `kind` says how its CellValues are written.

    text: str -> inline string with the text number format "@" (numFmtId 49), so "13800138000" stays
    text; control characters XML 1.0 forbids are stripped; at most 32,767 characters; a value starting
    with "=" is still plain text (inline strings are never formulas).
    number: int -> <v>; None -> no cell.
    bool: True/False -> t="b" cell with the format "TRUE";"TRUE";"FALSE" (Excel shows a boolean as
    TRUE/FALSE anyway; LibreOffice needs the format, or it shows 1 and 0).
    datetime: an ISO 8601 UTC text like "2026-11-26T23:01:59Z" ("" or None -> no cell) -> a real
    date-time cell (serial number, 1900 or 1904 date system as the workbook says) converted to
    `Presentation.tz`, with a number format that names the zone: 'yyyy-mm-dd hh:mm:ss "UTC+08:00"'.
    """

    width: float
    kind: ColumnKind = "text"
    # Centred: short codes side by side (a right-aligned 99 beside a left-aligned -2 reads "99-2").
    centered: bool = False


@dataclass(frozen=True)
class StatusColours:
    """Conditional formatting that colours result cells by the row's status (sorting and filtering keep
    working because the colour follows the value)."""

    status_column: int
    columns: tuple[int, ...]
    rules: tuple[tuple[tuple[str, ...], str, str], ...]  # (status values, fill ARGB, font ARGB)


@dataclass(frozen=True)
class ExtraSheet:
    """A small sheet added to the workbook (the run's summary). Replaces a worksheet of the same name
    if the workbook has one (a previous output fed back in); else added as the last sheet, not active."""

    name: str
    rows: list[list[str | int | float | bool | None]]
    widths: tuple[float, ...] = ()
    bold_rows: tuple[int, ...] = (1,)
    replaces: tuple[str, ...] = ()  # other names it had (another language): such a sheet is replaced


@dataclass(frozen=True)
class Presentation:
    columns: tuple[ResultColumn, ...]
    colours: StatusColours | None = None
    autofilter: bool = True
    tz: datetime.tzinfo = datetime.UTC
    extra_sheet: Callable[[], ExtraSheet] | None = None


@dataclass
class NewSheet:
    """One sheet of a new workbook; rows are streamed, never held."""

    name: str
    rows: Iterable[Sequence[object]]
    header_row: int = 1
    result_columns: dict[int, ResultColumn] = field(default_factory=dict)
    presentation: Presentation | None = None


class StreamUnsupported(Exception):
    """This workbook cannot be streamed (the caller falls back to openpyxl). One-line reason."""
