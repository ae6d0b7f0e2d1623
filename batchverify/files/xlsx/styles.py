"""xl/styles.xml edits: the few cell formats and differential formats the results need, appended with
the counts kept right; everything else in the part stays as it was."""

from __future__ import annotations

import copy
from typing import Any

from lxml import etree

from batchverify.files.xlsx.package import MAIN_NS, find_child, insert_ordered, local, parse_xml, serialize

__all__ = ["MINIMAL_STYLES", "Styles"]

_ORDER = (
    "numFmts",
    "fonts",
    "fills",
    "borders",
    "cellStyleXfs",
    "cellXfs",
    "cellStyles",
    "dxfs",
    "tableStyles",
    "colors",
    "extLst",
)
_EMPHASIS = ("b", "i", "strike", "u")
TEXT_FORMAT = 49  # the built-in "@"
BOOL_FORMAT = '"TRUE";"TRUE";"FALSE"'

MINIMAL_STYLES = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{MAIN_NS}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" '
    'defaultPivotStyle="PivotStyleLight16"/></styleSheet>'
).encode()


def _q(name: str) -> str:
    return f"{{{MAIN_NS}}}{name}"


class Styles:
    """The stylesheet, edited in memory; `changed` says whether it must be written back."""

    def __init__(self, data: bytes | None) -> None:
        self.created = data is None
        self.root = parse_xml(data if data is not None else MINIMAL_STYLES)
        self.changed = self.created
        self._cache: dict[object, int] = {}

    def data(self) -> bytes:
        return serialize(self.root)

    def _section(self, name: str) -> Any:
        found = find_child(self.root, name)
        if found is None:
            found = insert_ordered(self.root, name, _ORDER, count="0")
        return found

    def _append(self, section: Any, name: str, attrib: dict[str, str] | None = None) -> tuple[int, Any]:
        existing = sum(1 for el in section if local(el.tag) == name)
        element = etree.SubElement(section, _q(name), attrib or {})
        section.set("count", str(existing + 1))
        self.changed = True
        return existing, element

    def xf(self, num_fmt: int = 0, font: int = 0, centered: bool = False) -> int:
        """The index in cellXfs of a plain cell format with this number format, font and alignment."""
        key = ("xf", num_fmt, font, centered)
        if key in self._cache:
            return self._cache[key]
        wanted = {"numFmtId": str(num_fmt), "fontId": str(font), "fillId": "0", "borderId": "0", "xfId": "0"}
        if num_fmt:
            wanted["applyNumberFormat"] = "1"
        if font:
            wanted["applyFont"] = "1"
        if centered:
            wanted["applyAlignment"] = "1"
        section = self._section("cellXfs")
        xfs = [el for el in section if local(el.tag) == "xf"]
        index = next((i for i, el in enumerate(xfs) if _same_xf(el, wanted, centered)), -1)
        if index < 0:
            if not xfs:  # cellXfs must start with the default format
                self._append(section, "xf", {"numFmtId": "0", "fontId": "0", "fillId": "0", "borderId": "0"})
            index, element = self._append(section, "xf", wanted)
            if centered:
                etree.SubElement(element, _q("alignment"), horizontal="center")
        self._cache[key] = index
        return index

    def look_xf(self, num_fmt: int, centered: bool) -> int | None:
        """The format of a result cell (None: the default, no `s` attribute)."""
        return self.xf(num_fmt, 0, centered) if num_fmt or centered else None

    def bool_format(self) -> int:
        return self.num_fmt(BOOL_FORMAT)

    def text_xf(self) -> int:
        return self.xf(TEXT_FORMAT)

    def num_fmt(self, code: str) -> int:
        section = find_child(self.root, "numFmts")
        ids = [164]
        if section is not None:
            for el in section:
                if el.get("formatCode") == code:
                    return int(el.get("numFmtId", "0"))
                ids.append(int(el.get("numFmtId", "0")) + 1)
        section = self._section("numFmts")
        new_id = max(ids)
        self._append(section, "numFmt", {"numFmtId": str(new_id), "formatCode": code})
        return new_id

    def date_xf(self, label: str) -> int:
        return self.format_xf(f'yyyy-mm-dd hh:mm:ss "{label}"')

    def format_xf(self, code: str) -> int:
        key = ("format", code)
        if key not in self._cache:
            self._cache[key] = self.xf(self.num_fmt(code))
        return self._cache[key]

    def bold_font(self) -> int:
        key = ("bold",)
        if key in self._cache:
            return self._cache[key]
        fonts = self._section("fonts")
        members = [el for el in fonts if local(el.tag) == "font"]
        base = [
            etree.tostring(el) for el in (members[0] if members else ()) if local(el.tag) not in _EMPHASIS
        ]
        index = next(
            (
                i
                for i, el in enumerate(members)
                if [local(c.tag) for c in el[:1]] == ["b"] and [etree.tostring(c) for c in el[1:]] == base
            ),
            -1,
        )
        if index < 0:
            index, bold = self._append(fonts, "font")
            for el in members[0] if members else ():
                if local(el.tag) not in _EMPHASIS:
                    bold.append(copy.deepcopy(el))
            bold.insert(0, etree.SubElement(bold, _q("b")))
        self._cache[key] = index
        return index

    def bold_xf(self) -> int:
        return self.xf(0, self.bold_font())

    def header_xf(self) -> int:
        """A header cell of a new result sheet: bold on a light fill, as a list's header looks."""
        key = ("header",)
        if key not in self._cache:
            fill, element = self._append(self._section("fills"), "fill")
            pattern = etree.SubElement(element, _q("patternFill"), patternType="solid")
            etree.SubElement(pattern, _q("fgColor"), rgb=HEADER_FILL)
            etree.SubElement(pattern, _q("bgColor"), indexed="64")
            attrib = {"numFmtId": "0", "fontId": str(self.bold_font()), "fillId": str(fill), "borderId": "0"}
            attrib.update({"xfId": "0", "applyFont": "1", "applyFill": "1"})
            self._cache[key], _ = self._append(self._section("cellXfs"), "xf", attrib)
        return self._cache[key]

    def dxf(self, fill_argb: str, font_argb: str) -> int:
        """A differential format (conditional formatting look): font colour and solid fill."""
        section = self._section("dxfs")
        for i, el in enumerate(el for el in section if local(el.tag) == "dxf"):
            if _dxf_colours(el) == (font_argb.upper(), fill_argb.upper()):
                return i
        index, dxf = self._append(section, "dxf")
        font = etree.SubElement(dxf, _q("font"))
        etree.SubElement(font, _q("color"), rgb=font_argb)
        fill = etree.SubElement(etree.SubElement(dxf, _q("fill")), _q("patternFill"))
        etree.SubElement(fill, _q("bgColor"), rgb=fill_argb)
        return index


def _same_xf(el: Any, wanted: dict[str, str], centered: bool) -> bool:
    if dict(el.attrib) != wanted:
        return False
    if not centered:
        return len(el) == 0
    return len(el) == 1 and local(el[0].tag) == "alignment" and dict(el[0].attrib) == {"horizontal": "center"}


HEADER_FILL = "FFDCE6F1"


def _dxf_colours(dxf: Any) -> tuple[str, str] | None:
    """(font rgb, fill bgColor rgb) of a dxf that sets only those two; None for any other dxf."""
    parts = [local(el.tag) for el in dxf]
    if parts != ["font", "fill"]:
        return None
    font, fill = dxf[0], dxf[1]
    if len(font) != 1 or local(font[0].tag) != "color" or len(fill) != 1 or len(fill[0]) != 1:
        return None
    bg = fill[0][0]
    if local(bg.tag) != "bgColor" or fill[0].get("patternType") not in (None, "solid"):
        return None
    return font[0].get("rgb", "").upper(), bg.get("rgb", "").upper()
