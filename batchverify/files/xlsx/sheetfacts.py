"""What calamine does not say about a worksheet, read from its XML: the rows that are a table's
totals row (``=SUBTOTAL(...)`` under a list: not a customer), and the cells holding a formula with
no saved value (a workbook written by a script and never opened in Excel reads as empty there)."""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
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


_UNREADABLE = (zipfile.BadZipFile, OSError, KeyError, ValueError, StreamUnsupported, etree.Error)


@contextlib.contextmanager
def _sheet(path: Path, sheet_name: str) -> Iterator[tuple[zipfile.ZipFile, Package, str] | None]:
    """The workbook's archive, package and the part of ``sheet_name``, or None when there is none."""
    with zipfile.ZipFile(path) as archive:
        package = Package(archive)
        for name, part, _ in package.sheets():
            if name == sheet_name and part in package.names:
                yield archive, package, part
                return
        yield None


def totals_rows(path: Path, sheet_name: str) -> dict[int, list[range]]:
    """The 1-based rows of ``sheet_name`` that are the totals row of one of its tables, each with
    the columns (0-based) of the tables whose totals row it is."""
    rows: dict[int, list[range]] = {}
    with contextlib.suppress(*_UNREADABLE), _sheet(path, sheet_name) as found:
        if found is None:
            return {}
        _, package, part = found
        for rel in package.rels(part):
            if rel.external or not rel.type.endswith("/table") or rel.target not in package.names:
                continue
            spans, columns = totals_of(parse_xml(package.read(rel.target)))
            for row in spans:
                rows.setdefault(row, []).append(columns)
    return rows


def formulas_without_values(
    path: Path, sheet_name: str, column: int, limit: int = 3
) -> tuple[int, list[str]]:
    """How many cells of ``column`` (0-based) hold a formula with no saved value, and the first
    ``limit`` of their references (``B5``)."""
    count = 0
    first: list[str] = []
    with contextlib.suppress(*_UNREADABLE), _sheet(path, sheet_name) as found:
        if found is None:
            return 0, []
        archive, _, part = found
        with archive.open(part) as stream:
            for _, el in etree.iterparse(stream, events=("end",), tag=(_C, _ROW), huge_tree=True):
                if el.tag == _ROW:
                    el.clear(keep_tail=False)
                    continue
                ref = el.get("r", "")
                if el.find(_F) is not None and _empty(el) and ref and split_ref(ref)[0] == column:
                    count += 1
                    if len(first) < limit:
                        first.append(ref)
    return count, first


def _empty(cell: etree._Element) -> bool:
    """No saved value: ``<v>`` missing or empty, except Excel's saved empty text (``t="str"``)."""
    value = cell.find(_V)
    if value is not None and ((value.text or "") != "" or cell.get("t") == "str"):
        return False
    return cell.find(_IS) is None
