"""Worksheet parts written from scratch, row by row: new workbooks and the summary sheet."""

from __future__ import annotations

import datetime
import itertools
import math
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from batchverify.files.xlsx.cells import (
    DIGITS_RE,
    ResultCells,
    bool_cell,
    clean_text,
    col_letters,
    escape_attr,
    inline_cell,
    number_cell,
    serial,
)
from batchverify.files.xlsx.model import Presentation, ResultColumn
from batchverify.files.xlsx.package import MAIN_NS
from batchverify.files.xlsx.styles import Styles

__all__ = ["PAGE_SETUP", "PRINT_TITLES", "SheetSpec", "write_worksheet"]

_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SAMPLE_ROWS = 1000
_FLUSH = 1 << 20


@dataclass
class SheetSpec:
    rows: Iterable[Sequence[object]]
    header_row: int = 1  # 0: none
    bold_rows: frozenset[int] = frozenset()
    widths: dict[int, float] | None = None  # None: estimated from the first rows
    result_columns: dict[int, ResultColumn] | None = None
    presentation: Presentation | None = None
    date1904: bool = False
    tab_selected: bool = False


def text_width(text: str) -> int:
    """Characters a column needs for `text`; East Asian wide characters count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _display(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime):
        return "0000-00-00 00:00:00"
    return "" if value is None else str(value)


class _Cells:
    def __init__(self, styles: Styles, spec: SheetSpec) -> None:
        self.styles = styles
        self.spec = spec
        self.results = spec.result_columns or {}
        tz = spec.presentation.tz if spec.presentation else datetime.UTC
        self.result_cells = ResultCells("", styles, tz, spec.date1904)

    def cell(self, col: int, row: int, value: object, bold: bool) -> str | None:
        ref = f"{col_letters(col)}{row}"
        look = self.results.get(col)
        if look is not None and not bold:
            return self.result_cells.cell(ref, value, look)
        styles = self.styles
        bold_xf = styles.bold_xf() if bold else None
        if bold and row == self.spec.header_row and self.spec.result_columns is not None:
            bold_xf = styles.header_xf()  # a result sheet's header (the problems file's too)
        if value is None:
            return None
        if isinstance(value, bool):
            return bool_cell("", ref, value, bold_xf)
        if isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                return inline_cell("", ref, str(value), bold_xf)
            return number_cell("", ref, value, bold_xf)
        if isinstance(value, datetime.datetime):
            moment = value.replace(tzinfo=None)
            return number_cell(
                "", ref, serial(moment, self.spec.date1904), styles.format_xf("yyyy-mm-dd hh:mm:ss")
            )
        if isinstance(value, datetime.date):
            day = datetime.datetime.combine(value, datetime.time())
            return number_cell("", ref, serial(day, self.spec.date1904), styles.format_xf("yyyy-mm-dd"))
        if isinstance(value, datetime.time):
            seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
            return number_cell("", ref, seconds / 86400, styles.format_xf("hh:mm:ss"))
        if isinstance(value, datetime.timedelta):
            return number_cell("", ref, value / datetime.timedelta(days=1), styles.format_xf("[h]:mm:ss"))
        text = clean_text(str(value))
        if not text:
            return None
        if bold_xf is None and DIGITS_RE.fullmatch(text):
            return inline_cell("", ref, text, styles.text_xf())
        return inline_cell("", ref, text, bold_xf)


@dataclass
class SheetInfo:
    last_row: int
    last_col: int
    autofilter: str | None


def write_worksheet(write: Callable[[bytes], object], spec: SheetSpec, styles: Styles) -> SheetInfo:
    """Stream one worksheet part; only the first rows are held, to size the columns."""
    rows = iter(spec.rows)
    sample = list(itertools.islice(rows, _SAMPLE_ROWS))
    widths = dict(spec.widths) if spec.widths is not None else _estimate(sample)
    for col, look in (spec.result_columns or {}).items():
        widths[col] = look.width
    cells = _Cells(styles, spec)
    selected = ' tabSelected="1"' if spec.tab_selected else ""
    printed = spec.result_columns is not None and spec.header_row > 0  # a result sheet: printed to fit
    head = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
        f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{_REL}">',
        '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>' if printed else "",
        f'<sheetViews><sheetView workbookViewId="0"{selected}>',
    ]
    h = spec.header_row
    if h:
        head.append(f'<pane ySplit="{h}" topLeftCell="A{h + 1}" activePane="bottomLeft" state="frozen"/>')
    head.append('</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>')
    if widths:
        head.append("<cols>")
        head.extend(
            f'<col min="{c + 1}" max="{c + 1}" width="{min(max(w, 0.5), 255):g}" customWidth="1"/>'
            for c, w in sorted(widths.items())
        )
        head.append("</cols>")
    head.append("<sheetData>")
    out = ["".join(head)]
    size = 0
    last_row = 0
    last_col = -1
    bold_rows = spec.bold_rows | ({h} if h else frozenset())
    for number, values in enumerate(itertools.chain(sample, rows), start=1):
        bold = number in bold_rows
        parts = []
        for col, value in enumerate(values):
            xml = cells.cell(col, number, value, bold)
            if xml is not None:
                parts.append(xml)
                last_col = max(last_col, col)
        if parts:
            line = f'<row r="{number}">{"".join(parts)}</row>'
            out.append(line)
            size += len(line)
            last_row = number
        if size > _FLUSH:
            write("".join(out).encode())
            out.clear()
            size = 0
    out.append("</sheetData>")
    autofilter = None
    pres = spec.presentation
    if h and last_col >= 0 and (pres is None or pres.autofilter) and spec.result_columns is not None:
        autofilter = f"A{h}:{col_letters(last_col)}{max(last_row, h)}"
    out.append(_tail(spec, styles, last_row, autofilter))
    out.append("</worksheet>")
    write("".join(out).encode())
    return SheetInfo(last_row, last_col, autofilter)


def _tail(spec: SheetSpec, styles: Styles, last_row: int, autofilter: str | None) -> str:
    parts = []
    h = spec.header_row
    pres = spec.presentation
    if autofilter:
        parts.append(f'<autoFilter ref="{autofilter}"/>')
    colours = pres.colours if pres else None
    first = h + 1
    if colours is not None and colours.columns and colours.rules and last_row >= first:
        sqref = " ".join(
            f"{col_letters(c)}{first}:{col_letters(c)}{last_row}" for c in sorted(set(colours.columns))
        )
        status = f"${col_letters(colours.status_column)}{first}"
        rules = []
        for priority, (values, fill, font) in enumerate(colours.rules, start=1):
            tests = [f'{status}="{v.replace(chr(34), chr(34) * 2)}"' for v in values]
            formula = tests[0] if len(tests) == 1 else f"OR({','.join(tests)})"
            rules.append(
                f'<cfRule type="expression" dxfId="{styles.dxf(fill, font)}" priority="{priority}">'
                f"<formula>{escape_attr(formula)}</formula></cfRule>"
            )
        parts.append(f'<conditionalFormatting sqref="{sqref}">{"".join(rules)}</conditionalFormatting>')
    parts.append('<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>')
    if spec.result_columns is not None and h:
        parts.append(PAGE_SETUP)
    return "".join(parts)


# Landscape, every column on one page's width, as many pages down as the rows need (the header
# row repeats on each: the workbook's Print_Titles): a list prints as a list, not as strips.
PAGE_SETUP = '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
PRINT_TITLES = "_xlnm.Print_Titles"


def _estimate(sample: list[Sequence[object]]) -> dict[int, float]:
    widths: dict[int, float] = {}
    for values in sample:
        for col, value in enumerate(values):
            n = text_width(_display(value))
            if n:
                widths[col] = max(widths.get(col, 0), n)
    return {col: float(min(60, max(6, n + 2))) for col, n in widths.items()}
