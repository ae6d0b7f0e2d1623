"""Cell XML text: references, escaping, inline strings, numbers, booleans and serial dates."""

from __future__ import annotations

import datetime
import functools
import math
import re
from typing import TYPE_CHECKING

from batchverify.core.timeutil import parse_iso_utc
from batchverify.files.xlsx.styles import TEXT_FORMAT

if TYPE_CHECKING:
    from batchverify.files.xlsx.model import ResultColumn
    from batchverify.files.xlsx.styles import Styles


__all__ = [
    "DIGITS_RE",
    "EXCEL_CELL_MAX",
    "clean_text",
    "col_index",
    "col_letters",
    "escape_attr",
    "escape_text",
    "offset_label",
    "parse_iso_utc",
    "serial",
    "split_ref",
]

EXCEL_CELL_MAX = 32767
DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
# What XML 1.0 cannot carry at all; Excel would refuse the file rather than drop them.
_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_REF_RE = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]+)")
_EPOCH_1900 = datetime.datetime(1899, 12, 30)
_EPOCH_1904 = datetime.datetime(1904, 1, 1)


@functools.lru_cache(maxsize=20000)
def col_letters(index: int) -> str:
    """0-based column index -> "A", "B", ..., "AA"."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@functools.lru_cache(maxsize=20000)
def col_index(letters: str) -> int:
    """ "A" -> 0 (case-insensitive)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def split_ref(ref: str) -> tuple[int, int]:
    """ "$B$12" -> (1, 12): 0-based column, 1-based row."""
    m = _REF_RE.fullmatch(ref.strip())
    if m is None:
        raise ValueError(f"not a cell reference: {ref!r}")
    return col_index(m.group(1)), int(m.group(2))


def clean_text(value: str) -> str:
    return _ILLEGAL_RE.sub("", value)[:EXCEL_CELL_MAX]


def escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attr(value: str) -> str:
    return escape_text(value).replace('"', "&quot;")


def serial(moment: datetime.datetime, date1904: bool = False) -> float:
    """A naive date-time as Excel's serial day number (1900 system valid from 1900-03-01)."""
    days = (moment - (_EPOCH_1904 if date1904 else _EPOCH_1900)) / datetime.timedelta(days=1)
    return round(days * 86400) / 86400 if math.isfinite(days) else days


def offset_label(offset: datetime.timedelta | None) -> str:
    """The zone as a number format shows it: "UTC+08:00"."""
    minutes = int((offset or datetime.timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def number_text(value: float | int) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return str(value)


def inline_cell(prefix: str, ref: str, text: str, style: int | None) -> str:
    """An inline-string cell; never a formula, whatever the text starts with."""
    s = f' s="{style}"' if style else ""
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return (
        f'<{prefix}c r="{ref}"{s} t="inlineStr"><{prefix}is><{prefix}t{space}>'
        f"{escape_text(text)}</{prefix}t></{prefix}is></{prefix}c>"
    )


def number_cell(prefix: str, ref: str, value: float | int, style: int | None) -> str:
    s = f' s="{style}"' if style else ""
    return f'<{prefix}c r="{ref}"{s}><{prefix}v>{number_text(value)}</{prefix}v></{prefix}c>'


def bool_cell(prefix: str, ref: str, value: bool, style: int | None) -> str:
    s = f' s="{style}"' if style else ""
    return f'<{prefix}c r="{ref}"{s} t="b"><{prefix}v>{int(value)}</{prefix}v></{prefix}c>'


class ResultCells:
    """Result values as cell XML, per column look (kind and alignment), styles taken from `styles`."""

    def __init__(self, prefix: str, styles: Styles, tz: datetime.tzinfo, date1904: bool) -> None:
        self.prefix = prefix
        self.styles = styles
        self.tz = tz
        self.date1904 = date1904
        self._tails: dict[tuple[int, type, object], bytes | None] = {}

    def tail(self, value: object, look: ResultColumn) -> bytes | None:
        """The cell's XML after `<c r="`+ref (so repeated values are built once), or None for no cell."""
        key = (id(look), value.__class__, value)  # id: the looks live as long as the writer
        try:
            return self._tails[key]
        except KeyError:
            pass
        except TypeError:  # unhashable: not a CellValue, written as its text
            return None if value is None else self.tail(str(value), look)
        xml = self.cell("\x00", value, look)
        found = None if xml is None else xml.split('\x00"', 1)[1].encode()
        if len(self._tails) > 4096:  # request ids never repeat: keep the cache small, not useless
            self._tails.clear()
        self._tails[key] = found
        return found

    def cell(self, ref: str, value: object, look: ResultColumn) -> str | None:
        """The XML of one new cell, or None for no cell (None, "", unparseable dates)."""
        p, styles, centered = self.prefix, self.styles, look.centered
        if value is None:
            return None
        if isinstance(value, bool):
            return bool_cell(p, ref, value, styles.xf(styles.bool_format(), 0, centered))
        if isinstance(value, int | float) and not (isinstance(value, float) and not math.isfinite(value)):
            return number_cell(p, ref, value, styles.look_xf(0, centered))
        text = clean_text(str(value))
        if not text:
            return None
        if look.kind == "datetime":
            try:
                moment = parse_iso_utc(text).astimezone(self.tz)
            except ValueError:
                return inline_cell(p, ref, text, styles.xf(TEXT_FORMAT, 0, centered))
            code = f'yyyy-mm-dd hh:mm:ss "{offset_label(moment.utcoffset())}"'
            style = styles.xf(styles.num_fmt(code), 0, centered)
            return number_cell(p, ref, serial(moment.replace(tzinfo=None), self.date1904), style)
        return inline_cell(p, ref, text, styles.xf(TEXT_FORMAT, 0, centered))
