"""What calamine does not say about a worksheet, read from its XML: the rows that are a table's
totals row (``=SUBTOTAL(...)`` under a list: not a customer), and the cells holding a formula with
no saved value (a workbook written by a script and never opened in Excel reads as empty there)."""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path

from lxml import etree

from batchverify.files.xlsx.cells import split_ref
from batchverify.files.xlsx.model import StreamUnsupported
from batchverify.files.xlsx.package import MAIN_NS, Package, parse_xml
from batchverify.files.xlsx.tablexml import totals_of

__all__ = ["formulas_without_values", "totals_rows"]

_C = f"{{{MAIN_NS}}}c"
_F = f"{{{MAIN_NS}}}f"
_V = f"{{{MAIN_NS}}}v"
_IS = f"{{{MAIN_NS}}}is"
_ROW = f"{{{MAIN_NS}}}row"


def _sheet_part(package: Package, sheet_name: str) -> str | None:
    for name, part, _ in package.sheets():
        if name == sheet_name and part in package.names:
            return part
    return None


def totals_rows(path: Path, sheet_name: str) -> dict[int, list[range]]:
    """The 1-based rows of ``sheet_name`` that are the totals row of one of its tables, each with
    the columns (0-based) of the tables whose totals row it is."""
    rows: dict[int, list[range]] = {}
    with (
        contextlib.suppress(
            zipfile.BadZipFile, OSError, KeyError, ValueError, StreamUnsupported, etree.Error
        ),
        zipfile.ZipFile(path) as archive,
    ):
        package = Package(archive)
        part = _sheet_part(package, sheet_name)
        if part is None:
            return {}
        for rel in package.rels(part):
            if rel.external or not rel.type.endswith("/table") or rel.target not in package.names:
                continue
            found, columns = totals_of(parse_xml(package.read(rel.target)))
            for row in found:
                rows.setdefault(row, []).append(columns)
    return rows


def formulas_without_values(
    path: Path, sheet_name: str, column: int, limit: int = 3
) -> tuple[int, list[str]]:
    """How many cells of ``column`` (0-based) hold a formula with no saved value, and the first
    ``limit`` of their references (``B5``)."""
    found = 0
    first: list[str] = []
    with (
        contextlib.suppress(
            zipfile.BadZipFile, OSError, KeyError, ValueError, StreamUnsupported, etree.Error
        ),
        zipfile.ZipFile(path) as archive,
    ):
        package = Package(archive)
        part = _sheet_part(package, sheet_name)
        if part is None:
            return 0, []
        with archive.open(part) as stream:
            for _, el in etree.iterparse(stream, events=("end",), tag=(_C, _ROW), huge_tree=True):
                if el.tag == _ROW:
                    el.clear(keep_tail=False)
                    continue
                ref = el.get("r", "")
                if el.find(_F) is not None and _empty(el) and ref and split_ref(ref)[0] == column:
                    found += 1
                    if len(first) < limit:
                        first.append(ref)
    return found, first


def _empty(cell: etree._Element) -> bool:
    """No saved value: ``<v>`` missing or empty, except Excel's saved empty text (``t="str"``)."""
    value = cell.find(_V)
    if value is not None and ((value.text or "") != "" or cell.get("t") == "str"):
        return False
    return cell.find(_IS) is None
