"""The zip package: finding parts, relationships, shared strings, content types, raw member copies."""

from __future__ import annotations

import array
import posixpath
import re
import shutil
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from lxml import etree

from batchverify.files.xlsx.model import StreamUnsupported

__all__ = [
    "CT_NS",
    "MAIN_NS",
    "PKG_REL_NS",
    "REL_NS",
    "Package",
    "copy_member",
    "parse_xml",
    "serialize",
]

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
REL_TYPE = REL_NS  # relationship types share the namespace's prefix
WORKSHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
STYLES_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"

# Entities are never expanded and nothing is fetched: these are untrusted files.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def parse_xml(data: bytes) -> Any:
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise StreamUnsupported(f"unreadable XML ({exc})") from None


_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def serialize(root: Any) -> bytes:
    # The declaration Excel itself writes (lxml's uses single quotes).
    data: bytes = etree.tostring(root, encoding="UTF-8")
    if data.startswith(b"<?xml"):
        data = data[data.index(b"?>") + 2 :].lstrip()
    return _DECLARATION + data


def local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


@dataclass
class Rel:
    id: str
    type: str
    target: str  # the resolved part name ("xl/worksheets/sheet1.xml"); raw for external targets
    external: bool


def resolve(source_part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def rels_name(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


class Package:
    """The source workbook: its members, the workbook part and the sheets it names."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.zip = archive
        self.infos = archive.infolist()
        self.names = {i.filename: i for i in self.infos}
        root_rels = self.rels("")
        office = [r for r in root_rels if r.type.endswith("/officeDocument")]
        self.workbook_part = office[0].target if office else "xl/workbook.xml"
        if self.workbook_part not in self.names:
            raise StreamUnsupported("no workbook part in the package")
        self.workbook = parse_xml(archive.read(self.workbook_part))
        ns = etree.QName(self.workbook).namespace
        if ns == STRICT_NS:
            raise StreamUnsupported("strict OOXML workbooks are not streamed")
        if ns != MAIN_NS:
            raise StreamUnsupported(f"unknown workbook namespace {ns}")
        self.workbook_rels = self.rels(self.workbook_part)

    def read(self, part: str) -> bytes:
        return self.zip.read(part)

    def rels(self, part: str) -> list[Rel]:
        name = rels_name(part) if part else "_rels/.rels"
        if name not in self.names:
            return []
        root = parse_xml(self.zip.read(name))
        found = []
        for el in root:
            if local(el.tag) != "Relationship":
                continue
            external = el.get("TargetMode") == "External"
            target = el.get("Target", "")
            found.append(
                Rel(
                    el.get("Id", ""),
                    el.get("Type", ""),
                    target if external else resolve(part, target),
                    external,
                )
            )
        return found

    def rel_part(self, suffix: str) -> str | None:
        """The workbook's related part of the type ending with `suffix` ("/styles")."""
        for rel in self.workbook_rels:
            if rel.type.endswith(suffix) and not rel.external:
                return rel.target
        return None

    def sheets(self) -> list[tuple[str, str, Any]]:
        """(name, part, <sheet> element) of every sheet in workbook order (part "" if unresolved)."""
        by_id = {r.id: r.target for r in self.workbook_rels}
        out = []
        for el in self.workbook.iter(f"{{{MAIN_NS}}}sheet"):
            out.append((el.get("name", ""), by_id.get(el.get(f"{{{REL_NS}}}id", ""), ""), el))
        return out

    def date1904(self) -> bool:
        for el in self.workbook.iter(f"{{{MAIN_NS}}}workbookPr"):
            return el.get("date1904", "0").lower() in ("1", "true")
        return False

    def shared_strings(self) -> StringTable:
        part = self.rel_part("/sharedStrings")
        table = StringTable()
        if part is not None and part in self.names:
            for text in _iter_shared_strings(self.zip.open(part)):
                table.append(text)
        return table


class StringTable:
    """The shared strings, packed: one UTF-8 buffer and an offset per string. A list of str would
    cost ~70 bytes per string (a sheet at the row limit can hold millions), this about 8 plus the text."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array.array("Q")

    def append(self, text: str) -> None:
        self._data += text.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._data))

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < len(self._ends):
            raise IndexError(index)
        start = self._ends[index - 1] if index else 0
        return self._data[start : self._ends[index]].decode("utf-8", "surrogatepass")


_XESC_RE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape_ooxml(text: str) -> str:
    """Excel's _xHHHH_ escapes (how it stores control characters) back to characters."""
    return _XESC_RE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _iter_shared_strings(stream: IO[bytes]) -> Iterator[str]:
    si, t, rph = f"{{{MAIN_NS}}}si", f"{{{MAIN_NS}}}t", f"{{{MAIN_NS}}}rPh"
    with stream:
        for _, el in etree.iterparse(stream, events=("end",), tag=si, resolve_entities=False, huge_tree=True):
            parts = [
                node.text or ""
                for node in el.iter(t)
                if node.getparent() is not None and node.getparent().tag != rph
            ]
            yield unescape_ooxml("".join(parts))
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]


def copy_member(
    src: zipfile.ZipFile, info: zipfile.ZipInfo, dst: zipfile.ZipFile, name: str | None = None
) -> None:
    """Copy one member without decompressing it (falls back to recompressing)."""
    if hasattr(dst, "_writecheck") and hasattr(dst, "_lock"):
        _copy_raw(src, info, dst, name or info.filename)
    else:  # pragma: no cover - zipfile internals changed
        target = zipfile.ZipInfo(name or info.filename, info.date_time)
        target.compress_type = info.compress_type
        target.external_attr = info.external_attr
        with src.open(info) as r, dst.open(target, "w", force_zip64=info.file_size > 1 << 30) as w:
            shutil.copyfileobj(r, w, 1 << 20)


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


def _copy_raw(src: zipfile.ZipFile, info: zipfile.ZipInfo, dst: zipfile.ZipFile, name: str) -> None:
    if info.flag_bits & 0x1:
        raise StreamUnsupported(f"{info.filename} is encrypted")
    fp = src.fp
    out = dst.fp
    if fp is None or out is None:
        raise ValueError("closed zip file")
    fp.seek(info.header_offset)
    header = fp.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise StreamUnsupported(f"{info.filename}: bad local header")
    fields = _LOCAL_HEADER.unpack(header)
    fp.seek(fields[10] + fields[11], 1)  # skip name and extra field
    target = zipfile.ZipInfo(name, info.date_time)
    target.compress_type = info.compress_type
    target.external_attr = info.external_attr
    target.create_system = info.create_system
    target.CRC = info.CRC
    target.compress_size = info.compress_size
    target.file_size = info.file_size
    # Sizes go in the local header, so no data descriptor; keep only the UTF-8 name flag.
    target.flag_bits = info.flag_bits & 0x800
    # Mirrors ZipFile.mkdir: the one path in zipfile that writes a header without compressing.
    with dst._lock:  # type: ignore[attr-defined]
        out.seek(dst.start_dir)
        target.header_offset = out.tell()
        dst._writecheck(target)  # type: ignore[attr-defined]
        dst._didModify = True  # type: ignore[attr-defined]
        dst.filelist.append(target)
        dst.NameToInfo[target.filename] = target
        out.write(target.FileHeader(None))
        remaining = info.compress_size
        while remaining:
            block = fp.read(min(remaining, 1 << 20))
            if not block:
                raise StreamUnsupported(f"{info.filename}: truncated member")
            out.write(block)
            remaining -= len(block)
        dst.start_dir = out.tell()


def add_override(content_types: Any, part: str, content_type: str) -> None:
    name = "/" + part
    for el in content_types:
        if local(el.tag) == "Override" and el.get("PartName", "").lower() == name.lower():
            el.set("ContentType", content_type)
            return
    etree.SubElement(content_types, f"{{{CT_NS}}}Override", PartName=name, ContentType=content_type)


def add_relationship(rels_root: Any, rel_type: str, target: str) -> str:
    """Append a relationship with an unused rId; returns the id."""
    used = {el.get("Id") for el in rels_root}
    n = len(used) + 1
    while f"rId{n}" in used:
        n += 1
    etree.SubElement(rels_root, f"{{{PKG_REL_NS}}}Relationship", Id=f"rId{n}", Type=rel_type, Target=target)
    return f"rId{n}"


def insert_ordered(parent: Any, name: str, order: tuple[str, ...], **attrib: str) -> Any:
    """A new child `name` where the schema's child order puts it (Excel repairs files that break it).

    Made with SubElement so it shares the parent's namespace prefixes (no stray ns0: declarations)."""
    ns = etree.QName(parent).namespace
    child = etree.SubElement(parent, f"{{{ns}}}{name}" if ns else name, attrib)
    rank = order.index(name)
    for i, el in enumerate(parent):
        other = local(el.tag)
        if other in order and order.index(other) > rank:
            parent.insert(i, child)
            break
    return child


def find_child(parent: Any, name: str) -> Any:
    for el in parent:
        if local(el.tag) == name:
            return el
    return None
