"""The byte-level pieces of the row stream: attribute patterns, a cell's column, style and text, and
the edits of a row's or cell's start tag. Kept apart from ``rows`` (the stream's logic)."""

from __future__ import annotations

import functools
import html
import re

from batchverify.files.xlsx.cells import col_index

__all__ = [
    "AFTER_NAME",
    "ANY_R_RE",
    "CELL_R_RE",
    "ROW_R_RE",
    "SPANS_RE",
    "S_ATTR_RE",
    "T_ATTR_RE",
    "Cell",
    "bump",
    "col_of",
    "drop_spans",
    "style_of",
    "unescape",
    "with_ref",
]  # fmt: skip

# A cell found in a row: (column, start, end, attributes, body or None, has an r attribute); tuples
# because a dataclass per cell costs seconds on a large sheet.
Cell = tuple[int, int, int, bytes, bytes | None, bool]


AFTER_NAME = frozenset((b" ", b"\t", b"\r", b"\n", b">", b"/"))
ROW_R_RE = re.compile(rb"\sr\s*=\s*[\"']([0-9]+)[\"']")
CELL_R_RE = re.compile(rb"\sr\s*=\s*[\"']([A-Za-z]{1,3})[0-9]+[\"']")
T_ATTR_RE = re.compile(rb"\st\s*=\s*[\"'](\w+)[\"']")
S_ATTR_RE = re.compile(rb"\ss\s*=\s*[\"']([0-9]+)[\"']")
SPANS_RE = re.compile(rb"\sspans\s*=\s*(?:\"[^\"]*\"|'[^']*')")
ANY_R_RE = re.compile(rb"(\sr\s*=\s*[\"'])[^\"']*([\"'])")


@functools.lru_cache(maxsize=4096)
def col_of(letters: bytes) -> int:
    return col_index(letters.decode())


def style_of(cell: Cell | None) -> int | None:
    if cell is None:
        return None
    m = S_ATTR_RE.search(cell[3])
    return int(m.group(1)) if m and m.group(1) != b"0" else None


def drop_spans(attrs: bytes) -> bytes:
    # spans is only an optimisation hint; a stale one makes Excel repair the file.
    return SPANS_RE.sub(b"", attrs) if b"spans" in attrs else attrs


def with_ref(raw: bytes, name_end: int, ref: bytes, explicit: bool) -> bytes:
    """The cell's XML with its r attribute set to `ref` (added after the tag name if missing)."""
    if explicit:
        head_end = raw.index(b">")
        return ANY_R_RE.sub(lambda m: m.group(1) + ref + m.group(2), raw[:head_end], count=1) + raw[head_end:]
    return raw[:name_end] + b' r="' + ref + b'"' + raw[name_end:]


def bump(m: re.Match[bytes]) -> bytes:
    return m.group(1) + m.group(2) + str(int(m.group(3)) + 1).encode()


def unescape(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return html.unescape(text) if "&" in text else text
