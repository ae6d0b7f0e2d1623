"""The worksheet part around <sheetData>: found by a first pass over the stream, parsed as one small
document (head + a placeholder + tail) with lxml, which keeps namespace prefixes, and edited there.

When a header row is inserted above row 1 (``header_row=0``) the refs of dimension, mergeCells,
autoFilter, conditionalFormatting, dataValidations and hyperlinks move down one row. Not moved:
formulas (in cells, defined names, conditional formats, data validations), drawing anchors, tables,
print areas and the selection in sheetViews.
"""

from __future__ import annotations

import copy
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from batchverify.files.xlsx.cells import col_index, col_letters
from batchverify.files.xlsx.model import StatusColours, StreamUnsupported
from batchverify.files.xlsx.package import (
    MAIN_NS,
    STRICT_NS,
    find_child,
    insert_ordered,
    local,
    parse_xml,
    serialize,
)
from batchverify.files.xlsx.styles import Styles

__all__ = ["SheetDoc", "SheetSplit", "body_blocks", "fmt_range", "parse_range", "scan_sheet"]

SHEET_ORDER = (
    "sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr",
    "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState", "dataConsolidate",
    "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting", "dataValidations",
    "hyperlinks", "printOptions", "pageMargins", "pageSetup", "headerFooter", "rowBreaks", "colBreaks",
    "customProperties", "cellWatches", "ignoredErrors", "smartTags", "drawing", "legacyDrawing",
    "legacyDrawingHF", "picture", "oleObjects", "controls", "webPublishItems", "tableParts", "extLst",
)  # fmt: skip
_BLOCK = 1 << 20
_HEAD_RE = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?sheetData\b[^>]*?(/?)>")
_RANGE_RE = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]+)(?::\$?([A-Za-z]{1,3})\$?([0-9]+))?")
_REF_ROW_RE = re.compile(r"(\$?[A-Za-z]{1,3}\$?)([0-9]+)")
_MAX_HEAD = 256 << 20


@dataclass
class SheetSplit:
    prefix: str  # "x:" when the main namespace has a prefix, else ""
    head: bytes
    tail: bytes
    body_start: int
    body_end: int


def scan_sheet(archive: zipfile.ZipFile, part: str) -> SheetSplit:
    """First pass: where <sheetData>'s body starts and ends; refuses what the stream cannot follow."""
    with archive.open(part) as stream:
        buf = b""
        while True:
            block = stream.read(_BLOCK)
            buf += block
            m = _HEAD_RE.search(buf)
            if m or not block or len(buf) > _MAX_HEAD:
                break
        if m is None:
            raise StreamUnsupported(f"{part} has no <sheetData>")
        if buf[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise StreamUnsupported(f"{part} is not UTF-8")
        head = buf[: m.start()]
        if b"<!DOCTYPE" in head or b"<![CDATA[" in head:
            raise StreamUnsupported(f"{part} has a DOCTYPE or CDATA")
        prefix = (m.group(1) + b":").decode() if m.group(1) else ""
        body_start = m.end()
        if m.group(2):
            tail = buf[body_start:] + stream.read()
            return _checked(SheetSplit(prefix, head, tail, body_start, body_start), part)
        end_re = re.compile(rb"</" + re.escape(prefix.encode()) + rb"sheetData\s*>")
        offset = body_start  # absolute offset of buf[0] below
        buf = buf[body_start:]
        keep = 32
        while True:
            if b"<![CDATA[" in buf:
                raise StreamUnsupported(f"{part} has CDATA")
            e = end_re.search(buf)
            if e is not None:
                tail = buf[e.end() :] + stream.read()
                split = SheetSplit(prefix, head, tail, body_start, offset + e.start())
                return _checked(split, part)
            block = stream.read(_BLOCK)
            if not block:
                raise StreamUnsupported(f"{part}: </sheetData> not found")
            offset += max(0, len(buf) - keep)
            buf = buf[-keep:] + block


def _checked(split: SheetSplit, part: str) -> SheetSplit:
    if b"<![CDATA[" in split.tail or b"<!DOCTYPE" in split.tail:
        raise StreamUnsupported(f"{part} has a DOCTYPE or CDATA")
    return split


def body_blocks(archive: zipfile.ZipFile, part: str, split: SheetSplit) -> Iterator[bytes]:
    """The bytes between <sheetData> and </sheetData>, in blocks of about 1 MiB."""
    with archive.open(part) as stream:
        skip = split.body_start
        while skip:
            got = len(stream.read(min(skip, _BLOCK)))
            if not got:
                return
            skip -= got
        left = split.body_end - split.body_start
        while left > 0:
            block = stream.read(min(left, _BLOCK))
            if not block:
                break
            left -= len(block)
            yield block


def parse_range(text: str) -> tuple[int, int, int, int] | None:
    """ "B2:D9" -> (1, 2, 3, 9): 0-based columns, 1-based rows; None for anything else."""
    m = _RANGE_RE.fullmatch(text.strip())
    if m is None:
        return None
    c1, r1 = col_index(m.group(1)), int(m.group(2))
    if m.group(3) is None:
        return c1, r1, c1, r1
    return c1, r1, col_index(m.group(3)), int(m.group(4))


def fmt_range(c1: int, r1: int, c2: int, r2: int) -> str:
    return f"{col_letters(c1)}{r1}:{col_letters(c2)}{r2}"


def _shift_rows(text: str) -> str:
    return _REF_ROW_RE.sub(lambda m: m.group(1) + str(int(m.group(2)) + 1), text)


class SheetDoc:
    """Head and tail of the worksheet as one lxml document, with the edits the results need."""

    def __init__(self, split: SheetSplit) -> None:
        self.prefix = split.prefix
        self._placeholder = f"<{split.prefix}sheetData/>".encode()
        self.root = parse_xml(split.head + self._placeholder + split.tail)
        ns = etree.QName(self.root).namespace
        if ns == STRICT_NS:
            raise StreamUnsupported("strict OOXML worksheets are not streamed")
        if ns != MAIN_NS or find_child(self.root, "sheetData") is None:
            raise StreamUnsupported("the worksheet is not in the spreadsheetml namespace")

    def _q(self, name: str) -> str:
        return f"{{{MAIN_NS}}}{name}"

    def render(self) -> tuple[bytes, bytes]:
        """(everything up to and with <sheetData>, everything from </sheetData> on)."""
        data = serialize(self.root)
        at = data.index(self._placeholder)
        tag = self.prefix.encode() + b"sheetData"
        return data[:at] + b"<" + tag + b">", b"</" + tag + b">" + data[at + len(self._placeholder) :]

    def child(self, name: str) -> Any:
        return find_child(self.root, name)

    def shift_rows(self) -> None:
        for name, attr in (
            ("dimension", "ref"),
            ("autoFilter", "ref"),
            ("mergeCell", "ref"),
            ("conditionalFormatting", "sqref"),
            ("dataValidation", "sqref"),
            ("hyperlink", "ref"),
        ):
            for el in self.root.iter(self._q(name)):
                if el.get(attr) and (name != "autoFilter" or el.getparent() is self.root):
                    el.set(attr, _shift_rows(el.get(attr)))

    def widen_dimension(self, first_col: int, last_col: int, first_row: int, last_row: int) -> None:
        el = self.child("dimension")
        box = parse_range(el.get("ref", "")) if el is not None else None
        if box is not None:
            c1, r1, c2, r2 = box
            el.set(
                "ref", fmt_range(min(c1, first_col), min(r1, first_row), max(c2, last_col), max(r2, last_row))
            )

    def add_cols(self, widths: dict[int, float]) -> None:
        """A <col> per new column; existing ranges over those columns are split so none overlap."""
        if not widths:
            return
        cols = self.child("cols")
        if cols is None:
            cols = insert_ordered(self.root, "cols", SHEET_ORDER)
        new = {c + 1 for c in widths}
        kept: list[Any] = []
        for el in list(cols):
            if local(el.tag) != "col":
                continue
            lo, hi = int(el.get("min", "0")), int(el.get("max", "0"))
            cols.remove(el)
            run_start = None
            for n in range(lo, hi + 2):
                if n <= hi and n not in new:
                    run_start = n if run_start is None else run_start
                elif run_start is not None:
                    piece = copy.deepcopy(el) if (run_start, n - 1) != (lo, hi) else el
                    piece.set("min", str(run_start))
                    piece.set("max", str(n - 1))
                    kept.append(piece)
                    run_start = None
        for col, width in widths.items():
            el = etree.SubElement(cols, self._q("col"))
            el.attrib.update(
                {"min": str(col + 1), "max": str(col + 1), "width": f"{width:g}", "customWidth": "1"}
            )
            cols.remove(el)
            kept.append(el)
        kept.sort(key=lambda e: int(e.get("min", "0")))
        for el in kept:
            cols.append(el)

    def autofilter(self, header_row: int, last_col: int, last_row: int, add: bool) -> str | None:
        """Widen the sheet's filter on the header row, or add one; returns the new ref (None: untouched)."""
        el = self.child("autoFilter")
        if el is not None:
            box = parse_range(el.get("ref", ""))
            if box is None or box[1] != header_row:
                return None
            ref = fmt_range(box[0], box[1], max(box[2], last_col), max(box[3], last_row))
        elif add:
            el = insert_ordered(self.root, "autoFilter", SHEET_ORDER)
            ref = fmt_range(0, header_row, last_col, max(last_row, header_row))
        else:
            return None
        el.set("ref", ref)
        return ref

    def drop_merges(self, columns: set[int], first_row: int, last_row: int) -> None:
        merges = self.child("mergeCells")
        if merges is None:
            return
        for el in list(merges):
            box = parse_range(el.get("ref", ""))
            if box is None:
                continue
            c1, r1, c2, r2 = box
            if r2 >= first_row and r1 <= last_row and any(c1 <= c <= c2 for c in columns):
                merges.remove(el)
        left = sum(1 for el in merges if local(el.tag) == "mergeCell")
        if left:
            merges.set("count", str(left))
        else:
            self.root.remove(merges)

    def colour(
        self, result_cols: set[int], colours: StatusColours | None, first: int, last: int, styles: Styles
    ) -> None:
        """Drop our earlier colouring (blocks only over result columns); add the status rules."""
        for el in list(self.root):
            if local(el.tag) != "conditionalFormatting":
                continue
            boxes = [parse_range(r) for r in el.get("sqref", "").split()]
            if boxes and all(b is not None and set(range(b[0], b[2] + 1)) <= result_cols for b in boxes):
                self.root.remove(el)
        if colours is None or not colours.columns or not colours.rules or last < first:
            return
        priority = max(
            (int(el.get("priority", "0")) for el in self.root.iter() if local(el.tag) == "cfRule"), default=0
        )
        block = insert_ordered(self.root, "conditionalFormatting", SHEET_ORDER)
        block.set("sqref", " ".join(fmt_range(c, first, c, last) for c in sorted(set(colours.columns))))
        status = f"${col_letters(colours.status_column)}{first}"
        for values, fill, font in colours.rules:
            tests = [f'{status}="{v.replace(chr(34), chr(34) * 2)}"' for v in values]
            priority += 1
            rule = etree.SubElement(block, self._q("cfRule"))
            rule.attrib.update(
                {"type": "expression", "dxfId": str(styles.dxf(fill, font)), "priority": str(priority)}
            )
            formula = etree.SubElement(rule, self._q("formula"))
            formula.text = tests[0] if len(tests) == 1 else f"OR({','.join(tests)})"

    def print_layout(self) -> None:
        """Print the sheet landscape, one page wide, as many down as it needs (a page setup the
        sheet has keeps its paper and margins; its orientation and fit are set)."""
        pr = self.child("sheetPr")
        if pr is None:
            pr = insert_ordered(self.root, "sheetPr", SHEET_ORDER)
        fit = find_child(pr, "pageSetUpPr")
        if fit is None:
            fit = insert_ordered(pr, "pageSetUpPr", ("tabColor", "outlinePr", "pageSetUpPr"))
        fit.set("fitToPage", "1")
        setup = self.child("pageSetup")
        if setup is None:
            setup = insert_ordered(self.root, "pageSetup", SHEET_ORDER)
        setup.attrib.update({"orientation": "landscape", "fitToWidth": "1", "fitToHeight": "0"})
        if setup.get("paperSize") is None:
            setup.set("paperSize", "9")  # A4, unless the sheet names its paper
