"""Tables (xl/tables/*.xml) of the annotated sheet: the one whose header row is ours and which ends just
before the new columns grows over them; every other table is left alone."""

from __future__ import annotations

from typing import Any

from lxml import etree

from batchverify.files.xlsx.package import MAIN_NS, REL_NS, Package, find_child, local, parse_xml, serialize
from batchverify.files.xlsx.sheetxml import fmt_range, parse_range

__all__ = ["SheetTables", "totals_of"]


def totals_of(table_root: Any) -> tuple[range, range]:
    """A table's totals row(s): the sheet rows (1-based) and the columns they span (0-based);
    empty ranges when it has none."""
    box = parse_range(table_root.get("ref", ""))
    try:
        count = int(table_root.get("totalsRowCount", "0") or "0")
    except ValueError:
        count = 0
    if box is None or not 0 < count <= box[3] - box[1]:
        return range(0), range(0)
    return range(box[3] - count + 1, box[3] + 1), range(box[0], box[2] + 1)


class SheetTables:
    def __init__(self, package: Package, sheet_part: str, sheet_root: Any) -> None:
        by_id = {r.id: r.target for r in package.rels(sheet_part) if not r.external}
        self.parts: dict[str, Any] = {}
        for el in sheet_root.iter(f"{{{MAIN_NS}}}tablePart"):
            part = by_id.get(el.get(f"{{{REL_NS}}}id", ""))
            if part and part in package.names:
                self.parts[part] = parse_xml(package.read(part))
        self.edited: dict[str, bytes] = {}

    def totals_rows(self, phone_col: int) -> frozenset[int]:
        """The rows that are the totals row of a table holding the phone column: written back as
        they are, never annotated (a small table beside the list leaves the list's rows alone)."""
        found: set[int] = set()
        for root in self.parts.values():
            rows, columns = totals_of(root)
            if phone_col in columns:
                found.update(rows)
        return frozenset(found)

    def starts_on(self, row: int) -> bool:
        for root in self.parts.values():
            box = parse_range(root.get("ref", ""))
            if box is not None and box[1] == row:
                return True
        return False

    def widen(self, header_row: int, first_new: int, last_col: int, names: dict[int, str]) -> None:
        """Grow the table whose header is `header_row` and last column `first_new - 1`."""
        for part, root in self.parts.items():
            box = parse_range(root.get("ref", ""))
            if box is None or box[1] != header_row or box[2] != first_new - 1 or last_col < first_new:
                continue
            if root.get("headerRowCount", "1") == "0":
                continue
            c1, r1, _, r2 = box
            root.set("ref", fmt_range(c1, r1, last_col, r2))
            autofilter = find_child(root, "autoFilter")
            if autofilter is not None:
                inner = parse_range(autofilter.get("ref", ""))
                if inner is not None:
                    autofilter.set("ref", fmt_range(inner[0], inner[1], last_col, inner[3]))
            columns = find_child(root, "tableColumns")
            if columns is None:
                continue
            existing = [el for el in columns if local(el.tag) == "tableColumn"]
            next_id = max((int(el.get("id", "0")) for el in existing), default=0) + 1
            taken = {el.get("name", "").casefold() for el in existing}
            for col in range(first_new, last_col + 1):
                name = names.get(col) or f"Column{col + 1}"
                base, n = name, 2
                while name.casefold() in taken:
                    name, n = f"{base}{n}", n + 1
                taken.add(name.casefold())
                etree.SubElement(columns, f"{{{MAIN_NS}}}tableColumn", id=str(next_id), name=name)
                next_id += 1
            columns.set("count", str(len(existing) + last_col - first_new + 1))
            self.edited[part] = serialize(root)
