"""The <sheetData> body as a stream of bytes: rows found with compiled regexes over a bounded buffer,
original cells copied byte for byte, the result cells merged in column order.

Only the cells of the phone column are decoded (to hand their text to ``annotate``); a row is held
only until its batch of phone texts has been annotated.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from batchverify.files.layout import Annotate, CellValue
from batchverify.files.tables import cell_text
from batchverify.files.xlsx.cells import ResultCells, col_letters, inline_cell
from batchverify.files.xlsx.model import ResultColumn, StreamUnsupported
from batchverify.files.xlsx.package import unescape_ooxml
from batchverify.files.xlsx.rowbytes import (
    AFTER_NAME as _AFTER_NAME,
)
from batchverify.files.xlsx.rowbytes import (
    CELL_R_RE as _CELL_R_RE,
)
from batchverify.files.xlsx.rowbytes import (
    ROW_R_RE as _ROW_R_RE,
)
from batchverify.files.xlsx.rowbytes import (
    T_ATTR_RE as _T_ATTR_RE,
)
from batchverify.files.xlsx.rowbytes import (
    Cell as _Cell,
)
from batchverify.files.xlsx.rowbytes import (
    bump as _bump,
)
from batchverify.files.xlsx.rowbytes import (
    col_of as _col_of,
)
from batchverify.files.xlsx.rowbytes import (
    drop_spans as _drop_spans,
)
from batchverify.files.xlsx.rowbytes import (
    style_of as _style_of,
)
from batchverify.files.xlsx.rowbytes import (
    unescape as _unescape,
)
from batchverify.files.xlsx.rowbytes import (
    with_ref as _with_ref,
)

__all__ = ["RowPlan", "RowStream"]

_MAX_LEFTOVER = 64 << 20  # one row bigger than this is not a row we can follow
_FLUSH_BYTES = 1 << 20


class Strings(Protocol):
    """The shared strings by index (``package.StringTable``, or a list)."""

    def __getitem__(self, index: int, /) -> str: ...


@dataclass
class RowPlan:
    prefix: str
    header_row: int  # 1-based; 0 = insert a header row above row 1 and move every row down
    positions: list[int]
    names: list[str]
    looks: list[ResultColumn]
    phone_col: int
    batch_size: int
    skip_rows: frozenset[int] = frozenset()  # source rows written as they are (a table's totals row)


@dataclass
class _Pending:
    head: bytes  # the row's start tag (already rewritten)
    content: bytes
    cells: list[_Cell] | None  # None: a row written as it is
    row: int = 0  # output row number
    index: int = -1  # position of its phone text among all data rows; -1 for blank rows
    values: list[CellValue] | None = None
    done: bool = False


@dataclass
class _State:
    phones: list[str] = field(default_factory=list)
    base: int = 0  # data-row index of phones[0]
    total: int = 0  # confirmed data rows
    unconfirmed: int = 0  # blank rows after the last row with a value
    prev_row: int = 0  # last source row number seen


class RowStream:
    """Rewrites the rows of one sheet; feed it the body of <sheetData> in blocks."""

    def __init__(
        self,
        plan: RowPlan,
        annotate: Annotate,
        cells: ResultCells,
        strings: Callable[[], Strings],
        write: Callable[[bytes], object],
    ) -> None:
        self.plan = plan
        self.annotate = annotate
        self.cells = cells
        self._strings = strings
        self._loaded: Strings | None = None
        self._write = write
        self._out: list[bytes] = []
        self._out_size = 0
        self._state = _State()
        self._waiting: deque[_Pending] = deque()
        self._positions = set(plan.positions)
        self.header_done = False
        self.last_row = max(plan.header_row, 1)  # last row with a value (output numbering)
        self.header_style: int | None = None
        self._p = plan.prefix.encode()
        self._end = b"</" + self._p + b"row>"
        p = re.escape(self._p)
        self._row_re = re.compile(
            rb"\s*(?:<!--.*?-->\s*)*<" + p + rb"row\b([^>]*?)(/>|>(.*?)</" + p + rb"row\s*>)", re.S
        )
        self._tail_re = re.compile(rb"\s*(?:<!--.*?-->\s*)*", re.S)
        self._cell_re = re.compile(rb"<" + p + rb"c\b([^>]*?)(?:/>|>(.*?)</" + p + rb"c\s*>)", re.S)
        self._value_re = re.compile(rb"<" + p + rb"(?:v|t)(?:\s[^>]*)?>[^<]")
        self._v_re = re.compile(rb"<" + p + rb"v(?:\s[^>]*)?>([^<]*)</", re.S)
        self._t_re = re.compile(rb"<" + p + rb"t(?:\s[^>]*)?>([^<]*)</", re.S)
        self._rph_re = re.compile(rb"<" + p + rb"rPh\b.*?</" + p + rb"rPh\s*>", re.S)
        self._cell_r_re = re.compile(rb"(<" + p + rb"c\b[^>]*?\sr=[\"'])([A-Za-z]{1,3})([0-9]+)")
        self._shift = plan.header_row == 0
        self._limit = 2 * max(1, plan.batch_size) + 1000
        self._cell_open = {c: b"<" + self._p + b'c r="' + col_letters(c).encode() for c in plan.positions}
        self._c_tag = b"<" + self._p + b"c"
        self._first_new = min(plan.positions, default=1 << 30)
        self._phone_ref = b' r="' + col_letters(plan.phone_col).encode()

    # -- reading ---------------------------------------------------------------------------------

    def run(self, blocks: Iterable[bytes]) -> int:
        """Process the whole body; returns the number of data rows (blank ones included)."""
        leftover = b""
        for block in blocks:
            buf = leftover + block if leftover else block
            pos = 0
            match = self._row_re.match
            while True:
                m = match(buf, pos)
                if m is None:
                    break
                self._row(m.group(1), m.group(3) if m.group(2) != b"/>" else None)
                pos = m.end()
            leftover = buf[pos:]
            if len(leftover) > _MAX_LEFTOVER:
                raise StreamUnsupported("a row of the sheet could not be followed")
        rest = self._tail_re.match(leftover)
        if rest is None or rest.end() != len(leftover):
            raise StreamUnsupported("unexpected content in sheetData")
        if not self.header_done:
            self._emit_header(b"", b"", None, [])
        self._run_batches(final=True)
        self._drain()
        self._flush()
        return self._state.total

    def _row(self, attrs: bytes, content: bytes | None) -> None:
        state = self._state
        m = _ROW_R_RE.search(attrs)
        number = int(m.group(1)) if m else state.prev_row + 1
        before = state.prev_row
        if number <= before:
            raise StreamUnsupported(f"row {number} is out of order")
        state.prev_row = number
        header = self.plan.header_row
        if number < header:
            self._emit(
                b"<" + self._p + b"row" + attrs + (b"/>" if content is None else b">" + content) + self._end
            )
            return
        if number == header:
            self._emit_header(attrs, content or b"", m, self._parse_cells(content or b"", number))
            return
        if not self.header_done:
            self._emit_header(b"", b"", None, [])
        state.unconfirmed += number - max(before, header) - 1
        out_number = number + 1 if self._shift else number
        if m is not None and self._shift:
            attrs = attrs[: m.start(1)] + str(out_number).encode() + attrs[m.end(1) :]
        if content is None or not self._value_re.search(content) or number in self.plan.skip_rows:
            if content is not None and self._shift:
                content = self._cell_r_re.sub(_bump, content)
            raw = b"<" + self._p + b"row" + attrs + (b"/>" if content is None else b">" + content + self._end)
            state.unconfirmed += 1
            if self._waiting:
                self._waiting.append(_Pending(raw, b"", None))
                if len(self._waiting) > self._limit:
                    self._run_batches(final=True)
            else:
                self._emit(raw)
            return
        fast = None if self._shift else self._fast_phone(content, number)
        if fast is not None:
            # Every cell lies left of the new columns: the row is copied whole, ours appended.
            cells: list[_Cell] = []
            phone = fast
        else:
            cells = self._parse_cells(content, out_number)
            phone = next((self._cell_text(c) for c in cells if c[0] == self.plan.phone_col), "")
        state.unconfirmed = 0  # blank rows are neither annotated nor counted (no status to show)
        entry = _Pending(_drop_spans(attrs), content, cells, row=out_number, index=state.total)
        state.phones.append(phone)
        state.total += 1
        self.last_row = out_number
        self._waiting.append(entry)
        if len(state.phones) >= self.plan.batch_size:
            self._run_batches(final=False)

    def _fast_phone(self, content: bytes, number: int) -> str | None:
        """The phone text of a row whose last cell (with an explicit r) lies left of every new
        column, found without parsing each cell; None when the row needs the full parse."""
        tag = self._c_tag
        last = content.rfind(tag)
        if last < 0 or content[last + len(tag) : last + len(tag) + 1] not in _AFTER_NAME:
            return None
        r = _CELL_R_RE.search(content, last, content.find(b">", last))
        if r is None or _col_of(r.group(1)) >= self._first_new:
            return None
        at = content.find(self._phone_ref + str(number).encode() + b'"')
        if at < 0:
            return None
        cell = self._cell_re.match(content, content.rfind(tag, 0, at))
        if cell is None or cell.end() <= at:
            return None
        return self._cell_text(
            (self.plan.phone_col, cell.start(), cell.end(), cell.group(1), cell.group(2), True)
        )

    def _parse_cells(self, content: bytes, row: int) -> list[_Cell]:
        cells = []
        col = -1
        search = _CELL_R_RE.search
        for m in self._cell_re.finditer(content):
            attrs, body = m.group(1, 2)
            r = search(attrs)
            col = _col_of(r.group(1)) if r else col + 1
            cells.append((col, m.start(), m.end(), attrs, body, r is not None))
        return cells

    def _cell_text(self, cell: _Cell) -> str:
        body = cell[4]
        if not body:
            return ""
        t = _T_ATTR_RE.search(cell[3])
        kind = t.group(1) if t else b"n"
        if kind == b"inlineStr":
            if b"rPh" in body:
                body = self._rph_re.sub(b"", body)
            return unescape_ooxml(_unescape(b"".join(self._t_re.findall(body))))
        v = self._v_re.search(body)
        if v is None:
            return ""
        text = _unescape(v.group(1))
        if kind == b"s":
            if self._loaded is None:
                self._loaded = self._strings()
            try:
                return self._loaded[int(text)]
            except (ValueError, IndexError):
                return ""
        if kind in (b"str", b"e"):
            return unescape_ooxml(text)
        if kind == b"b":
            return "TRUE" if text.strip() in ("1", "true") else "FALSE"
        if kind == b"n":
            try:
                return cell_text(float(text))
            except ValueError:
                return ""
        return ""

    # -- writing ---------------------------------------------------------------------------------

    def _emit_header(
        self, attrs: bytes, content: bytes, m: re.Match[bytes] | None, cells: list[_Cell]
    ) -> None:
        self.header_done = True
        number = max(self.plan.header_row, 1)
        by_col = {c[0]: c for c in cells}
        style = _style_of(by_col.get(self.plan.phone_col))
        if style is None:
            for cell in reversed(cells):
                style = _style_of(cell)
                if style is not None and cell[0] not in self._positions:
                    break
            else:
                style = next((s for s in map(_style_of, reversed(cells)) if s is not None), None)
        self.header_style = style
        prefix = self.plan.prefix
        new = [
            (col, inline_cell(prefix, f"{col_letters(col)}{number}", name, style).encode())
            for col, name in zip(self.plan.positions, self.plan.names, strict=True)
        ]
        if not attrs:
            attrs = f' r="{number}"'.encode()
        self._emit(self._merged(_drop_spans(attrs), content, cells, new, number))

    def _merged(
        self, head: bytes, content: bytes, cells: list[_Cell], new: list[tuple[int, bytes]], row: int
    ) -> bytes:
        new.sort()
        positions = self._positions
        p = self._p
        out = [b"<", p, b"row", head, b">"]
        first = cells[0][1] if cells else len(content)
        last = cells[-1][2] if cells else len(content)
        out.append(content[:first])
        i = 0
        shift = self._shift
        for col, start, end, _, _, explicit in cells:
            if col in positions:
                continue
            while i < len(new) and new[i][0] < col:
                out.append(new[i][1])
                i += 1
            raw = content[start:end]
            if shift or not explicit:
                raw = _with_ref(raw, len(p) + 2, f"{col_letters(col)}{row}".encode(), explicit)
            out.append(raw)
        out.extend(cell for _, cell in new[i:])
        out.append(content[last:])
        out.append(self._end)
        return b"".join(out)

    def _write_entry(self, entry: _Pending) -> None:
        if entry.cells is None:
            self._emit(entry.head)
            return
        values = entry.values or []
        number = str(entry.row).encode()
        new = []
        tail = self.cells.tail
        opening = self._cell_open
        for col, value, look in zip(self.plan.positions, values, self.plan.looks, strict=True):
            rest = tail(value, look)
            if rest is not None:
                new.append((col, opening[col] + number + b'"' + rest))
        self._emit(self._merged(entry.head, entry.content, entry.cells, new, entry.row))

    def _run_batches(self, final: bool) -> None:
        state = self._state
        size = max(1, self.plan.batch_size)
        while len(state.phones) >= size or (final and state.phones):
            chunk = state.phones[:size]
            results = self.annotate(chunk)
            if len(results) != len(chunk):
                raise ValueError(f"annotate returned {len(results)} rows for {len(chunk)} records")
            end = state.base + len(chunk)
            for entry in self._waiting:
                if entry.cells is not None and state.base <= entry.index < end:
                    values = results[entry.index - state.base]
                    if len(values) != len(self.plan.names):
                        raise ValueError(
                            f"annotate returned {len(values)} values for {len(self.plan.names)} columns"
                        )
                    entry.values = values
                    entry.done = True
            del state.phones[:size]
            state.base = end
        self._drain()

    def _drain(self) -> None:
        waiting = self._waiting
        while waiting and (waiting[0].cells is None or waiting[0].done):
            self._write_entry(waiting.popleft())

    def _emit(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)
        if self._out_size >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._out:
            self._write(b"".join(self._out))
            self._out.clear()
            self._out_size = 0
