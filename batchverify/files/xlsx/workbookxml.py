"""xl/workbook.xml, its relationships and [Content_Types].xml: the filter's defined name and added
sheets."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from lxml import etree

from batchverify.files.xlsx.cells import col_index, col_letters
from batchverify.files.xlsx.package import (
    MAIN_NS,
    REL_NS,
    Package,
    add_override,
    add_relationship,
    find_child,
    insert_ordered,
    local,
    parse_xml,
    rels_name,
    serialize,
)
from batchverify.files.xlsx.sheetxml import parse_range

__all__ = ["WorkbookEdits"]

WORKBOOK_ORDER = (
    "fileVersion", "fileSharing", "workbookPr", "workbookProtection", "bookViews", "sheets",
    "functionGroups", "externalReferences", "definedNames", "calcPr", "oleSize", "customWorkbookViews",
    "pivotCaches", "smartTagPr", "smartTagTypes", "webPublishing", "fileRecoveryPr",
    "webPublishObjects", "extLst",
)  # fmt: skip
FILTER_NAME = "_xlnm._FilterDatabase"
PRINT_TITLES = "_xlnm.Print_Titles"
PRINT_AREA = "_xlnm.Print_Area"
_AREA_RE = re.compile(r"([^,]+!)(\$?[A-Za-z]{1,3}(?:\$?[0-9]+)?):\$?([A-Za-z]{1,3})(\$?[0-9]+)?")
WORKSHEET_REL = REL_NS + "/worksheet"
STYLES_REL = REL_NS + "/styles"
WORKSHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
STYLES_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"


def quote_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def abs_range(ref: str) -> str:

    box = parse_range(ref)
    if box is None:
        return ref
    c1, r1, c2, r2 = box
    return f"${col_letters(c1)}${r1}:${col_letters(c2)}${r2}"


class WorkbookEdits:
    """Edits of the package-level parts, collected as {member name: new bytes}."""

    def __init__(self, package: Package) -> None:
        self.package = package
        self.workbook = package.workbook
        self._rels_part = rels_name(package.workbook_part)
        self._rels: Any = None
        self._types: Any = None
        self.changed: set[str] = set()
        self.added: dict[str, bytes] = {}

    def rels(self) -> Any:
        if self._rels is None:
            self._rels = parse_xml(self.package.read(self._rels_part))
        return self._rels

    def types(self) -> Any:
        if self._types is None:
            self._types = parse_xml(self.package.read("[Content_Types].xml"))
        return self._types

    def filter_name(self, sheet_index: int, sheet_name: str, ref: str) -> None:
        names = find_child(self.workbook, "definedNames")
        if names is None:
            names = insert_ordered(self.workbook, "definedNames", WORKBOOK_ORDER)
        text = f"{quote_sheet(sheet_name)}!{abs_range(ref)}"
        for el in names:
            if el.get("name") == FILTER_NAME and el.get("localSheetId") == str(sheet_index):
                el.text = text
                break
        else:
            el = etree.SubElement(names, f"{{{MAIN_NS}}}definedName")
            el.attrib.update({"name": FILTER_NAME, "localSheetId": str(sheet_index), "hidden": "1"})
            el.text = text
        self.changed.add(self.package.workbook_part)

    def print_titles(self, sheet_index: int, sheet_name: str, header_row: int) -> None:
        """Repeat rows 1 to ``header_row`` on every printed page, unless the sheet says otherwise."""
        names = find_child(self.workbook, "definedNames")
        if names is None:
            names = insert_ordered(self.workbook, "definedNames", WORKBOOK_ORDER)
        for el in names:
            if el.get("name") == PRINT_TITLES and el.get("localSheetId") == str(sheet_index):
                return
        el = etree.SubElement(names, f"{{{MAIN_NS}}}definedName")
        el.attrib.update({"name": PRINT_TITLES, "localSheetId": str(sheet_index)})
        el.text = f"{quote_sheet(sheet_name)}!$1:${header_row}"
        self.changed.add(self.package.workbook_part)

    def widen_print_area(self, sheet_index: int, last_col: int) -> None:
        """A print area the sheet has (one range) widened over the result columns up to ``last_col``
        (0-based): a list printed as it was set up, with its results."""
        names = find_child(self.workbook, "definedNames")
        for el in names if names is not None else ():
            if el.get("name") != PRINT_AREA or el.get("localSheetId") != str(sheet_index) or not el.text:
                continue
            match = _AREA_RE.fullmatch(el.text.strip())
            if match is None:
                return  # several ranges, or a formula: left as the sheet's author made it
            if col_index(match.group(3)) < last_col:  # $A$1:$C$32, or whole columns $A:$C
                row = match.group(4) or ""
                end = f"${col_letters(last_col)}" + (("$" + row.lstrip("$")) if row else "")
                el.text = f"{match.group(1)}{match.group(2)}:{end}"
                self.changed.add(self.package.workbook_part)
            return

    def add_sheet(self, name: str, data: bytes) -> str:
        """A new last worksheet (not active); returns its part name."""
        folder = posixpath.dirname(self.package.workbook_part)
        n = 1
        while (
            part := posixpath.join(folder, f"worksheets/sheet{n}.xml")
        ) in self.package.names or part in self.added:
            n += 1
        self.added[part] = data
        rid = add_relationship(self.rels(), WORKSHEET_REL, posixpath.relpath(part, folder))
        sheets = find_child(self.workbook, "sheets")
        ids = [int(el.get("sheetId", "0")) for el in sheets if local(el.tag) == "sheet"]
        el = etree.SubElement(sheets, f"{{{MAIN_NS}}}sheet")
        el.attrib.update({"name": name, "sheetId": str(max(ids, default=0) + 1), f"{{{REL_NS}}}id": rid})
        add_override(self.types(), part, WORKSHEET_CT)
        self.changed.update((self.package.workbook_part, self._rels_part, "[Content_Types].xml"))
        return part

    def rename_sheet(self, old: str, new: str) -> None:
        """The sheet called ``old`` is called ``new`` from now on (a summary in another language)."""
        if old == new:
            return
        sheets = find_child(self.workbook, "sheets")
        for el in sheets if sheets is not None else ():
            if local(el.tag) == "sheet" and el.get("name") == old:
                el.set("name", new)
                self.changed.add(self.package.workbook_part)

    def add_styles(self, data: bytes) -> None:
        folder = posixpath.dirname(self.package.workbook_part)
        part = posixpath.join(folder, "styles.xml")
        self.added[part] = data
        add_relationship(self.rels(), STYLES_REL, posixpath.relpath(part, folder))
        add_override(self.types(), part, STYLES_CT)
        self.changed.update((self._rels_part, "[Content_Types].xml"))

    def member(self, name: str) -> bytes | None:
        """The new bytes of an edited package part (None: not edited)."""
        if name not in self.changed:
            return None
        if name == self.package.workbook_part:
            return serialize(self.workbook)
        if name == self._rels_part:
            return serialize(self.rels())
        return serialize(self.types())
